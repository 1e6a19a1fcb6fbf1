/**
 * Wrangler as `npm run setup` and `npm run deploy` use it: captured when we read Cloudflare's
 * state, given the terminal when it may need to ask. A read that fails is an error, never
 * "nothing there": setup generates a secret only when the Worker provably lacks it.
 */

import { spawn, spawnSync } from 'node:child_process'
import { ask } from './ask.ts'

/** `--env NAME` (or `--env=NAME`) from the command line: a Wrangler environment, as in wrangler.toml. */
export function environmentArg(argv: readonly string[]): string | null {
  for (const [index, arg] of argv.entries()) {
    if (arg === '--env') return argv[index + 1] ?? null
    if (arg.startsWith('--env=')) return arg.slice('--env='.length)
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

/** Wrangler's own words from its output: its error lines, colours and the log-file line off. */
function wranglerSays(output: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '')
  const lines = plain
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(
      (line) => line && !/Logs were written|^\s*⛅️|^─+$|If you think this is a bug/.test(line),
    )
  return lines.slice(-12).join('\n')
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
  throw new DeployError(
    `Could not read the Worker's secrets from Cloudflare, so nothing was changed.\n${wranglerSays(run.output)}`,
  )
}

/** Sets secrets in one call (`wrangler secret bulk`, fed JSON on standard input). */
export function putSecrets(values: Record<string, string>, environment: string | null): void {
  const run = captured(['secret', 'bulk', ...envFlags(environment)], JSON.stringify(values))
  if (run.status !== 0) {
    throw new DeployError(`Could not set the secrets.\n${wranglerSays(run.output)}`)
  }
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
