/**
 * Wrangler as `npm run setup` and `npm run deploy` use it: captured when we read Cloudflare's
 * state, given the terminal when it may need to ask. A read that fails is an error, never
 * "nothing there": setup generates a secret only when the Worker provably lacks it.
 */

import { spawn, spawnSync } from 'node:child_process'
import { ask } from './ask.ts'

/** `--help` or `-h`: prints the usage and exits 0, before anything is asked of Cloudflare. */
export function exitOnHelp(argv: readonly string[], usage: string): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return
  console.log(usage)
  process.exit(0)
}

/** `--env NAME` (or `--env=NAME`) from the command line: a Wrangler environment, as in wrangler.toml. */
export function environmentArg(argv: readonly string[]): string | null {
  for (const [index, arg] of argv.entries()) {
    if (arg === '--env') return argv[index + 1] ?? null
    if (arg.startsWith('--env=')) return arg.slice('--env='.length)
  }
  return null
}

/** `--account ID` (or `--account=ID`): one of the accounts of WECHAT_ACCOUNTS. */
export function accountArg(argv: readonly string[]): string | null {
  for (const [index, arg] of argv.entries()) {
    if (arg === '--account') return argv[index + 1] ?? null
    if (arg.startsWith('--account=')) return arg.slice('--account='.length)
  }
  return null
}

/** The `--env` arguments for wrangler, or none for the top-level (production) Worker. */
export function envFlags(environment: string | null): string[] {
  return environment ? ['--env', environment] : []
}

export class DeployError extends Error {
  override readonly name = 'DeployError'
}

interface Captured {
  readonly status: number
  readonly output: string
}

