/**
 * One account's settings, checked: the env account's from the Worker's own variables
 * (`WECHAT_TOKEN`, `WECHAT_APPID`, …), any other's from its entry in the `WECHAT_ACCOUNTS`
 * secret, with the same names in camelCase. What is wrong is named (never with its value) and
 * disables that account alone; what is weak is a warning. Pure.
 */

import { MAX_LOGIN_SECONDS } from '../login/rules.ts'
import { type WebConfig, webConfig } from '../web/settings.ts'
import type { Account } from '../wechat/envelope.ts'

/** The id of the account the Worker's own variables configure, served at `/wechat`. */
export const ENV_ACCOUNT = 'env'

/** How an account talks back after the 5 s window: WeChat's API and where tokens come from. */
export interface TalkBack {
  readonly appId: string
  readonly apiBase: string
  /** `stable_token`: fetched with the AppSecret. `url`: from your own token service. `pushed`:
   * only what `PUT /admin/access-token` hands in (WeChat whitelists token IPs: error 40164).
   * `authorizer`: an account that authorized the third-party platform, its token refreshed by
   * the platform; `component`: the platform's own token (component_access_token). */
  readonly source: 'stable_token' | 'url' | 'pushed' | 'authorizer' | 'component'
  readonly appSecret: string | null
  readonly tokenUrl: string | null
  /** Sent to the token service as `Authorization: Bearer …`, so that it serves no one else. */
  readonly tokenUrlSecret: string | null
  /** A text past this many bytes of UTF-8 goes out in parts (src/wechat/split-text.ts). */
  readonly textLimitBytes: number
}

/**
 * Scan to log in (src/login/): on with a login secret, which the website's backend holds, and
 * an EncodingAESKey, since only an encrypted push proves which user scanned and agreed.
 */
export interface LoginConfig {
  readonly secret: string
  /** The website the user is asked to sign in to (LOGIN_SITE). */
  readonly site: string
  /** What the user replies in WeChat to agree (LOGIN_CONFIRM_WORD, `1` by default). */
  readonly confirmWord: string
  /** What the user is answered in WeChat once they agreed. */
  readonly reply: string
  /** How long a login's QR code waits for its scan and the user's agreement. */
  readonly expireSeconds: number
}

/** Everything the Worker knows of one account. */
export interface AccountSettings {
  /** `env` for the env account; otherwise its key in WECHAT_ACCOUNTS. */
  readonly id: string
  readonly envelope: Account
  /** Null without an AppID: nothing can be sent after the answer. */
  readonly talkBack: TalkBack | null
  /** Null without a login secret (or an EncodingAESKey): the /login routes answer 404. */
  readonly login: LoginConfig | null
  /** Opens this account's admin API (and only it) beside ADMIN_TOKEN; null: ADMIN_TOKEN only. */
  readonly adminToken: string | null
  /** The web side (src/web/: OAuth, the JS-SDK): off without its origins and secret. */
  readonly web: WebConfig
  /** Why its pushes cannot be served; empty when all is well. Never a value. */
  readonly problems: readonly string[]
  /** What is served but weaker than it should be (a guessable Token). Never a value. */
  readonly warnings: readonly string[]
  /**
   * The account cannot send customer-service messages (WeChat answers 48001: an unverified
   * account): what comes later is answered passively only (src/assistant/: AI_PASSIVE_ONLY).
   */
  readonly passiveOnly: boolean
}

/** An account's own settings, as strings (the env's variables) or JSON values (an entry). */
export interface AccountSource {
  readonly token?: unknown
  readonly appId?: unknown
  readonly encodingAesKey?: unknown
  readonly appSecret?: unknown
  readonly tokenUrl?: unknown
  readonly tokenUrlSecret?: unknown
  readonly requireEncryption?: unknown
  readonly loginSecret?: unknown
  readonly loginSite?: unknown
  readonly loginConfirmWord?: unknown
  readonly loginReply?: unknown
  readonly loginExpireSeconds?: unknown
  readonly adminToken?: unknown
  readonly webOrigins?: unknown
  readonly webSecret?: unknown
  readonly aiPassiveOnly?: unknown
}

/** The settings every account shares: the deployment's own variables. */
export interface SharedSettings {
  readonly apiBase: string
  readonly textLimitBytes: number
  readonly signatureMaxAgeSeconds: number
  /** LOGIN_* variables: an entry's own login settings fall back on them. */
  readonly loginDefaults: {
    readonly site: string | null
    readonly confirmWord: string
    readonly reply: string
    readonly expireSeconds: number
  }
}

/** What a setting is called where the operator set it: `WECHAT_TOKEN`, or `WECHAT_ACCOUNTS.shop.token`. */
export type SettingName = (field: keyof AccountSource) => string

