import {execFileSync} from 'node:child_process'
import {promises as fs, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, folderState, ml, mlSpawn, ok, shadowGit, shadowRefs, tempDir, timedSuite, within, write} from '../helpers.js'
import {blank, cli, iris, type Json, startUi, stopAllUi, type UiProcess} from '../ui-page.js'

/**
 * `ml ui`'s server and JSON API, through node's fetch against the real server (a process of
 * bin/run.js): every answer is the object the CLI prints with -o json, and the token, the Host
 * header and the path gate keep out what they must.
 */
const test = timedSuite('ui-api', 120_000)
const closers: Array<() => void | Promise<void>> = []
test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await stopAllUi()
  await cleanup()
})



/** The ids of the project's runs, newest first (as `history list` orders them). */
async function runIds(dir: string): Promise<string[]> {
  return (await cli(dir, ['history', 'list'])).map((r: {runId: string}) => r.runId)
}

/** A GET (or `init`) of `pathAndQuery` with the token in the query. */
function get(ui: UiProcess, pathAndQuery: string, init: RequestInit = {}): Promise<Response> {
  const url = new URL(pathAndQuery, ui.base)
  url.searchParams.set('token', ui.token)
  return fetch(url, init)
}

async function json(ui: UiProcess, pathAndQuery: string): Promise<Json> {
  const res = await get(ui, pathAndQuery)
  const body = await res.text()
  assert.is(res.status, 200, `${pathAndQuery}: ${body}`)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
  return JSON.parse(body)
}

/** An error answer: its status and `{error: {code}}`. */
async function refused(res: Response): Promise<{status: number; code: string; body: string}> {
  const body = await res.text()
  let code = ''
  try {
    code = JSON.parse(body).error.code
  } catch {}
  return {status: res.status, code, body}
}

interface Raw {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** A request with node:http: any Host header, and the path sent exactly as written (no URL normalising). */
function raw(ui: UiProcess, requestPath: string, options: {method?: string; headers?: Record<string, string>; host?: string} = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: options.host ?? '127.0.0.1', port: ui.port, path: requestPath, method: options.method ?? 'GET', headers: options.headers}, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body}))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A blob of the shadow repo as bytes (shadowGit trims its output). */
function blob(dir: string, spec: string): Buffer {
  return execFileSync('git', ['cat-file', 'blob', spec], {cwd: dir, env: {...process.env, GIT_DIR: path.join(dir, '.ml', 'history.git')}})
}

