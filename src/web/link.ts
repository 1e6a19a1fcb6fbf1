/**
 * Links into the web side: the Worker's own origin as a browser must reach it, and the link that
 * starts a sign-in, for a bot's reply or a menu's `view` button (`context.webLink`).
 */

import type { Env } from '../env.ts'
import type { OAuthScope } from '../wechat/oauth.ts'
import { accountQuery, webAccountOf } from './account.ts'
import { MAX_URL_CHARS } from './rules.ts'
import { allowedOrigin } from './settings.ts'

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]']

/**
 * The Worker's origin for links a browser follows: https (the state's cookie is Secure), except
 * on this machine, where the dev server is plain http.
 *
 * @example
 * selfOrigin('http://wechat.example.com/wechat?signature=…') // 'https://wechat.example.com'
 */
export function selfOrigin(requestUrl: string): string {
  const url = new URL(requestUrl)
  return LOOPBACK.includes(url.hostname) ? url.origin : `https://${url.host}`
}

/**
 * The link that signs a WeChat user in to `redirect` (a page of the website) through the Worker
 * at `workerOrigin`; for a menu's `view` button, write it out with the Worker's own domain.
 *
 * @example
 * oauthStartLink('https://wechat.example.com', 'https://shop.example.com/orders', 'snsapi_base')
 * // 'https://wechat.example.com/oauth/start?redirect=https%3A%2F%2Fshop.example.com%2Forders&scope=snsapi_base'
 */
export function oauthStartLink(
  workerOrigin: string,
  redirect: string,
  scope: OAuthScope = 'snsapi_base',
  query: Readonly<Record<string, string>> = {},
): string {
  const url = new URL('/oauth/start', workerOrigin)
  url.searchParams.set('redirect', redirect)
  url.searchParams.set('scope', scope)
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value)
  return url.toString()
}

/** Builds sign-in links for a bot's handlers: see `HandlerContext.webLink`. */
export type WebLink = (redirect: string, scope?: OAuthScope) => string

/**
 * The link builder of the account a push came to, for pushes that reached the Worker at
 * `workerOrigin` (null: a deferred job queued before jobs carried it). A link `/oauth/start`
 * would refuse (the web side off, a page off WEB_ORIGINS) throws at once, in the handler,
 * rather than greeting the user with a 400.
 */
export function webLinkFor(env: Env, accountId: string, workerOrigin: string | null): WebLink {
  return (redirect, scope = 'snsapi_base') => {
    if (workerOrigin === null) {
      throw new TypeError('webLink: this job was queued without the Worker’s origin')
    }
    const account = webAccountOf(env, accountId)
    if (!account || account.oauthOff !== null) {
      throw new TypeError(
        'webLink: web authorization is off (WEB_ORIGINS, WEB_SECRET, WECHAT_APPSECRET)',
      )
    }
    if (redirect.length > MAX_URL_CHARS || allowedOrigin(redirect, account.origins) === null) {
      throw new TypeError('webLink: the page is not on one of WEB_ORIGINS')
    }
    return oauthStartLink(workerOrigin, redirect, scope, accountQuery(account))
  }
}
