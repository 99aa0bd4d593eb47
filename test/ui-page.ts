import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import type {Browser, BrowserContext, Page} from 'playwright-core'
import path from 'node:path'
import {BIN, ml, ok, tempDir, within} from './helpers.js'

/**
 * `ml ui` as a user starts it (a process of bin/run.js), and the headless Chromium the
 * dashboard's browser tests drive: the helpers both UI suites share.
 */

export interface UiProcess {
  /** The URL printed on stdout, token included. */
  url: string
  /** http://127.0.0.1:PORT, without the token. */
  base: string
  token: string
  port: number
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** SIGTERM, then the exit code; fails when the server has not stopped 5 s later (it is then killed). */
  stop(): Promise<number | null>
}

const running = new Set<UiProcess>()

/**
 * Starts `ml ui --no-open` in `cwd` (`--port 0` unless `args` give a port) and waits for the URL
 * it prints; fails with its stderr when it exits first or prints none within 20 s.
 */
export async function startUi(cwd: string, args: string[] = []): Promise<UiProcess> {
  const child = spawn(process.execPath, [BIN, 'ui', '--no-open', ...args.includes('--port') ? [] : ['--port', '0'], ...args], {cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  const ui: UiProcess = {
    url: '',
    base: '',
    token: '',
    port: 0,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: async () => {
      running.delete(ui)
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill('SIGTERM')
      try {
        return await within(5000, exited)
      } catch {
        child.kill('SIGKILL')
        await exited
        throw new Error(`ml ui (pid ${child.pid}) did not stop within 5 s of SIGTERM; it was killed`)
      }
    },
  }
  running.add(ui)
  const url = await within(20_000, new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      const line = /^http\S+$/m.exec(stdout)
      if (line) resolve(line[0])
    })
    void exited.then((code) => reject(new Error(`ml ui exited with ${code} before printing its URL:\n${stdout}\n${stderr}`)))
  })).catch(async (error: Error) => {
    await ui.stop().catch(() => {})
    throw new Error(`${error.message}\nstderr of ml ui: ${stderr}`)
  })
  const parsed = new URL(url)
  Object.assign(ui, {url, base: parsed.origin, token: parsed.searchParams.get('token') ?? '', port: Number(parsed.port)})
  return ui
}

/** Stops every server startUi started (for after.each); fails when one did not stop on SIGTERM. */
export async function stopAllUi(): Promise<void> {
  const results = await Promise.allSettled([...running].map((ui) => ui.stop()))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}

/** The page's hooks: `[data-testid="name"]`, with more selector text after it. */
export const tid = (name: string, more = '') => `[data-testid="${name}"]${more}`

export const CHROMIUM = '/usr/bin/chromium'

/** Debian's Chromium, headless, through playwright-core; a missing one fails in words. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`The dashboard's browser tests need Debian's Chromium at ${CHROMIUM}; install it with \`apt-get install chromium\` (bin/setup.sh does).`)
  const {chromium} = await import('playwright-core')
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

export interface Dashboard {
  context: BrowserContext
  page: Page
  /** Errors the page threw or logged, to show when a test fails. */
  errors: string[]
}

/** A new context and page on `ml ui`'s URL (plus `hash`), once the runs list has loaded (body[data-ready="runs"]). */
export async function openDashboard(browser: Browser, ui: UiProcess, options: {hash?: string; viewport?: {width: number; height: number}} = {}): Promise<Dashboard> {
  const context = await browser.newContext({viewport: options.viewport ?? {width: 1280, height: 800}})
  context.setDefaultTimeout(10_000)
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`))
  page.on('console', (m) => m.type() === 'error' && errors.push(`console error: ${m.text()}`))
  await page.goto(ui.url + (options.hash ?? ''))
  if (!options.hash) await ready(page, errors)
  return {context, page, errors}
}

/** Waits until the runs list has loaded: `document.body.dataset.ready === 'runs'`. */
export async function ready(page: Page, errors: string[] = []): Promise<void> {
  try {
    await page.waitForFunction(() => document.body.dataset.ready === 'runs', undefined, {timeout: 10_000})
  } catch (error) {
    throw new Error(`The dashboard did not set body[data-ready="runs"] within 10 s (${(error as Error).message.split('\n')[0]}); ${await shown(page)}${errors.length ? `\n${errors.join('\n')}` : ''}`)
  }
}

/** What the page shows, for a failure's message: its app-error if any, else the start of its text. */
export async function shown(page: Page): Promise<string> {
  const error = await page.locator(tid('app-error')).allTextContents().catch(() => [])
  if (error.length) return `app-error: ${error.join(' | ')}`
  const text = await page.evaluate(() => document.body.innerText).catch(() => '')
  return `the page shows: ${JSON.stringify(text.slice(0, 400))}`
}

/** The run ids of the table's rows, top to bottom. */
export function rowIds(page: Page): Promise<string[]> {
  return page.locator(tid('run-row')).evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.runId ?? ''))
}

/** Waits (10 s at most) until `check` of the table's row ids holds; fails showing the last ids. */
export async function waitForRows(page: Page, check: (ids: string[]) => boolean, what: string, ms = 10_000): Promise<string[]> {
  const end = Date.now() + ms
  let ids = await rowIds(page)
  while (!check(ids)) {
    if (Date.now() > end) throw new Error(`The runs table never showed ${what} within ${ms} ms; its rows: ${JSON.stringify(ids)}`)
    await page.waitForTimeout(100)
    ids = await rowIds(page)
  }
  return ids
}

/** Ticks the run-select checkbox of each run's row. */
export async function selectRuns(page: Page, ids: string[]): Promise<void> {
  for (const id of ids) await page.locator(`${tid('run-row', `[data-run-id="${id}"]`)} ${tid('run-select')}`).check()
}

export interface ChartState {
  metric: string
  series: number
  points: number[]
  drawn: boolean
}

/** The metric chart's data-* hooks (the first chart when `metric` is not given). */
export async function chartState(page: Page, metric?: string): Promise<ChartState> {
  const chart = page.locator(tid('metric-chart', metric ? `[data-metric="${metric}"]` : '')).first()
  const data = await chart.evaluate((c) => ({...(c as HTMLElement).dataset}))
  return {
    metric: data.metric ?? '',
    series: Number(data.series),
    points: (data.points ?? '').split(',').filter((p) => p !== '').map(Number),
    drawn: data.drawn === 'true',
  }
}

/** Polls `read` until `check` holds (`ms` at most); fails showing the last value read. */
export async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const value = await read().catch((error: Error) => error)
    if (!(value instanceof Error) && check(value)) return value
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms; last seen: ${value instanceof Error ? value.message.split('\n')[0] : JSON.stringify(value)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export type Json = any

/** A project made from the iris template (its train.py logs metrics per epoch). */
export async function iris(): Promise<string> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '--template', 'iris', '-q']))
  return path.join(root, 'p')
}

/** An empty project. */
export async function blank(): Promise<string> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  return path.join(root, 'p')
}

/** What the CLI prints with `-o json`, parsed. */
export async function cli(dir: string, args: string[]): Promise<Json> {
  return JSON.parse(ok(await ml(dir, [...args, '-o', 'json'])).stdout)
}
