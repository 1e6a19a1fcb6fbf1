/**
 * Reads the Worker's configuration once per env (so once per isolate): the deployment's own
 * settings, the env account (the Worker's variables, served at `/wechat`) and every account of
 * the `WECHAT_ACCOUNTS` secret (served at `/wechat/<id>`), each checked on its own. A wrong
 * entry disables that account, never the others; problems and warnings name the setting,
 * never its value.
 */

import { ACCOUNT_ID, reservedAccountId } from './accounts/scope.ts'
import {
  type AccountSettings,
  type AccountSource,
  accountSettings,
  ENV_ACCOUNT,
  ENV_NAMES,
  type PlatformSettings,
  positive,
  SAMPLE_ADMIN_TOKENS,
  type SharedSettings,
  weakTokenWarning,
} from './accounts/settings.ts'
import type { Env } from './env.ts'
import { TEXT_LIMIT_BYTES } from './wechat/split-text.ts'

export type {
  AccountSettings,
  LoginConfig,
  PlatformSettings,
  TalkBack,
} from './accounts/settings.ts'

export interface Config {
  /** The env account, served at `/wechat`. */
  readonly env: AccountSettings
  /** Every account by id, the env account (`env`) included, whether or not it can be served. */
  readonly accounts: ReadonlyMap<string, AccountSettings>
  /** The third-party platform, or null when its four settings are not all set. */
  readonly platform: PlatformSettings | null
  readonly replyBudgetMs: number
  /** Opens every account's admin API. */
  readonly adminToken: string | null
  readonly debugConsole: boolean
  readonly queueRetryBaseSeconds: number
  /** The deployment's own problems (WECHAT_ACCOUNTS unreadable, an entry refused whole). */
  readonly problems: readonly string[]
  /** The deployment's own warnings (an API base that is not WeChat's). */
  readonly warnings: readonly string[]
}

/** What GET / tells the operator is wrong with the env account: its own, as today. */
export const WEAK_TOKEN_WARNING = weakTokenWarning('WECHAT_TOKEN')

const configs = new WeakMap<Env, Config>()

/**
 * @example
 * const { env: account, replyBudgetMs } = readConfig(c.env)
 */
export function readConfig(env: Env): Config {
  let config = configs.get(env)
  if (!config) {
    config = parseConfig(env)
    configs.set(env, config)
  }
  return config
}

/** An account that can be served, by id; null when there is none (or it is disabled). */
export function servedAccount(config: Config, id: string): AccountSettings | null {
  const account = config.accounts.get(id)
  return account && account.problems.length === 0 ? account : null
}

function parseConfig(env: Env): Config {
  const problems: string[] = []
  const warnings: string[] = []
  const apiBase = env.WECHAT_API_BASE?.trim() || WECHAT_API
  if (apiBase !== WECHAT_API) {
    warnings.push(
      apiBase.startsWith('https://')
        ? 'WECHAT_API_BASE is not WeChat’s API: the AppSecret and access tokens go to another host'
        : 'WECHAT_API_BASE is not WeChat’s API and not https: the AppSecret and access tokens go out in clear',
    )
  }
  const adminToken = env.ADMIN_TOKEN?.trim() || null
  if (adminToken !== null && SAMPLE_ADMIN_TOKENS.includes(adminToken)) {
    warnings.push('ADMIN_TOKEN is the public sample value: anyone can use the admin API')
  }
  const shared: SharedSettings = {
    apiBase,
    textLimitBytes: positive(env.TEXT_LIMIT_BYTES, TEXT_LIMIT_BYTES),
    signatureMaxAgeSeconds: positive(env.SIGNATURE_MAX_AGE_SECONDS, 300),
    loginDefaults: {
      site: env.LOGIN_SITE?.trim() || null,
      confirmWord: env.LOGIN_CONFIRM_WORD?.trim() || '1',
      reply: env.LOGIN_REPLY?.trim() || 'Signed in.',
      expireSeconds: positive(env.LOGIN_EXPIRE_SECONDS, 120),
    },
  }
  const envAccount = accountSettings(
    ENV_ACCOUNT,
    envSource(env),
    shared,
    (field) => ENV_NAMES[field],
  )
  const accounts = new Map<string, AccountSettings>([[ENV_ACCOUNT, envAccount]])
  for (const [id, entry] of entriesOf(env.WECHAT_ACCOUNTS, problems)) {
    accounts.set(
      id,
      accountSettings(id, entry, shared, (field) => `WECHAT_ACCOUNTS.${id}.${field}`),
    )
  }
  return {
    env: envAccount,
    accounts,
    platform: platformOf(env, shared, problems),
    replyBudgetMs: positive(env.REPLY_BUDGET_MS, 4500),
    adminToken,
    debugConsole: env.DEBUG_CONSOLE?.trim().toLowerCase() === 'true',
    queueRetryBaseSeconds: nonNegative(env.QUEUE_RETRY_BASE_SECONDS, 2),
    problems,
    warnings,
  }
}

