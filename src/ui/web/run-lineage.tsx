import type {Lineage, RunInput} from './api.js'
import {formatBytes, plural} from './format.js'
import {href} from './router.js'

/**
 * What a run read (tracked data's versions, other runs' outputs) and the runs that read its
 * outputs; nothing at all when it has neither.
 */
export function RunLineage({inputs = [], lineage}: {inputs?: RunInput[]; lineage?: Lineage}) {
  const children = lineage?.children ?? []
  if (inputs.length === 0 && children.length === 0) return null
  return (
    <section class="card" data-testid="run-lineage">
      {inputs.length > 0 && (
        <>
          <h3>Inputs</h3>
          <table class="list inputs" data-testid="run-inputs">
            <tbody>
              {inputs.map((i) => i.kind === 'data'
                ? (
                  <tr key={`data:${i.path}`} data-testid="input-data" data-path={i.path} data-version={i.version} data-files={i.files} data-bytes={i.bytes}>
                    <td>data</td>
                    <td><code>{i.path}</code></td>
                    <td>version <a data-testid="input-version" href={href.data(i.path, i.version)} title={i.version}><code>{i.version.slice(0, 12)}</code></a></td>
                    <td class="num" data-testid="input-files">{plural(i.files, 'file')}</td>
                    <td class="num" data-testid="input-bytes">{formatBytes(i.bytes)}</td>
                  </tr>
                )
                : (
                  <tr key={`run:${i.name}`} data-testid="input-run" data-name={i.name} data-run={i.run} data-path={i.path}>
                    <td>run output</td>
                    <td><code>{i.name}</code></td>
                    <td><a data-testid="input-run-link" href={href.run(i.run)}>{i.run}</a>:<code>outputs/{i.path}</code></td>
                    <td class="num" />
                    <td class="num">{formatBytes(i.size)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </>
      )}
      {children.length > 0 && (
        <>
          <h3>Used by</h3>
          <ul class="outputs" data-testid="run-used-by">
            {children.map((c) => (
              <li key={`${c.run}:${c.name}`} data-testid="used-by-item" data-run={c.run} data-name={c.name} data-path={c.path}>
                <a data-testid="used-by-link" href={href.run(c.run)}>{c.run}</a>
                <span class="muted"> read <code>outputs/{c.path}</code> as {c.name}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  )
}
