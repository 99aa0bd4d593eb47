#!/usr/bin/env node
// The CLI is bundled by `npm run build` (bin/bundle.js); its entry is src/cli/run.ts.
import '../dist/bundle/run.js'
