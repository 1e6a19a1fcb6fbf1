/**
 * The account a web request is for, resolved once per request: everything per account the web
 * side uses (the AppID, how its tokens are obtained, the allowed origins, the holders' names)
 * comes from this one value: the env account's (WECHAT_APPID, WEB_ORIGINS, …) without a
 * `?account=`, else that account's of WECHAT_ACCOUNTS (its webOrigins, webSecret, …).
 */

import { createMiddleware } from 'hono/factory'
import { scoped } from '../accounts/scope.ts'
import { ENV_ACCOUNT } from '../accounts/settings.ts'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { talkerFor, tokenHolderName, type WechatClient } from '../talk/talk.ts'

export interface WebAccount {
  /** The account's id as `?account=` names it; null for the env account (no parameter). */
  readonly id: string | null
  readonly appId: string
  /** WeChat's API, which web authorization's calls go under too (sns/…). */
  readonly apiBase: string
  /** For trading codes; null: web authorization is off (`oauthOff` says why), the JS-SDK on. */
  readonly appSecret: string | null
  readonly oauthOff: string | null
  /** The website origins allowed, parsed: redirects and signatures go to these only. */
  readonly origins: readonly string[]
  /** The website backend's bearer for `POST /oauth/exchange`. */
  readonly secret: string
  /** The account's API with its access token handled (user info, say). */
  readonly wechat: WechatClient
  /** Names of the account's objects: its holders, and one web authorization per state. */
  readonly holders: { readonly accessToken: string; readonly jsapiTicket: string }
  authorization(state: string): string
}

/**
 * The account `id` names (undefined: the env account), or null when it has none that is served
 * or no web side: the routes answer 404 then.
 *
 * @example
 * const account = webAccountOf(c.env, c.req.query('account'))
 */
export function webAccountOf(env: Env, id: string | undefined): WebAccount | null {
  const settings = readConfig(env).accounts.get(id ?? ENV_ACCOUNT)
  if (!settings || settings.problems.length > 0) return null
  const { web, talkBack } = settings
  const wechat = talkerFor(env, settings)
  if (!web.on || !talkBack || !wechat) return null
  const { appId } = talkBack
  // The same names as the account's AccessToken: by AppID, under the account's scope.
  const holder = tokenHolderName(settings.id, appId)
  return {
    id: settings.id === ENV_ACCOUNT ? null : settings.id,
    appId,
    apiBase: talkBack.apiBase,
    appSecret: talkBack.appSecret,
    oauthOff: web.oauthOff,
    origins: web.origins,
    secret: web.secret,
    wechat,
    holders: { accessToken: holder, jsapiTicket: holder },
    authorization: (state) => scoped(settings.id, `${appId}:${state}`),
  }
}

/** `?account=<id>` for the Worker's own links of this account; empty for the env account. */
export function accountQuery(account: WebAccount): Record<string, string> {
  return account.id === null ? {} : { account: account.id }
}

/** The web routes' Hono environment: the account, resolved once by {@link accountFor}. */
export type WebEnv = { Bindings: Env; Variables: { account: WebAccount } }

/**
 * The account of the request, resolved once: 404 when it has no web side (or, for the /oauth
 * routes, no web authorization).
 */
export function accountFor(part: 'oauth' | 'jssdk') {
  return createMiddleware<WebEnv>(async function webAccount(c, next) {
    const account = webAccountOf(c.env, c.req.query('account'))
    if (!account || (part === 'oauth' && account.oauthOff !== null)) return c.text('not found', 404)
    c.set('account', account)
    await next()
  })
}
