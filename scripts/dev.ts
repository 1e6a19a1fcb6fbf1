/**
 * `npm run dev [-- --port N]` (or `PORT=N npm run dev`): `wrangler dev src/dev.ts` on port N
 * (8787 by default), with what a developer needs around it:
 *
 * - `.dev.vars` written on first run with WeChat's sample account (scripts/local-vars.ts), and
 *   a word when it lacks a setting;
 * - a refusal while the port is taken: wrangler would move to another, and the fake WeChat API's
 *   traffic (the AppSecret, tokens, customer-service messages) would go to whatever holds it;
 * - the fake WeChat API's base (`WECHAT_API_BASE` in `.dev.vars`, when it is this machine's)
 *   and the fake model's (`AI_BASE_URL`) pointed at the port, so that a dev server on 8790
 *   talks to its own fakes;
 * - `--local`: remote bindings off, so that a Workers AI binding added to wrangler.toml (which
 *   has no local simulation) needs no Cloudflare login here: the assistant uses the fake model
 *   (`-- --remote` to use Cloudflare's, logged in);
 * - the debugging console's link printed after wrangler's "Ready on", with the port wrangler
 *   bound. The admin token rides in the link's fragment, which the browser never sends to a
 *   server, so the console opens unlocked on this machine and nowhere else;
 * - the console's and the simulator's polling (a few requests a second while they watch a user)
 *   left out of the log, so that the log shows the pushes. Failed polls still show.
 *
 * Every other argument goes to `wrangler dev` as given.
 */

import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { devVarsOf, readDevVars } from './dev-vars.ts'
import { LOCAL_DEV_VARS } from './local-vars.ts'

const DEFAULT_PORT = 8787

/** The port asked for: `--port N` or `--port=N`, else `PORT`, else 8787. */
function portOf(args: readonly string[]): number {
  let asked: string | undefined = process.env.PORT
  for (const [index, arg] of args.entries()) {
    if (arg === '--port') asked = args[index + 1]
    else if (arg.startsWith('--port=')) asked = arg.slice('--port='.length)
  }
  if (asked === undefined || asked === '') return DEFAULT_PORT
  const port = Number(asked)
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`dev: the port must be a whole number from 1 to 65535, not ${asked}`)
    process.exit(2)
  }
  return port
}

/** Whether something on this machine already listens on the port (IPv4 or IPv6 loopback). */
function taken(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'))
    probe.listen(port, host, () => probe.close(() => resolve(false)))
  })
}

/** A fake's base (`/debug/wechat-api/`, `/debug/fake-model/`) moved to the port, when it is this machine's. */
function fakeApiBaseOn(
  base: string | undefined,
  port: number,
  path = '/debug/wechat-api/',
): string | null {
  if (base === undefined) return null
  try {
    const url = new URL(base)
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
    if (!local || !url.pathname.startsWith(path)) return null
    url.port = String(port)
    return url.href
  } catch {
    return null
  }
}

/**
 * Wrangler's line for a request of the console's polling (src/debug/console.html: the user's
 * state, their customer-service messages) or the simulator's (scripts/simulate.ts), and of the
 * fake's records both are read from, answered 200. Colours are removed before matching.
 */
const POLLING =
  /^\[wrangler:info\] GET \/debug\/(?:api\/(?:users|sent|typing)\/\S+|wechat-api\/fake\/(?:sent|typing)\S*) 200 /

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
const COLOURS = /\u001b\[[0-9;]*m/g

const args = process.argv.slice(2)
const port = portOf(args)

for (const host of ['127.0.0.1', '::1']) {
  if (await taken(port, host)) {
    const other = port + 1
    console.error(
      `Port ${port} is in use on this machine (${host}). Stop what holds it, or choose another ` +
        `port: npm run dev -- --port ${other} (or PORT=${other} npm run dev).`,
    )
    process.exit(1)
  }
}

if (!existsSync('.dev.vars')) {
  writeFileSync('.dev.vars', LOCAL_DEV_VARS)
  console.log(
    'Made .dev.vars with WeChat’s sample account (scripts/local-vars.ts): local use only.',
  )
}
const vars = readDevVars()
// A .dev.vars made before a setting was added lacks it: say so rather than fail mysteriously.
const missing = Object.keys(devVarsOf(LOCAL_DEV_VARS)).filter((name) => !(name in vars))
if (missing.length > 0) {
  console.log(`.dev.vars lacks ${missing.join(', ')}: copy them from scripts/local-vars.ts.`)
}

const fakeApiBase = fakeApiBaseOn(vars.WECHAT_API_BASE, port)
const fakeModelBase = fakeApiBaseOn(vars.AI_BASE_URL, port, '/debug/fake-model/')
const wranglerArgs = [
  'wrangler',
  'dev',
  'src/dev.ts',
  ...(args.some((arg) => arg === '--port' || arg.startsWith('--port='))
    ? []
    : ['--port', String(port)]),
  ...(args.some((arg) => arg === '--remote' || arg === '-r' || arg === '--local')
    ? []
    : ['--local']),
  ...(fakeApiBase ? ['--var', `WECHAT_API_BASE:${fakeApiBase}`] : []),
  ...(fakeModelBase ? ['--var', `AI_BASE_URL:${fakeModelBase}`] : []),
  ...args,
]
// Wrangler's output passes through here; it keeps its colours when this is a terminal.
const colour = process.stdout.isTTY ? { FORCE_COLOR: '1' } : {}
const wrangler = spawn('npx', wranglerArgs, {
  stdio: ['inherit', 'pipe', 'pipe'],
  env: { ...process.env, ...colour },
})

let linked = false
/** Each whole line, as wrangler wrote it; the link after its "Ready on". */
function relay(line: string, out: NodeJS.WriteStream): void {
  const plain = line.replace(COLOURS, '')
  if (POLLING.test(plain)) return
  out.write(`${line}\n`)
  const ready = /Ready on (https?:\/\/\S+)/.exec(plain)
  const token = vars.ADMIN_TOKEN
  if (ready?.[1] && !linked && vars.DEBUG_CONSOLE === 'true' && token) {
    linked = true
    const bound = new URL(ready[1]).port || String(port)
    console.log(
      `\nDebugging console: http://localhost:${bound}/debug#token=${encodeURIComponent(token)}\n`,
    )
  }
}

for (const [stream, out] of [
  [wrangler.stdout, process.stdout],
  [wrangler.stderr, process.stderr],
] as const) {
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) relay(line, out)
  })
  stream.on('end', () => pending && relay(pending, out))
}

// Ctrl-C reaches wrangler too (it is in the terminal's process group): wait for it to stop.
process.on('SIGINT', () => {})
process.on('SIGTERM', () => wrangler.kill('SIGTERM'))
// 'close', not 'exit': wrangler's last lines are relayed first.
wrangler.on('close', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
