/**
 * Reads the Worker's configuration once per env: typed values with their defaults, and the
 * problems that keep pushes from being served (named, never with a secret's value).
 */

import type { Env } from './env.ts'
import { MAX_LOGIN_SECONDS } from './login/rules.ts'
import { type WebConfig, webConfig } from './web/settings.ts'
import type { Account } from './wechat/envelope.ts'
import { TEXT_LIMIT_BYTES } from './wechat/split-text.ts'

/** How the account talks back after the 5 s window: WeChat's API and where tokens come from. */
export interface TalkBack {
  readonly appId: string
  readonly apiBase: string
  /** `stable_token`: fetched with the AppSecret. `url`: from your own token service. `pushed`:
   * only what `PUT /admin/access-token` hands in (WeChat whitelists token IPs: error 40164). */
  readonly source: 'stable_token' | 'url' | 'pushed'
  readonly appSecret: string | null
  readonly tokenUrl: string | null
  /** Sent to the token service as `Authorization: Bearer …`, so that it serves no one else. */
  readonly tokenUrlSecret: string | null
  /** A text past this many bytes of UTF-8 goes out in parts (src/wechat/split-text.ts). */
  readonly textLimitBytes: number
}

/**
 * Scan to log in (src/login/): on with a LOGIN_SECRET, which the website's backend holds, and
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

export interface Config {
  readonly account: Account
  /** Null without LOGIN_SECRET: the /login routes answer 404. */
  readonly login: LoginConfig | null
  /** Null without an AppID: nothing can be sent after the answer. */
  readonly talkBack: TalkBack | null
  /** The web side (src/web/: OAuth, the JS-SDK): off without WEB_ORIGINS and WEB_SECRET. */
  readonly web: WebConfig
  readonly replyBudgetMs: number
  readonly adminToken: string | null
  readonly debugConsole: boolean
  readonly queueRetryBaseSeconds: number
  /** Why pushes cannot be served; empty when all is well. */
  readonly problems: readonly string[]
  /** What is served but weaker than it should be (a guessable Token); never a secret's value. */
  readonly warnings: readonly string[]
}

const configs = new WeakMap<Env, Config>()

/**
 * @example
 * const { account, problems } = readConfig(c.env)
 */
export function readConfig(env: Env): Config {
  let config = configs.get(env)
  if (!config) {
    config = parseConfig(env)
    configs.set(env, config)
  }
  return config
}

function parseConfig(env: Env): Config {
  const problems: string[] = []
  const token = env.WECHAT_TOKEN?.trim() || ''
  const appId = env.WECHAT_APPID?.trim() || null
  let encodingAesKey = env.WECHAT_ENCODING_AES_KEY?.trim() || null

  if (!token) problems.push('WECHAT_TOKEN is not set')
  if (encodingAesKey !== null && !/^[A-Za-z0-9+/]{43}$/.test(encodingAesKey)) {
    problems.push('WECHAT_ENCODING_AES_KEY must be 43 base64 characters')
    encodingAesKey = null
  }
  if (encodingAesKey !== null && appId === null) {
    problems.push('WECHAT_APPID is required with WECHAT_ENCODING_AES_KEY')
  }
  const aes = encodingAesKey !== null && appId !== null ? { appId, encodingAesKey } : null
  const requireEncryption = encryptionRequired(env.REQUIRE_ENCRYPTION, aes !== null)
  if (requireEncryption && aes === null) {
    problems.push('REQUIRE_ENCRYPTION needs WECHAT_ENCODING_AES_KEY and WECHAT_APPID')
  }

  const warnings: string[] = []
  if (token && isWeakToken(token)) warnings.push(WEAK_TOKEN_WARNING)
  const adminToken = env.ADMIN_TOKEN?.trim() || null
  if (adminToken !== null && SAMPLE_ADMIN_TOKENS.includes(adminToken)) {
    warnings.push('ADMIN_TOKEN is the public sample value: anyone can use the admin API')
  }
  if (aes !== null && !requireEncryption) {
    warnings.push(
      'REQUIRE_ENCRYPTION=false accepts plaintext pushes although an EncodingAESKey is set: remove it once the migration is done (meanwhile only encrypted pushes sign anyone in)',
    )
  }
  const apiBase = env.WECHAT_API_BASE?.trim() || WECHAT_API
  if (apiBase !== WECHAT_API) {
    warnings.push(
      apiBase.startsWith('https://')
        ? 'WECHAT_API_BASE is not WeChat’s API: the AppSecret and access tokens go to another host'
        : 'WECHAT_API_BASE is not WeChat’s API and not https: the AppSecret and access tokens go out in clear',
    )
  }
  const appSecret = env.WECHAT_APPSECRET?.trim() || null
  // A wrong optional setting turns off its own feature, never the callback.
  let tokenUrl = env.WECHAT_TOKEN_URL?.trim() || null
  if (tokenUrl !== null && !isSafeServiceUrl(tokenUrl)) {
    warnings.push('WECHAT_TOKEN_URL is ignored: it must be https (http only on this machine)')
    tokenUrl = null
  }
  return {
    talkBack:
      appId === null
        ? null
        : {
            appId,
            apiBase,
            source: tokenUrl ? 'url' : appSecret ? 'stable_token' : 'pushed',
            appSecret,
            tokenUrl,
            tokenUrlSecret: env.WECHAT_TOKEN_URL_SECRET?.trim() || null,
            textLimitBytes: positive(env.TEXT_LIMIT_BYTES, TEXT_LIMIT_BYTES),
          },
    login: loginConfig(env, aes !== null, warnings),
    web: webConfig(env, { appId, appSecret }, warnings),
    account: {
      token,
      aes,
      requireEncryption,
      signatureMaxAgeSeconds: positive(env.SIGNATURE_MAX_AGE_SECONDS, 300),
    },
    replyBudgetMs: positive(env.REPLY_BUDGET_MS, 4500),
    adminToken,
    debugConsole: flag(env.DEBUG_CONSOLE),
    queueRetryBaseSeconds: nonNegative(env.QUEUE_RETRY_BASE_SECONDS, 2),
    problems,
    warnings,
  }
}