/**
 * The third-party platform's settings: all four, or none (its routes are then 404). Some but
 * not all is a problem named, never shown; a key that is not 43 base64 characters likewise.
 */
function platformOf(env: Env, shared: SharedSettings, problems: string[]): PlatformSettings | null {
  const values = {
    WECHAT_PLATFORM_APPID: env.WECHAT_PLATFORM_APPID?.trim() || null,
    WECHAT_PLATFORM_APPSECRET: env.WECHAT_PLATFORM_APPSECRET?.trim() || null,
    WECHAT_PLATFORM_TOKEN: env.WECHAT_PLATFORM_TOKEN?.trim() || null,
    WECHAT_PLATFORM_ENCODING_AES_KEY: env.WECHAT_PLATFORM_ENCODING_AES_KEY?.trim() || null,
  }
  const missing = Object.entries(values).filter(([, value]) => value === null)
  if (missing.length === 4) return null
  if (missing.length > 0) {
    problems.push(
      `the third-party platform is off: ${missing.map(([name]) => name).join(', ')} not set`,
    )
    return null
  }
  const { WECHAT_PLATFORM_APPID: appId, WECHAT_PLATFORM_APPSECRET: appSecret } = values
  const token = values.WECHAT_PLATFORM_TOKEN ?? ''
  const encodingAesKey = values.WECHAT_PLATFORM_ENCODING_AES_KEY ?? ''
  if (!/^[A-Za-z0-9+/]{43}$/.test(encodingAesKey)) {
    problems.push(
      'the third-party platform is off: WECHAT_PLATFORM_ENCODING_AES_KEY must be 43 base64 characters',
    )
    return null
  }
  if (appId === null || appSecret === null) return null
  return {
    appId,
    appSecret,
    envelope: {
      token,
      aes: { appId, encodingAesKey },
      // A platform's pushes are always encrypted (message_push: 只允许安全模式).
      requireEncryption: true,
      signatureMaxAgeSeconds: shared.signatureMaxAgeSeconds,
    },
    apiBase: shared.apiBase,
    textLimitBytes: shared.textLimitBytes,
  }
}

/** The env account's settings, from the Worker's own variables (see ENV_NAMES). */
function envSource(env: Env): AccountSource {
  return {
    token: env.WECHAT_TOKEN,
    appId: env.WECHAT_APPID,
    encodingAesKey: env.WECHAT_ENCODING_AES_KEY,
    appSecret: env.WECHAT_APPSECRET,
    tokenUrl: env.WECHAT_TOKEN_URL,
    tokenUrlSecret: env.WECHAT_TOKEN_URL_SECRET,
    requireEncryption: env.REQUIRE_ENCRYPTION,
    loginSecret: env.LOGIN_SECRET,
    webOrigins: env.WEB_ORIGINS,
    webSecret: env.WEB_SECRET,
    aiPassiveOnly: env.AI_PASSIVE_ONLY,
  }
}

/**
 * The entries of WECHAT_ACCOUNTS (a JSON object: id → settings) that can be read at all; each
 * one refused is named in `problems` (its id and why, never a value) and the others go on.
 */
function entriesOf(secret: string | undefined, problems: string[]): [string, AccountSource][] {
  const text = secret?.trim()
  if (!text) return []
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    problems.push('WECHAT_ACCOUNTS is not JSON: no account of it is served')
    return []
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push(
      'WECHAT_ACCOUNTS must be a JSON object of id → settings: no account of it is served',
    )
    return []
  }
  const entries: [string, AccountSource][] = []
  for (const [id, entry] of Object.entries(parsed)) {
    if (!ACCOUNT_ID.test(id) || reservedAccountId(id)) {
      problems.push(
        `WECHAT_ACCOUNTS has an account id that is not 1–32 of a-z, 0-9, - (or is reserved): it is not served`,
      )
    } else if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`WECHAT_ACCOUNTS.${id} must be an object of settings: it is not served`)
    } else {
      entries.push([id, entry as AccountSource])
    }
  }
  return entries
}

const WECHAT_API = 'https://api.weixin.qq.com/'

function nonNegative(value: string | undefined, fallback: number): number {
  const number = Number(value)
  return value !== undefined && value !== '' && Number.isFinite(number) && number >= 0
    ? number
    : fallback
}