/** The env account's variable for each field. */
export const ENV_NAMES: { readonly [K in keyof AccountSource]-?: string } = {
  token: 'WECHAT_TOKEN',
  appId: 'WECHAT_APPID',
  encodingAesKey: 'WECHAT_ENCODING_AES_KEY',
  appSecret: 'WECHAT_APPSECRET',
  tokenUrl: 'WECHAT_TOKEN_URL',
  tokenUrlSecret: 'WECHAT_TOKEN_URL_SECRET',
  requireEncryption: 'REQUIRE_ENCRYPTION',
  loginSecret: 'LOGIN_SECRET',
  loginSite: 'LOGIN_SITE',
  loginConfirmWord: 'LOGIN_CONFIRM_WORD',
  loginReply: 'LOGIN_REPLY',
  loginExpireSeconds: 'LOGIN_EXPIRE_SECONDS',
  adminToken: 'ADMIN_TOKEN',
  webOrigins: 'WEB_ORIGINS',
  webSecret: 'WEB_SECRET',
  aiPassiveOnly: 'AI_PASSIVE_ONLY',
}

/**
 * @example
 * const shop = accountSettings('shop', entry, shared, (field) => `WECHAT_ACCOUNTS.shop.${field}`)
 */
export function accountSettings(
  id: string,
  source: AccountSource,
  shared: SharedSettings,
  nameOf: SettingName,
): AccountSettings {
  const problems: string[] = []
  const warnings: string[] = []
  const text = (field: keyof AccountSource): string | null => {
    const value = source[field]
    if (value === undefined || value === null) return null
    if (typeof value !== 'string') {
      problems.push(`${nameOf(field)} must be a string`)
      return null
    }
    return value.trim() || null
  }
  const token = text('token') ?? ''
  const appId = text('appId')
  let encodingAesKey = text('encodingAesKey')
  if (!token) problems.push(`${nameOf('token')} is not set`)
  if (encodingAesKey !== null && !/^[A-Za-z0-9+/]{43}$/.test(encodingAesKey)) {
    problems.push(`${nameOf('encodingAesKey')} must be 43 base64 characters`)
    encodingAesKey = null
  }
  if (encodingAesKey !== null && appId === null) {
    problems.push(`${nameOf('appId')} is required with ${nameOf('encodingAesKey')}`)
  }
  const aes = encodingAesKey !== null && appId !== null ? { appId, encodingAesKey } : null
  const requireEncryption = encryptionRequired(source.requireEncryption, aes !== null)
  if (requireEncryption && aes === null) {
    problems.push(
      `${nameOf('requireEncryption')} needs ${nameOf('encodingAesKey')} and ${nameOf('appId')}`,
    )
  }
  if (token && isWeakToken(token)) warnings.push(weakTokenWarning(nameOf('token')))
  if (aes !== null && !requireEncryption) {
    warnings.push(
      `${nameOf('requireEncryption')}=false accepts plaintext pushes although an EncodingAESKey is set: remove it once the migration is done (meanwhile only encrypted pushes sign anyone in)`,
    )
  }
  const appSecret = text('appSecret')
  // A wrong optional setting turns off its own feature, never the callback.
  let tokenUrl = text('tokenUrl')
  if (tokenUrl !== null && !isSafeServiceUrl(tokenUrl)) {
    warnings.push(`${nameOf('tokenUrl')} is ignored: it must be https (http only on this machine)`)
    tokenUrl = null
  }
  const adminToken = text('adminToken')
  if (adminToken !== null && SAMPLE_ADMIN_TOKENS.includes(adminToken)) {
    warnings.push(
      `${nameOf('adminToken')} is the public sample value: anyone can use the admin API`,
    )
  }
  const loginSecret = text('loginSecret')
  let login: LoginConfig | null = null
  if (loginSecret !== null && aes === null) {
    warnings.push(
      `scan to log in is off: ${nameOf('loginSecret')} needs ${nameOf('encodingAesKey')} and ${nameOf('appId')}, since a plaintext push’s body is not signed and could name any user`,
    )
  } else if (loginSecret !== null) {
    const defaults = shared.loginDefaults
    const site = text('loginSite') ?? defaults.site
    if (site === null) {
      warnings.push(
        `${nameOf('loginSite')} is not set: users are asked to sign in to “the website”, unnamed`,
      )
    }
    login = {
      secret: loginSecret,
      site: site ?? 'the website',
      confirmWord: text('loginConfirmWord') ?? defaults.confirmWord,
      reply: text('loginReply') ?? defaults.reply,
      expireSeconds: Math.min(
        positive(source.loginExpireSeconds, defaults.expireSeconds),
        MAX_LOGIN_SECONDS,
      ),
    }
  }
  const web = webConfig(text('webOrigins'), text('webSecret'), { appId, appSecret }, warnings, {
    origins: nameOf('webOrigins'),
    secret: nameOf('webSecret'),
    appId: nameOf('appId'),
    appSecret: nameOf('appSecret'),
  })
  return {
    id,
    envelope: {
      token,
      aes,
      requireEncryption,
      signatureMaxAgeSeconds: shared.signatureMaxAgeSeconds,
    },
    talkBack:
      appId === null
        ? null
        : {
            appId,
            apiBase: shared.apiBase,
            source: tokenUrl ? 'url' : appSecret ? 'stable_token' : 'pushed',
            appSecret,
            tokenUrl,
            tokenUrlSecret: text('tokenUrlSecret'),
            textLimitBytes: shared.textLimitBytes,
          },
    login,
    adminToken,
    web,
    problems,
    warnings,
    // `true` (a JSON entry) or "true" (a variable); anything else is off.
    passiveOnly:
      String(source.aiPassiveOnly ?? '')
        .trim()
        .toLowerCase() === 'true',
  }
}