/** Runs wrangler with its output captured; `input`, when given, is its standard input. */
function captured(args: readonly string[], input?: string): Captured {
  const run = spawnSync('npx', ['wrangler', ...args], {
    encoding: 'utf8',
    input: input ?? '',
    env: process.env,
  })
  return { status: run.status ?? 1, output: `${run.stdout ?? ''}${run.stderr ?? ''}` }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
const COLOURS = /\u001b\[[0-9;]*m/g

/**
 * Wrangler's own words from its output: its error lines, without colours, the log-file line or
 * a stack trace (wrangler prints one when its own error handler fails too).
 */
function wranglerSays(output: string): string {
  const lines = output
    .replace(COLOURS, '')
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(
      (line) =>
        line &&
        !/Logs were written|^\s*⛅️|^─+$|If you think this is a bug|^\s+at |^\(error handler also failed|^APIError:/.test(
          line,
        ),
    )
  return lines.slice(-12).join('\n')
}

/** Cloudflare's refusals of a token, by error code: it lacks a permission, or is no token. */
const LACKS_PERMISSION = new Set([9109, 10000])
const NOT_A_TOKEN = new Set([1000, 6003, 6111, 9106, 10001])

/** The Cloudflare permission a refused API path needs, where we know its name. */
function permissionFor(path: string): string | null {
  if (/\/workers\/scripts\//.test(path)) return 'Workers Scripts: Edit'
  if (/\/storage\/kv\//.test(path)) return 'Workers KV Storage: Edit'
  if (/\/queues/.test(path)) return 'Queues: Edit'
  return null
}

const LOG_IN = 'npx wrangler login, or export CLOUDFLARE_API_TOKEN'

/**
 * Why wrangler could not authenticate, in a sentence that says what to do, or null when the
 * failure is something else: not logged in, a token Cloudflare does not take, or one that
 * lacks a permission (named with the request Cloudflare refused).
 */
function authenticationProblem(output: string): string | null {
  const plain = output.replace(COLOURS, '')
  if (
    /necessary to set a CLOUDFLARE_API_TOKEN|You are not authenticated|Not logged in/i.test(plain)
  )
    return `you are not logged in to Cloudflare. Run ${LOG_IN}, then run this again.`
  // The first refused request is the one that mattered; wrangler then asks about the token.
  const refused =
    /A request to the Cloudflare API \(([^)]+)\) failed\.\s+(.+?) \[code: (\d+)\]/.exec(plain)
  if (!refused) return null
  const [, path = '', message = '', code = ''] = refused
  const said = `Cloudflare refused ${path} (${message}, code ${code})`
  if (NOT_A_TOKEN.has(Number(code)))
    return `Cloudflare does not take your login: ${said}. Run ${LOG_IN} with a valid token.`
  if (!LACKS_PERMISSION.has(Number(code))) return null
  const permission = permissionFor(path)
  return (
    `your Cloudflare API token lacks a permission: ${said}. ` +
    (permission ? `Give the token ${permission}` : 'Give the token the permission it needs') +
    ' at https://dash.cloudflare.com/profile/api-tokens, or log in with npx wrangler login instead.'
  )
}

/** A failed wrangler call as an error: the authentication problem it names, or wrangler's words. */
function failure(what: string, output: string): DeployError {
  const problem = authenticationProblem(output)
  return new DeployError(problem ? `${what}: ${problem}` : `${what}.\n${wranglerSays(output)}`)
}

/** The accounts wrangler lists when it cannot choose one without asking. */
function accountsListed(output: string): { name: string; id: string }[] {
  return [...output.matchAll(/`([^`]*)`: `([0-9a-f]{32})`/g)].map((match) => ({
    name: match[1] ?? '',
    id: match[2] ?? '',
  }))
}

/**
 * With several Cloudflare accounts and no `CLOUDFLARE_ACCOUNT_ID`, wrangler refuses to choose
 * when it cannot prompt: ask here, and remember the choice for the rest of the run.
 */
async function chooseAccount(output: string): Promise<void> {
  const accounts = accountsListed(output)
  if (accounts.length === 0 || !process.stdin.isTTY) {
    throw new DeployError(
      'Your Cloudflare login reaches several accounts. Set CLOUDFLARE_ACCOUNT_ID to the one ' +
        `to deploy to, then run this again.\n${wranglerSays(output)}`,
    )
  }
  console.log('Your Cloudflare login reaches several accounts:')
  for (const [index, account] of accounts.entries()) {
    console.log(`  ${index + 1}. ${account.name} (${account.id})`)
  }
  for (;;) {
    const answer = await ask(`Which one? [1-${accounts.length}] `)
    const chosen = accounts[Number(answer) - 1]
    if (chosen) {
      process.env.CLOUDFLARE_ACCOUNT_ID = chosen.id
      console.log(`Using ${chosen.id}. Next time: export CLOUDFLARE_ACCOUNT_ID=${chosen.id}`)
      return
    }
  }
}

/**
 * Runs a read-only wrangler command whose output we need. The account question is answered
 * here; any other failure is a DeployError carrying wrangler's words.
 */
async function read(args: readonly string[]): Promise<Captured> {
  let run = captured(args)
  if (run.status !== 0 && /More than one account available/.test(run.output)) {
    await chooseAccount(run.output)
    run = captured(args)
  }
  return run
}

/**
 * The names of the secrets set on the Worker, or null when the Worker does not exist yet
 * (Cloudflare's code 10007): the only case in which "none set" is known to be true.
 */
export async function secretsOnWorker(environment: string | null): Promise<Set<string> | null> {
  const run = await read(['secret', 'list', '--format', 'json', ...envFlags(environment)])
  if (run.status === 0) {
    const start = run.output.indexOf('[')
    try {
      const listed = JSON.parse(run.output.slice(start)) as { name: string }[]
      return new Set(listed.map((secret) => secret.name))
    } catch {
      throw new DeployError(`Could not read the secret list wrangler printed:\n${run.output}`)
    }
  }
  // Wrangler words Cloudflare's 10007 ("This Worker does not exist") so, or quotes the code.
  if (/\[code: 10007\]|Worker "[^"]+"( \(env: [^)]+\))? not found/.test(run.output)) return null
  throw failure(
    "Could not read the Worker's secrets from Cloudflare, so nothing was changed",
    run.output,
  )
}

/** Sets secrets in one call (`wrangler secret bulk`, fed JSON on standard input). */
export function putSecrets(values: Record<string, string>, environment: string | null): void {
  const run = captured(['secret', 'bulk', ...envFlags(environment)], JSON.stringify(values))
  if (run.status !== 0) throw failure('Could not set the secrets', run.output)
}

/** Runs wrangler with this terminal, so that it can ask what it needs; resolves to its exit code. */
export function inTerminal(args: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['wrangler', ...args], { stdio: 'inherit', env: process.env })
    child.on('exit', (code) => resolve(code ?? 1))
  })
}

/** Prints a DeployError's message and exits non-zero; anything else is rethrown. */
export function exitOn(error: unknown): never {
  if (error instanceof DeployError) {
    console.error(`\n✘ ${error.message}`)
    process.exit(1)
  }
  throw error
}