/** Whether a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

test('every endpoint answers with the object the CLI prints with -o json (info, metrics and diff wrap or widen it: see each line)', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20', '--lr', '0.1']))
  await fs.appendFile(path.join(dir, 'train.py'), '# changed for run B\n')
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '10', '--lr', '0.3']))
  const [b, a] = await runIds(dir)
  const ui = await startUi(dir)

  const list = await cli(dir, ['history', 'list'])
  assert.is(list.length, 2)
  assert.equal(await json(ui, '/api/runs'), list)

  for (const id of [a, b]) {
    // history info -o json prints the run record; the API gives it as `run`, with the environment's summary
    // and the run's lineage (the runs it read outputs of, and those that read its own) beside it.
    const info = await json(ui, `/api/runs/${id}`)
    assert.equal(info.run, await cli(dir, ['history', 'info', id]))
    assert.equal(Object.keys(info).sort(), ['environment', 'lineage', 'run'])
    assert.equal(info.lineage, {parents: [], children: []}, 'neither run read the other')
    assert.type(info.environment, 'string')
    // history metrics -o json prints the points; the API gives them as `points`, with the run's id.
    const metrics = await json(ui, `/api/runs/${id}/metrics`)
    const points = await cli(dir, ['history', 'metrics', id])
    assert.equal(metrics, {runId: id, points})
    assert.is(points.filter((p: {name: string}) => p.name === 'loss').length, 10, 'train.py logs the loss 10 times')
  }
  // A unique prefix names a run, as on the CLI.
  assert.equal((await json(ui, `/api/runs/${a.slice(0, -2)}`)).run.runId, a)

  assert.equal(await json(ui, `/api/compare?runs=${a},${b}`), await cli(dir, ['history', 'compare', a, b]))

  // history diff -o json names the runs by id; the API gives their whole records as a and b, and the rest as the CLI does.
  const diff = await json(ui, `/api/diff?a=${a}&b=${b}`)
  const printed = await cli(dir, ['history', 'diff', a, b])
  assert.equal(diff.a, await cli(dir, ['history', 'info', a]))
  assert.equal(diff.b, await cli(dir, ['history', 'info', b]))
  assert.equal({...diff, a: diff.a.runId, b: diff.b.runId}, printed)
  assert.equal(printed.files.map((f: {path: string}) => f.path), ['train.py'])
  assert.match(diff.patch, /\+# changed for run B/)
})

test('the log from byte N with X-ML-Log-Size and X-ML-Run-Status, live while the run runs', async () => {
  const dir = await blank()
  const flag = path.join(tempDir('ml-flag-'), 'go')
  await write(dir, {'slow.sh': 'echo first line\nwhile [ ! -e "$1" ]; do sleep 0.1; done\necho second line\n'})
  const ui = await startUi(dir)
  const submit = mlSpawn(dir, ['experiment', 'submit', 'slow.sh', flag])
  closers.push(() => void submit.kill('SIGKILL'))
  const done = new Promise((r) => submit.once('close', r))
  let out = ''
  await within(20_000, new Promise<void>((resolve) => submit.stdout.on('data', (d: Buffer) => (out += d.toString()).includes('first line') && resolve())))
  const [id] = await runIds(dir)

  const live = await get(ui, `/api/runs/${id}/log?offset=0`)
  const liveText = await live.text()
  assert.is(live.status, 200)
  assert.is(live.headers.get('x-ml-run-status'), 'Running')
  assert.match(liveText, /first line\n/)
  assert.not.match(liveText, /second line/)
  const liveSize = Number(live.headers.get('x-ml-log-size'))
  assert.is(liveSize, Buffer.byteLength(liveText))

  writeFileSync(flag, '')
  await within(20_000, done)
  const full = Buffer.from(await (await get(ui, `/api/runs/${id}/log`)).arrayBuffer())
  assert.equal(full.toString(), ok(await ml(dir, ['history', 'log', id])).stdout, 'the whole log is what `ml history log` prints')
  const rest = await get(ui, `/api/runs/${id}/log?offset=${liveSize}`)
  assert.is(rest.headers.get('x-ml-run-status'), 'Completed')
  assert.is(Number(rest.headers.get('x-ml-log-size')), full.length)
  const restBytes = Buffer.from(await rest.arrayBuffer())
  assert.ok(restBytes.equals(full.subarray(liveSize)), 'from the offset on, and nothing before it')
  assert.match(restBytes.toString(), /second line/)
  assert.not.match(restBytes.toString(), /first line/)
  // At or past the end: nothing; an offset that is not a whole number is refused.
  assert.is(await (await get(ui, `/api/runs/${id}/log?offset=${full.length + 100}`)).text(), '')
  for (const offset of ['-1', 'abc', '1.5']) {
    const r = await refused(await get(ui, `/api/runs/${id}/log?offset=${offset}`))
    assert.equal([r.status, r.code], [400, 'INVALID_ARGUMENT'], `offset=${offset}: ${r.body}`)
  }
})

test('files lists the snapshot as git ls-tree does; a file is its bytes; an output comes as a download', async () => {
  const dir = await iris()
  const binary = Buffer.from([0, 1, 2, 255, 10, 0])
  writeFileSync(path.join(dir, 'weights.bin'), binary)
  await write(dir, {'sub/dir/notes.md': '# notes\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20', '--lr', '0.1']))
  const [id] = await runIds(dir)
  const {snapshotId} = await cli(dir, ['history', 'info', id])
  const ui = await startUi(dir)

  const listing = await json(ui, `/api/runs/${id}/files`)
  assert.is(listing.runId, id)
  assert.is(listing.snapshotId, snapshotId)
  const paths = listing.files.map((f: {path: string}) => f.path)
  assert.equal([...paths].sort(), shadowGit(dir, ['ls-tree', '-r', '--name-only', snapshotId]).split('\n').sort())
  assert.ok(paths.includes('sub/dir/notes.md') && paths.includes('train.py'))

  const script = await get(ui, `/api/runs/${id}/files/train.py`)
  assert.is(script.status, 200)
  assert.match(script.headers.get('content-type') ?? '', /^text\/plain/)
  assert.is(script.headers.get('content-disposition'), null)
  assert.ok(Buffer.from(await script.arrayBuffer()).equals(blob(dir, `${snapshotId}:train.py`)))
  assert.is(await (await get(ui, `/api/runs/${id}/files/sub/dir/notes.md`)).text(), '# notes\n')
  const bin = await get(ui, `/api/runs/${id}/files/weights.bin`)
  assert.is(bin.headers.get('content-type'), 'application/octet-stream')
  assert.ok(Buffer.from(await bin.arrayBuffer()).equals(binary))

  const output = await get(ui, `/api/runs/${id}/outputs/model.json`)
  assert.is(output.status, 200)
  assert.is(output.headers.get('content-disposition'), "attachment; filename*=UTF-8''model.json")
  const model = Buffer.from(await output.arrayBuffer())
  assert.ok(model.equals(readFileSync(path.join(dir, 'outputs', 'model.json'))), 'the bytes the run wrote')
  assert.is(JSON.parse(model.toString()).args.epochs, 20)

  const missing = await refused(await get(ui, `/api/runs/${id}/outputs/nope.json`))
  assert.equal([missing.status, missing.code], [404, 'RUN_NOT_FOUND'])
  const folder = await refused(await get(ui, `/api/runs/${id}/files/sub`))
  assert.equal([folder.status, folder.code], [404, 'RUN_NOT_FOUND'], 'a folder is not a file')
})

test('refused: no token, a wrong one, the token only in a cookie (or the query) on a POST, another Host', async () => {
  const dir = await blank()
  await write(dir, {'hello.sh': 'echo hello\n'})
  ok(await ml(dir, ['experiment', 'submit', 'hello.sh']))
  const [id] = await runIds(dir)
  const ui = await startUi(dir)
  const wrong = ui.token.slice(0, -1) + (ui.token.endsWith('0') ? '1' : '0')
  assert.is(wrong.length, ui.token.length)
  const forbidden = async (res: Response | Raw, what: string) => {
    const body = 'body' in res && typeof res.body === 'string' ? res.body : await (res as Response).text()
    assert.is(res.status, 403, `${what}: ${body}`)
    assert.is(JSON.parse(body).error.code, 'FORBIDDEN', what)
    assert.not.match(body, id, `${what} shows no run`)
  }

  await forbidden(await fetch(`${ui.base}/api/runs`), 'no token')
  await forbidden(await fetch(`${ui.base}/`), 'the page without a token')
  await forbidden(await fetch(`${ui.base}/api/runs?token=`), 'an empty token')
  await forbidden(await fetch(`${ui.base}/api/runs?token=${wrong}`), 'a wrong token of the same length')
  await forbidden(await fetch(`${ui.base}/api/runs?token=${ui.token}0`), 'the token with one more character')
  await forbidden(await fetch(`${ui.base}/api/runs`, {headers: {'X-ML-Token': wrong}}), 'a wrong token in the header')
  await forbidden(await fetch(`${ui.base}/api/runs`, {headers: {Cookie: `ml_token=${wrong}`}}), 'a wrong token in the cookie')

  // The right token: the page sets an HttpOnly, SameSite=Strict cookie, which a GET may then use alone.
  const page = await fetch(ui.url)
  assert.is(page.status, 200)
  assert.match(await page.text(), /<html/i)
  assert.is(page.headers.get('set-cookie'), `ml_token=${ui.token}; HttpOnly; SameSite=Strict; Path=/`)
  assert.is((await fetch(`${ui.base}/api/runs`, {headers: {Cookie: `ml_token=${ui.token}`}})).status, 200)
  assert.is((await fetch(`${ui.base}/api/runs`, {headers: {'X-ML-Token': ui.token}})).status, 200)

  // A POST that would restore: the cookie alone or the token in the query changes nothing.
  await write(dir, {'hello.sh': 'echo changed since the run\n', 'new.txt': 'mine\n'})
  const before = await folderState(dir)
  const refs = shadowRefs(dir)
  await forbidden(await fetch(`${ui.base}/api/runs/${id}/restore`, {method: 'POST', headers: {Cookie: `ml_token=${ui.token}`}}), 'a POST with the cookie only')
  await forbidden(await fetch(`${ui.base}/api/runs/${id}/restore?token=${ui.token}`, {method: 'POST'}), 'a POST with the token in the query only')
  await forbidden(await fetch(`${ui.base}/api/runs/${id}/restore`, {method: 'POST', headers: {'X-ML-Token': wrong}}), 'a POST with a wrong header')
  assert.equal(await folderState(dir), before, 'the folder is untouched')
  assert.is(shadowRefs(dir), refs, 'no backup was made')

  // DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends its own Host, refused even with the token.
  const evil = {Host: `evil.example:${ui.port}`}
  await forbidden(await raw(ui, `/api/runs?token=${ui.token}`, {headers: evil}), 'Host evil.example with the token')
  await forbidden(await raw(ui, '/api/runs', {headers: {...evil, 'X-ML-Token': ui.token}}), 'Host evil.example with the header')
  await forbidden(await raw(ui, `/api/runs/${id}/restore`, {method: 'POST', headers: {...evil, 'X-ML-Token': ui.token}}), 'Host evil.example on a POST')
  await forbidden(await raw(ui, `/api/runs?token=${ui.token}`, {headers: {Host: `127.0.0.1:${ui.port + 1}`}}), 'another port in the Host')
  assert.equal(await folderState(dir), before)
  for (const host of [`127.0.0.1:${ui.port}`, `localhost:${ui.port}`]) {
    const r = await raw(ui, `/api/runs?token=${ui.token}`, {headers: {Host: host}})
    assert.is(r.status, 200, `Host ${host}: ${r.body}`)
    assert.match(r.body, id)
  }
})

test('path escapes in files and outputs are UNSAFE_PATH or 404 and never the file; a symlink in the snapshot is not followed', async () => {
  const dir = await blank()
  symlinkSync('/etc/passwd', path.join(dir, 'leak'))
  await write(dir, {'s.sh': 'ln -s /etc/passwd outputs/leak.txt\necho ok > outputs/ok.txt\n'})
  ok(await ml(dir, ['experiment', 'submit', 's.sh']))
  const [id] = await runIds(dir)
  const ui = await startUi(dir)
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n')[0]
  const secrets = [passwd, readFileSync(path.join(dir, '.ml', 'project.json'), 'utf8').slice(0, 40), '[core]', 'repositoryformatversion']
  const notLeaked = (body: string, what: string) => {
    for (const secret of secrets) assert.not.ok(body.includes(secret), `${what} gave away ${JSON.stringify(secret)}: ${body}`)
  }

  // The snapshot holds the link as a link (as git does), and the API never reads through it.
  const files = await json(ui, `/api/runs/${id}/files`)
  assert.equal(files.files.find((f: {path: string}) => f.path === 'leak'), {path: 'leak', kind: 'link'})
  assert.is(shadowGit(dir, ['cat-file', '-p', `${files.snapshotId}:leak`]), '/etc/passwd')
  const link = await refused(await get(ui, `/api/runs/${id}/files/leak`))
  assert.equal([link.status, link.code], [404, 'RUN_NOT_FOUND'], link.body)
  notLeaked(link.body, 'the snapshot link')
  const outLink = await refused(await get(ui, `/api/runs/${id}/outputs/leak.txt`))
  assert.is(outLink.status, 404, outLink.body)
  notLeaked(outLink.body, 'the output link')

  for (const where of ['files', 'outputs']) {
    for (const escape of ['..%2F..%2Fetc%2Fpasswd', '..%2f..%2f..%2f..%2f..%2fetc%2fpasswd', '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd', '%2Fetc%2Fpasswd', '.git/config', '.git%2Fconfig', '.ml/project.json', '.ml%2Fproject.json', 'sub%2F..%2F..%2Fleak']) {
      const r = await refused(await get(ui, `/api/runs/${id}/${where}/${escape}`))
      assert.ok((r.status === 400 && r.code === 'UNSAFE_PATH') || r.status === 404, `${where}/${escape}: ${r.status} ${r.body}`)
      notLeaked(r.body, `${where}/${escape}`)
    }
    // Sent as is, without URL normalising on the way.
    for (const escape of ['../../../../../etc/passwd', '..%5C..%5Cetc%5Cpasswd', '/%2e%2e/%2e%2e/etc/passwd']) {
      const r = await raw(ui, `/api/runs/${id}/${where}/${escape}?token=${ui.token}`)
      assert.ok(r.status === 400 || r.status === 404, `${where}/${escape}: ${r.status} ${r.body}`)
      notLeaked(r.body, `${where}/${escape} sent raw`)
    }
  }
  // The control: an ordinary output is served.
  assert.is(await (await get(ui, `/api/runs/${id}/outputs/ok.txt`)).text(), 'ok\n')
})

test('an unknown run is 404 RUN_NOT_FOUND on every run endpoint; an unknown API path is 400', async () => {
  const dir = await blank()
  await write(dir, {'hello.sh': 'echo hello\n'})
  ok(await ml(dir, ['experiment', 'submit', 'hello.sh']))
  const [id] = await runIds(dir)
  const ui = await startUi(dir)
  for (const p of ['/api/runs/p_1_nope', '/api/runs/p_1_nope/metrics', '/api/runs/p_1_nope/log', '/api/runs/p_1_nope/files', '/api/runs/p_1_nope/files/hello.sh', '/api/runs/p_1_nope/outputs/x', '/api/runs/p_1_nope/restore', `/api/compare?runs=${id},p_1_nope`, `/api/diff?a=${id}&b=p_1_nope`]) {
    const r = await refused(await get(ui, p))
    assert.equal([r.status, r.code], [404, 'RUN_NOT_FOUND'], `${p}: ${r.body}`)
  }
  for (const [method, p] of [['GET', '/api/nope'], ['GET', `/api/runs/${id}/nope`], ['GET', `/api/runs/${id}/metrics/extra`], ['DELETE', '/api/runs'], ['POST', '/api/runs'], ['GET', '/api/compare?runs=' + id], ['GET', '/api/']]) {
    const r = await refused(await get(ui, p, {method, headers: {'X-ML-Token': ui.token}}))
    assert.equal([r.status, r.code], [400, 'INVALID_ARGUMENT'], `${method} ${p}: ${r.body}`)
  }
})

test('restore: GET previews and writes nothing; POST with the header restores the run\'s files; ml project restore --undo brings the folder back', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20', '--lr', '0.1']))
  const [id] = await runIds(dir)
  const {snapshotId} = await cli(dir, ['history', 'info', id])
  await fs.appendFile(path.join(dir, 'train.py'), '# edited after the run\n')
  await write(dir, {'new.txt': 'a file the run did not have\n'})
  await fs.rm(path.join(dir, 'iris.csv'))
  const edited = await folderState(dir)
  const refs = shadowRefs(dir)
  const ui = await startUi(dir)

  const preview = await json(ui, `/api/runs/${id}/restore`)
  assert.is(preview.label, `run ${id}`)
  const byPath = (changes: Array<{path: string; status: string}>) => [...changes].sort((x, y) => x.path.localeCompare(y.path))
  assert.equal(byPath(preview.changes), [{status: 'added', path: 'iris.csv'}, {status: 'deleted', path: 'new.txt'}, {status: 'modified', path: 'train.py'}])
  // The same list as the CLI's dry run.
  const dry = ok(await ml(dir, ['project', 'restore', id, '--dry-run'])).stdout
  assert.equal(dry.split('\n').filter((l) => /^(write|remove|change) {2}/.test(l)).map((l) => l.slice(8)).sort(), ['iris.csv', 'new.txt', 'train.py'])
  assert.equal(await folderState(dir), edited, 'the preview wrote nothing')
  assert.is(shadowRefs(dir), refs)

  const res = await fetch(`${ui.base}/api/runs/${id}/restore`, {method: 'POST', headers: {'X-ML-Token': ui.token}})
  const result = JSON.parse(await res.text())
  assert.is(res.status, 200, JSON.stringify(result))
  assert.equal(byPath(result.changes), byPath(preview.changes))
  assert.is(result.undo, 'ml project restore --undo')
  assert.ok(readFileSync(path.join(dir, 'train.py')).equals(blob(dir, `${snapshotId}:train.py`)), 'train.py is the run\'s')
  assert.ok(readFileSync(path.join(dir, 'iris.csv')).equals(blob(dir, `${snapshotId}:iris.csv`)))
  assert.not.ok((await folderState(dir))['new.txt'], 'new.txt is gone')

  ok(await ml(dir, ['project', 'restore', '--undo', '--yes']))
  assert.equal(await folderState(dir), edited, 'the CLI\'s --undo brings back the folder as it was')
})

test('/api/events: a run submitted from the CLI sends `event: runs` within 3 s; nothing is sent while nothing changes', async () => {
  const dir = await blank()
  await write(dir, {'hello.sh': 'echo hello\n'})
  const ui = await startUi(dir)
  const abort = new AbortController()
  const res = await get(ui, '/api/events', {signal: abort.signal})
  assert.is(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
  const events: Array<{at: number; name: string; data: string}> = []
  let text = ''
  const reading = (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk as Uint8Array, {stream: true})
      let end: number
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end)
        text = text.slice(end + 2)
        const name = /^event: (.*)$/m.exec(block)?.[1]
        if (name) events.push({at: Date.now(), name, data: /^data: (.*)$/m.exec(block)?.[1] ?? ''})
      }
    }
  })().catch(() => {})
  closers.push(async () => {
    abort.abort()
    await reading
  })
  await new Promise((r) => setTimeout(r, 2500))
  assert.equal(events, [], 'no event while the run list stays the same')

  const started = Date.now()
  ok(await ml(dir, ['experiment', 'submit', 'hello.sh']))
  const ended = Date.now()
  const event = await within(3000 + 200, (async () => {
    for (;;) {
      const e = events.find((x) => x.at >= started && x.name === 'runs')
      if (e) return e
      await new Promise((r) => setTimeout(r, 50))
    }
  })()).catch(() => undefined)
  assert.ok(event, `no event: runs within 3 s of the submit (it took ${ended - started} ms); events: ${JSON.stringify(events)}`)
  assert.ok(event!.at - ended <= 3000, `the event came ${event!.at - ended} ms after the submit ended`)
  assert.equal(JSON.parse(event!.data), {count: 1})
})

test('binds 127.0.0.1 by default (not another loopback address) and SIGTERM stops it', async () => {
  const dir = await blank()
  const ui = await startUi(dir)
  assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{48}$/)
  assert.match(ui.stderr(), /Dashboard of p: open this URL/)
  assert.ok(await connects('127.0.0.1', ui.port))
  assert.not.ok(await connects('127.0.0.2', ui.port), 'not listening beyond 127.0.0.1')
  assert.is((await get(ui, '/api/runs')).status, 200)
  assert.is(await ui.stop(), 143, 'ended by SIGTERM')
  assert.not.ok(await connects('127.0.0.1', ui.port), 'the port is closed')
})

test('a busy --port picks another and says so on stderr', async () => {
  const dir = await blank()
  const busy = net.createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  closers.push(() => new Promise<void>((resolve) => busy.close(() => resolve())))
  const port = (busy.address() as net.AddressInfo).port
  const ui = await startUi(dir, ['--port', String(port)])
  assert.match(ui.stderr(), new RegExp(`Port ${port} is busy; using ${ui.port}\\.`))
  assert.is.not(ui.port, port)
  assert.is((await get(ui, '/api/runs')).status, 200)
})

test('--host 0.0.0.0 warns on stderr, answers on other addresses (with the token), and prints a 127.0.0.1 URL', async () => {
  const dir = await blank()
  const ui = await startUi(dir, ['--host', '0.0.0.0'])
  assert.match(ui.stderr(), /Warning: ml ui listens on every address \(0\.0\.0\.0\)/)
  assert.match(ui.url, /^http:\/\/127\.0\.0\.1:/)
  const other = await raw(ui, `/api/runs?token=${ui.token}`, {host: '127.0.0.2'})
  assert.is(other.status, 200, other.body)
  assert.is((await raw(ui, '/api/runs', {host: '127.0.0.2'})).status, 403, 'the token is still needed')
})

test.run()