function loginConfig(env: Env, encrypted: boolean, warnings: string[]): LoginConfig | null {
  const secret = env.LOGIN_SECRET?.trim() || null
  if (secret === null) return null
  if (!encrypted) {
    warnings.push(
      'scan to log in is off: LOGIN_SECRET needs WECHAT_ENCODING_AES_KEY and WECHAT_APPID, since a plaintext push’s body is not signed and could name any user',
    )
    return null
  }
  const site = env.LOGIN_SITE?.trim() || null
  if (site === null) {
    warnings.push('LOGIN_SITE is not set: users are asked to sign in to “the website”, unnamed')
  }
  return {
    secret,
    site: site ?? 'the website',
    confirmWord: env.LOGIN_CONFIRM_WORD?.trim() || '1',
    reply: env.LOGIN_REPLY?.trim() || 'Signed in.',
    expireSeconds: Math.min(positive(env.LOGIN_EXPIRE_SECONDS, 120), MAX_LOGIN_SECONDS),
  }
}

/**
 * Encryption is required whenever an EncodingAESKey is configured: a plaintext signature covers
 * the query, not the body, so one leaked signed URL would let anyone post any body within the
 * window. `false` is the explicit switch for the migration from plaintext; `true` or `false`
 * override, anything else (`auto`, unset) follows the key.
 */
function encryptionRequired(value: string | undefined, aesConfigured: boolean): boolean {
  const setting = value?.trim().toLowerCase()
  if (setting === 'true') return true
  if (setting === 'false') return false
  return aesConfigured
}

const WECHAT_API = 'https://api.weixin.qq.com/'

/** The admin tokens of the committed examples: public, so never a real one. */
const SAMPLE_ADMIN_TOKENS = ['local-admin-token']

/** https, or http to this machine only (a token service run beside `npm run dev`). */
function isSafeServiceUrl(url: string): boolean {
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

export const WEAK_TOKEN_WARNING =
  'WECHAT_TOKEN is short or repetitive: one captured signature lets it be guessed offline; ' +
  'use 32 random letters and digits (openssl rand -hex 16)'

/**
 * WeChat allows 3 to 32 letters and digits. The Token is what every signature rests on, and one
 * signed URL lets an attacker test guesses offline at billions a second: below 24 characters,
 * or with fewer than 10 distinct ones, it is within reach.
 */
function isWeakToken(token: string): boolean {
  return token.length < 24 || new Set(token).size < 10
}

function flag(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true'
}

function positive(value: string | undefined, fallback: number): number {
  const number = Number(value)
  return value !== undefined && Number.isFinite(number) && number > 0 ? number : fallback
}

function nonNegative(value: string | undefined, fallback: number): number {
  const number = Number(value)
  return value !== undefined && value !== '' && Number.isFinite(number) && number >= 0
    ? number
    : fallback
}
