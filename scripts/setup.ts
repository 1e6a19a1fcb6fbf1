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
 * - `--platform` sets the third-party platform's four secrets instead: its Token and key
 *   generated and printed once, its AppID and AppSecret asked for; all four or none.
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

const USAGE = `Usage: npm run setup [-- --env <name>] [--account <id>] [--platform]

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
  --platform      sets the third-party platform's four secrets: its message Token and key
                  generated and printed once (enter them on the Open Platform), its AppID and
                  AppSecret asked for (or WECHAT_PLATFORM_APPID, WECHAT_PLATFORM_APPSECRET)
  --help, -h      this text; nothing is asked of Cloudflare

Log in to Cloudflare first: npx wrangler login, or export CLOUDFLARE_API_TOKEN (and
CLOUDFLARE_ACCOUNT_ID when your login reaches several accounts).`

interface SecretSpec {
  readonly name: string
  /** Generated when not set; otherwise asked for. */
  readonly generated: boolean
  /** How it is generated: 32 hexadecimal characters unless said. */
  readonly generate?: () => string
  readonly question?: string
  readonly masked?: boolean
  /** What to do with it, printed once beside a generated value. */
  readonly use?: string
}

const SECRETS: readonly SecretSpec[] = [
  {
    name: 'WECHAT_TOKEN',
    generated: true,
    use: 'Paste it as the Token in WeChat’s developer center (Server Configuration).',
  },
  { name: 'ADMIN_TOKEN', generated: true },
  { name: 'LOGIN_SECRET', generated: true },
  {
    name: 'WEB_SECRET',
    generated: true,
    use: 'Your website’s backend trades sign-in tickets with it; list the website in WEB_ORIGINS.',
  },
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

/**
 * The third-party platform's, with `--platform`: WeChat's Open Platform takes the Token and
 * key you choose, so both are generated here; the AppID and AppSecret are WeChat's to give.
 */
const PLATFORM_SECRETS: readonly SecretSpec[] = [
  {
    name: 'WECHAT_PLATFORM_TOKEN',
    generated: true,
    use: 'Enter it on the Open Platform as the platform’s 消息校验Token.',
  },
  {
    name: 'WECHAT_PLATFORM_ENCODING_AES_KEY',
    generated: true,
    generate: randomKey,
    use: 'Enter it on the Open Platform as the platform’s 消息加解密Key.',
  },
  { name: 'WECHAT_PLATFORM_APPID', generated: false, question: 'The platform’s AppID (wx…)' },
  {
    name: 'WECHAT_PLATFORM_APPSECRET',
    generated: false,
    question: 'The platform’s AppSecret',
    masked: true,
  },
]

/** An EncodingAESKey: 43 characters of base64 (letters and digits), 256 bits and more. */
function randomKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return Array.from(crypto.getRandomValues(new Uint8Array(43)), (byte) => alphabet[byte % 62]).join(
    '',
  )
}

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
  firstRun: boolean,
): Promise<string | null> {
  const fromEnvironment = process.env[spec.name]?.trim()
  if (fromEnvironment) return fromEnvironment
  if (spec.generated) return spec.generate?.() ?? randomHex(16)
  // Questions belong to the first run (no Token yet); a re-run only fills in what is given.
  if (!process.stdin.isTTY || !firstRun) {
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
  const platform = process.argv.includes('--platform')
  const specs = platform ? PLATFORM_SECRETS : SECRETS
  // The first run of its kind asks; the first spec is the Token it generates.
  const firstRun = !present.has(specs[0]?.name ?? '')

  const chosen: Record<string, string> = {}
  for (const spec of specs) {
    if (present.has(spec.name)) {
      console.log(`secret ${spec.name}: set (kept)`)
      continue
    }
    const value = await valueFor(spec, chosen, present, firstRun)
    if (value !== null) chosen[spec.name] = value
  }
  const problems = problemsWith(chosen, present)
  if (platform) {
    // The platform is on with all four or none: half of it would be a problem on every GET /.
    const missing = specs.filter((spec) => !chosen[spec.name] && !present.has(spec.name))
    if (missing.length > 0) {
      problems.push(
        `the platform needs all four: ${missing.map((spec) => spec.name).join(', ')} missing`,
      )
    }
  }
  if (problems.length > 0) throw new DeployError(`Nothing was set: ${problems.join('; ')}`)
  const names = Object.keys(chosen)
  if (names.length === 0) {
    console.log('Nothing to change.')
  } else {
    putSecrets(chosen, environment)
    for (const name of names) console.log(`secret ${name}: set`)
    for (const spec of specs.filter((spec) => spec.generated && names.includes(spec.name))) {
      // Printed once, here: Cloudflare never shows a secret again.
      console.log(`\n${spec.name} = ${chosen[spec.name]}   (keep it; it is not shown again)`)
      if (spec.use) console.log(`  ${spec.use}`)
    }
    if (platform) {
      console.log(
        '\nOn the Open Platform: 授权事件接收URL https://<worker>/wechat/platform, ' +
          '消息与事件接收URL https://<worker>/wechat/platform/$APPID$',
      )
    }
  }
  console.log(`\nNext: npm run deploy${environment ? ` -- --env ${environment}` : ''}`)
}

main().catch(exitOn)
