/**
 * The account a web request is for, resolved once per request: everything per account the web
 * side uses (the AppID, how its tokens are obtained, the allowed origins, the holders' names)
 * comes from this one value. Today it knows the env account only (WECHAT_APPID and the rest);
 * `?account=<id>` naming anything is 404 until many accounts on one deployment (#27) plug in.
 */

import { createMiddleware } from 'hono/factory'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { talkerFor, type WechatClient } from '../talk/talk.ts'

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
 * The account `id` names (undefined: the env account), or null when it has no web side: the
 * routes answer 404 then.
 *
 * @example
 * const account = webAccountOf(c.env, c.req.query('account'))
 */
export function webAccountOf(env: Env, id: string | undefined): WebAccount | null {
  // Where #27 plugs in: an id resolves to that account's own configuration. Until then the
  // env account has no id, and any `?account=` names an account this deployment lacks.
  if (id !== undefined) return null
  const { web, talkBack } = readConfig(env)
  const wechat = talkerFor(env)
  if (!web.on || !talkBack || !wechat) return null
  const { appId } = talkBack
  return {
    id: null,
    appId,
    apiBase: talkBack.apiBase,
    appSecret: talkBack.appSecret,
    oauthOff: web.oauthOff,
    origins: web.origins,
    secret: web.secret,
    wechat,
    // The same names as the AccessToken's: by AppID, one per account.
    holders: { accessToken: appId, jsapiTicket: appId },
    authorization: (state) => `${appId}:${state}`,
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