/**
 * Encryption is required whenever an EncodingAESKey is configured: a plaintext signature covers
 * the query, not the body, so one leaked signed URL would let anyone post any body within the
 * window. `false` is the explicit switch for the migration from plaintext; `true` or `false`
 * override, anything else (`auto`, unset) follows the key.
 */
function encryptionRequired(value: unknown, aesConfigured: boolean): boolean {
  const setting = String(value ?? '')
    .trim()
    .toLowerCase()
  if (setting === 'true') return true
  if (setting === 'false') return false
  return aesConfigured
}

/** The admin tokens of the committed examples: public, so never a real one. */
export const SAMPLE_ADMIN_TOKENS = ['local-admin-token']

/**
 * https, or http to this machine only (a token service or a model run beside `npm run dev`):
 * the one rule for a service URL a setting names.
 *
 * @example
 * isSafeServiceUrl('http://127.0.0.1:8788/') // true
 */
export function isSafeServiceUrl(url: string): boolean {
  try {
    const parsed = new URL(url)
    if (parsed.protocol === 'https:') return true
    return (
      parsed.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname)
    )
  } catch {
    return false
  }
}

/** The warning for a guessable Token, naming where it is set. */
export function weakTokenWarning(name: string): string {
  return (
    `${name} is short or repetitive: one captured signature lets it be guessed offline; ` +
    'use 32 random letters and digits (openssl rand -hex 16)'
  )
}

/**
 * WeChat allows 3 to 32 letters and digits. The Token is what every signature rests on, and one
 * signed URL lets an attacker test guesses offline at billions a second: below 24 characters,
 * or with fewer than 10 distinct ones, it is within reach.
 */
function isWeakToken(token: string): boolean {
  return token.length < 24 || new Set(token).size < 10
}

/** A positive number from a string or a number; the fallback otherwise. */
export function positive(value: unknown, fallback: number): number {
  const number = Number(value)
  return value !== undefined &&
    value !== null &&
    value !== '' &&
    Number.isFinite(number) &&
    number > 0
    ? number
    : fallback
}

/** The third-party platform (src/platform/): on with all four of its settings. */
export interface PlatformSettings {
  readonly appId: string
  readonly appSecret: string
  /** Its pushes, to both of its URLs, are verified with this: always encrypted, sealed for its AppID. */
  readonly envelope: Account
  readonly apiBase: string
  readonly textLimitBytes: number
}

/**
 * An account that authorized the platform, by its AppID: its pushes come signed and sealed with
 * the platform's Token and key (the AppID sealed inside is the platform's), and its token is
 * the platform's to refresh. Found from the configuration alone, as any account is: whether it
 * has authorized the platform is its owners' to check (src/platform/).
 *
 * @example
 * authorizerAccount(platform, 'wx570bc396a51b8ff8')
 */
export function authorizerAccount(platform: PlatformSettings, appId: string): AccountSettings {
  return {
    id: appId,
    envelope: platform.envelope,
    talkBack: {
      appId,
      apiBase: platform.apiBase,
      source: 'authorizer',
      appSecret: null,
      tokenUrl: null,
      tokenUrlSecret: null,
      textLimitBytes: platform.textLimitBytes,
    },
    login: null,
    adminToken: null,
    // Customer-service messages are the platform's to send, with the permission the grant holds.
    passiveOnly: false,
    web: { on: false, why: 'the web side is not served for accounts of the third-party platform' },
    problems: [],
    warnings: [],
  }
}
