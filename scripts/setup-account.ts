/**
 * `npm run setup -- --account <id>`: adds an account to the WECHAT_ACCOUNTS secret, or
 * completes one, generating its Token and keeping what is set. Cloudflare never shows a secret
 * again, so this machine keeps what the secret holds in `.wechat-accounts.json` (git-ignored,
 * like `.dev.vars`): the file is read, changed and uploaded whole, and setup refuses to replace
 * a WECHAT_ACCOUNTS it cannot read back.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { readConfig } from '../src/config.ts'
import type { Env } from '../src/env.ts'
import { ask } from './ask.ts'
import { DeployError, putSecrets } from './wrangler.ts'

/** Where this machine keeps WECHAT_ACCOUNTS' value. */
export const ACCOUNTS_FILE = '.wechat-accounts.json'

/** Cloudflare's limit on one secret's value (Workers limits: environment variable size, 5 KB). */
export const SECRET_LIMIT_BYTES = 5 * 1024

type Entry = Record<string, string>

/** What is asked for, and the variable that may give it instead (`ACCOUNT_APPID=wx… npm run …`). */
const ASKED: readonly { field: string; variable: string; question: string; masked: boolean }[] = [
  { field: 'appId', variable: 'ACCOUNT_APPID', question: 'AppID (wx…)', masked: false },
  {
    field: 'encodingAesKey',
    variable: 'ACCOUNT_ENCODING_AES_KEY',
    question: 'EncodingAESKey (43 characters; safe and compatible mode)',
    masked: true,
  },
  {
    field: 'appSecret',
    variable: 'ACCOUNT_APPSECRET',
    question: 'AppSecret (talking back after 5 s)',
    masked: true,
  },
]

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) =>
    byte.toString(16).padStart(2, '0'),
  ).join('')
}

function readAccounts(): Record<string, Entry> {
  if (!existsSync(ACCOUNTS_FILE)) return {}
  try {
    return JSON.parse(readFileSync(ACCOUNTS_FILE, 'utf8')) as Record<string, Entry>
  } catch {
    throw new DeployError(`${ACCOUNTS_FILE} is not JSON: fix it (it is what WECHAT_ACCOUNTS holds)`)
  }
}

/** What the Worker would say of the account, as config.ts checks it: its problems. */
function problemsOf(id: string, all: Record<string, Entry>): string[] {
  const env = { WECHAT_ACCOUNTS: JSON.stringify(all) } as unknown as Env
  const config = readConfig(env)
  return [
    ...config.problems,
    ...(config.accounts.get(id)?.problems ?? [
      `${id} is not an account id: 1–32 of a-z, 0-9 and -, not env or platform`,
    ]),
  ]
}

/**
 * @param present the secrets the Worker has now; null when it does not exist yet.
 */
export async function setupAccount(
  id: string,
  present: ReadonlySet<string> | null,
  environment: string | null,
): Promise<void> {
  const fileExists = existsSync(ACCOUNTS_FILE)
  if (present?.has('WECHAT_ACCOUNTS') && !fileExists) {
    throw new DeployError(
      `WECHAT_ACCOUNTS is set on the Worker, but this machine has no ${ACCOUNTS_FILE}. ` +
        'Cloudflare never shows a secret again, so setup would replace every other account: ' +
        `copy ${ACCOUNTS_FILE} from the machine that set it, then run this again.`,
    )
  }
  const all = readAccounts()
  const entry: Entry = { ...all[id] }
  const generated = !entry.token
  if (generated) entry.token = process.env.WECHAT_TOKEN?.trim() || randomHex(16)
  for (const { field, variable, question, masked } of ASKED) {
    if (entry[field]) {
      console.log(`${id}.${field}: set (kept)`)
      continue
    }
    const fromEnvironment = process.env[variable]?.trim()
    if (fromEnvironment) {
      entry[field] = fromEnvironment
      continue
    }
    if (!process.stdin.isTTY) {
      console.log(
        `${id}.${field}: not set (to add it: ${variable}=… npm run setup -- --account ${id})`,
      )
      continue
    }
    for (;;) {
      const answer = await ask(`${id}: ${question}, Enter to skip: `, { masked })
      if (!answer) break
      const problems = problemsOf(id, { ...all, [id]: { ...entry, [field]: answer } })
      if (problems.length === 0) {
        entry[field] = answer
        break
      }
      console.log(`  ${problems.join('; ')}`)
    }
  }
  const next = { ...all, [id]: entry }
  const problems = problemsOf(id, next)
  if (problems.length > 0) throw new DeployError(`Nothing was set: ${problems.join('; ')}`)
  const value = JSON.stringify(next)
  const bytes = new TextEncoder().encode(value).length
  if (bytes > SECRET_LIMIT_BYTES) {
    throw new DeployError(
      `WECHAT_ACCOUNTS would be ${bytes} bytes, past Cloudflare's ${SECRET_LIMIT_BYTES} for one secret: ` +
        'serve more accounts through the third-party platform, which needs no secret per account.',
    )
  }
  putSecrets({ WECHAT_ACCOUNTS: value }, environment)
  writeFileSync(ACCOUNTS_FILE, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 })
  console.log(`secret WECHAT_ACCOUNTS: set (${Object.keys(next).length} accounts, ${bytes} bytes)`)
  if (generated) {
    // Printed once, here: Cloudflare never shows a secret again (the file keeps it).
    console.log(`\n${id}.token = ${entry.token}   (kept in ${ACCOUNTS_FILE})`)
    console.log(`  Paste it as the Token in that account's developer center, with the URL`)
    console.log(`  https://<your worker>/wechat/${id}`)
  }
}
