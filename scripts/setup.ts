/**
 * `npm run setup [-- --env staging]`: sets the Worker's secrets that are not set yet, and may be
 * run again at any time. Everything else (queues, the KV namespaces, the Durable Objects) is
 * made by `npm run deploy`.
 *
 * - WECHAT_TOKEN, ADMIN_TOKEN, LOGIN_SECRET and WEB_SECRET are generated (32 random
 *   hexadecimal characters) and printed once: paste the Token into WeChat's developer center,
 *   give the login and web secrets to your website's backend (scan to log in; OAuth web
 *   authorization, with WEB_ORIGINS in wrangler.toml).
 * - WECHAT_APPID, WECHAT_ENCODING_AES_KEY and WECHAT_APPSECRET are asked for on the first run
 *   (the key and the AppSecret without echo), as WeChat's developer center shows them; Enter
 *   skips one. A later run asks nothing, so that it can be repeated safely.
 * - Any of them may come from the environment instead: `WECHAT_APPSECRET=… npm run setup`
 *   adds one later.
 *
 * A secret already set is never replaced (`npx wrangler secret put NAME` changes one). When
 * Cloudflare's state cannot be read, setup stops with wrangler's error and changes nothing.
 */

import { readConfig } from '../src/config.ts'
import type { Env } from '../src/env.ts'
import { ask } from './ask.ts'
import { setupAccount } from './setup-account.ts'
import {
  accountArg,
  DeployError,
  environmentArg,
  exitOn,
  exitOnHelp,
  putSecrets,
  secretsOnWorker,
} from './wrangler.ts'

const USAGE = `Usage: npm run setup [-- --env <name>] [--account <id>]

Sets the Worker's secrets on Cloudflare that are not set yet, creating the Worker if it does
not exist. WECHAT_TOKEN, ADMIN_TOKEN and LOGIN_SECRET are generated and printed once;
WECHAT_APPID, WECHAT_ENCODING_AES_KEY and WECHAT_APPSECRET are asked for on the first run
(Enter skips one). A secret already set is never replaced, so it may be run again at any time.
Any of them may come from the environment instead: WECHAT_APPSECRET=… npm run setup.

Options:
  --env <name>    a Wrangler environment of wrangler.toml (staging): its own Worker and secrets
  --account <id>  adds or completes one more account in the WECHAT_ACCOUNTS secret (served at
                  /wechat/<id>): its Token generated, its AppID, key and AppSecret asked for
                  (or ACCOUNT_APPID, ACCOUNT_ENCODING_AES_KEY, ACCOUNT_APPSECRET); this machine
                  keeps the secret's value in .wechat-accounts.json
  --help, -h      this text; nothing is asked of Cloudflare

Log in to Cloudflare first: npx wrangler login, or export CLOUDFLARE_API_TOKEN (and
CLOUDFLARE_ACCOUNT_ID when your login reaches several accounts).`

interface SecretSpec {
  readonly name: string
  /** Generated when not set; otherwise asked for. */
  readonly generated: boolean
  readonly question?: string
  readonly masked?: boolean
}

const SECRETS: readonly SecretSpec[] = [
  { name: 'WECHAT_TOKEN', generated: true },
  { name: 'ADMIN_TOKEN', generated: true },
  { name: 'LOGIN_SECRET', generated: true },
  { name: 'WEB_SECRET', generated: true },
  { name: 'WECHAT_APPID', generated: false, question: 'AppID (wx…)' },
  {
    name: 'WECHAT_ENCODING_AES_KEY',
    generated: false,
    question: 'EncodingAESKey (43 characters; safe and compatible mode)',
    masked: true,
  },
  {
    name: 'WECHAT_APPSECRET',
    generated: false,
    question: 'AppSecret (talking back after 5 s)',
    masked: true,
  },
]

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) =>
    byte.toString(16).padStart(2, '0'),
  ).join('')
}

/**
 * What the Worker would say of these values (config.ts is the one place that validates them),
 * keeping the problems that name one of them. Secrets already set count as set.
 */
function problemsWith(values: Record<string, string>, present: ReadonlySet<string>): string[] {
  const alreadySet = Object.fromEntries([...present].map((name) => [name, 'set']))
  const env = { WECHAT_TOKEN: 'set', ...alreadySet, ...values } as unknown as Env
  const names = Object.keys(values)
  const config = readConfig(env)
  return [...config.problems, ...config.env.problems].filter((problem) =>
    names.some((name) => problem.includes(name)),
  )
}

async function valueFor(
  spec: SecretSpec,
  chosen: Record<string, string>,
  present: ReadonlySet<string>,
): Promise<string | null> {
  const fromEnvironment = process.env[spec.name]?.trim()
  if (fromEnvironment) return fromEnvironment
  if (spec.generated) return randomHex(16)
  // Questions belong to the first run (no Token yet); a re-run only fills in what is given.
  if (!process.stdin.isTTY || present.has('WECHAT_TOKEN')) {
    console.log(`secret ${spec.name}: not set (to add it: ${spec.name}=… npm run setup)`)
    return null
  }
  for (;;) {
    const answer = await ask(`${spec.question}, Enter to skip: `, { masked: spec.masked === true })
    if (!answer) return null
    const problems = problemsWith({ ...chosen, [spec.name]: answer }, present).filter((problem) =>
      problem.startsWith(spec.name),
    )
    if (problems.length === 0) return answer
    console.log(`  ${problems.join('; ')}`)
  }
}

async function main(): Promise<void> {
  exitOnHelp(process.argv.slice(2), USAGE)
  const environment = environmentArg(process.argv.slice(2))
  const worker = environment ? `the ${environment} Worker` : 'the Worker'
  const listed = await secretsOnWorker(environment)
  if (listed === null) console.log(`${worker} does not exist yet: setting its secrets creates it.`)
  const account = accountArg(process.argv.slice(2))
  if (account !== null) {
    await setupAccount(account, listed, environment)
    console.log(`\nNext: npm run deploy${environment ? ` -- --env ${environment}` : ''}`)
    return
  }
  const present = listed ?? new Set<string>()

  const chosen: Record<string, string> = {}
  for (const spec of SECRETS) {
    if (present.has(spec.name)) {
      console.log(`secret ${spec.name}: set (kept)`)
      continue
    }
    const value = await valueFor(spec, chosen, present)
    if (value !== null) chosen[spec.name] = value
  }
  const problems = problemsWith(chosen, present)
  if (problems.length > 0) throw new DeployError(`Nothing was set: ${problems.join('; ')}`)
  const names = Object.keys(chosen)
  if (names.length === 0) {
    console.log('Nothing to change.')
  } else {
    putSecrets(chosen, environment)
    for (const name of names) console.log(`secret ${name}: set`)
    for (const spec of SECRETS.filter((spec) => spec.generated && names.includes(spec.name))) {
      // Printed once, here: Cloudflare never shows a secret again.
      console.log(`\n${spec.name} = ${chosen[spec.name]}   (keep it; it is not shown again)`)
      if (spec.name === 'WECHAT_TOKEN') {
        console.log('  Paste it as the Token in WeChat’s developer center (Server Configuration).')
      }
      if (spec.name === 'WEB_SECRET') {
        console.log(
          '  Your website’s backend trades sign-in tickets with it; list the website in WEB_ORIGINS.',
        )
      }
    }
  }
  console.log(`\nNext: npm run deploy${environment ? ` -- --env ${environment}` : ''}`)
}

main().catch(exitOn)
