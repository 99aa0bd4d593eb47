import {type ChildProcess, spawn} from 'node:child_process'
import {chromium, type Page} from 'playwright-core'

/** One dashboard case: the page's time, and the floor it is compared with, in the same browser and run. */
export interface DashboardRow {
  id: string
  title: string
  ms: number
  floorMs: number
  ratio: number
}

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** `ml ui` on `dir`, until the URL it prints. */
async function startUi(bin: string, dir: string, env: NodeJS.ProcessEnv): Promise<{url: string; token: string; child: ChildProcess}> {
  const child = spawn(process.execPath, [bin, 'ui', '--no-open', '--port', '0'], {cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = /^http\S+/m.exec(out)
      if (line) resolve(line[0])
    })
    child.once('exit', (code) => reject(new Error(`ml ui exited with ${code}: ${out}`)))
  })
  return {url, token: new URL(url).searchParams.get('token')!, child}
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/** ms from the navigation's start until `selector` is in the page. */
async function timeTo(page: Page, url: string, selector: string): Promise<number> {
  await page.goto(url)
  await page.waitForSelector(selector, {timeout: 120_000})
  return page.evaluate(() => performance.now())
}

/**
 * ms for the browser to fetch `paths` (at once) from the same server and parse their JSON: what
 * no page can beat. Fetched from a page without the app (its stylesheet), so nothing else runs.
 */
async function fetchTime(page: Page, url: string, token: string, paths: string[]): Promise<number> {
  await page.goto(url.replace('/?', '/app.css?'))
  return page.evaluate(async ({token, paths}) => {
    const t = performance.now()
    await Promise.all(paths.map((p) => fetch(p, {headers: {'X-ML-Token': token}}).then((r) => r.json())))
    return performance.now() - t
  }, {token, paths})
}

/**
 * The dashboard's cases (issue 16), in headless Chromium: the runs page of a 10,000-run project
 * until its first rows show, and the chart of 5 runs of 20,000 points each until it has drawn,
 * each against the page's own fetch of the same JSON.
 */
export async function dashboardCases(options: {bin: string; env: NodeJS.ProcessEnv; manyRuns: string; chartRuns: string; reps: number}): Promise<DashboardRow[]> {
  const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS})
  const rows: DashboardRow[] = []
  try {
    const cases = [
      {id: '12', title: 'runs page, 10,000 runs: first rows shown', dir: options.manyRuns, selector: '[data-testid=run-row]', paths: () => ['/api/runs']},
      {id: '12a', title: 'chart, 5 runs x 20,000 points: drawn', dir: options.chartRuns, selector: '[data-testid=metric-chart][data-drawn=true]', paths: (ids: string[]) => ['/api/runs', ...ids.map((id) => `/api/runs/${id}/metrics`)]},
    ]
    for (const c of cases) {
      const ui = await startUi(options.bin, c.dir, options.env)
      try {
        const page = await (await browser.newContext({viewport: {width: 1280, height: 800}})).newPage()
        await timeTo(page, ui.url, c.selector) // warm-up: the server's caches, the browser's compile
        const ids = await page.evaluate(async (token) => (await (await fetch('/api/runs', {headers: {'X-ML-Token': token}})).json() as Array<{runId: string}>).slice(0, 5).map((r) => r.runId), ui.token)
        const times: number[] = []
        const floors: number[] = []
        for (let i = 0; i < options.reps; i++) {
          times.push(await timeTo(page, ui.url, c.selector))
          floors.push(await fetchTime(page, ui.url, ui.token, c.paths(ids)))
        }
        const ms = median(times)
        const floorMs = median(floors)
        rows.push({id: c.id, title: c.title, ms, floorMs, ratio: ms / floorMs})
      } finally {
        ui.child.kill('SIGTERM')
      }
    }
  } finally {
    await browser.close()
  }
  return rows
}
