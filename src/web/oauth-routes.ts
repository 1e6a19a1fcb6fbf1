/**
 * WeChat's web authorization (网页授权) for the website's pages, over HTTP. For the env account as
 * below; another account adds `?account=<id>` (resolved once per request: src/web/account.ts).
 *
 * - `GET /oauth/start?redirect=<url>&scope=snsapi_base|snsapi_userinfo` → 302 to WeChat's
 *   authorize page, with a fresh state bound to this browser by a cookie (src/web/state.ts);
 *   `redirect` must be on one of WEB_ORIGINS (400 otherwise: no open redirect)
 * - `GET /oauth/callback?code&state` (WeChat sends the browser here) → 302 to the website's
 *   `redirect` with a one-time `ticket`, or `error=denied` when the user refused; a reload lands
 *   where the first did, or on a clear page once the ticket was used (src/web/authorization.ts)
 * - `POST /oauth/exchange` with `Authorization: Bearer <WEB_SECRET>` and `{ "ticket" }` →
 *   `{ openid, unionid?, scope, subscribed?, snapshotUser?, userinfo? }`, once
 *
 * Nothing here logs a code, a state, a ticket or an OpenID.
 */

import { Hono } from 'hono/tiny'
import { carriesBearer } from '../http/bearer.ts'
import { readJsonObject } from '../http/body.ts'
import { logEvent, logProblem } from '../log.ts'
import { WechatApiError } from '../wechat/api.ts'
import { authorizeBaseOf, authorizeUrl, isOAuthScope } from '../wechat/oauth.ts'
import { accountFor, accountQuery, type WebAccount, type WebEnv } from './account.ts'
import type { Landing, SignedIn } from './authorization.ts'
import { selfOrigin } from './link.ts'
import { clearPage, PAGES } from './pages.ts'
import { HEX_ID, MAX_URL_CHARS, randomHex, STATE_SECONDS, withQuery } from './rules.ts'
import { allowedOrigin } from './settings.ts'
import { cookieName, cookieValue, openGrant, sealGrant, stateCookie } from './state.ts'

/** Redirects leak nothing of our URL (code, state) to the next page. */
const REDIRECT_HEADERS = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' }

/** WeChat's codes are short; anything longer is not one. */
const MAX_CODE_CHARS = 512

/** The website's origin, for a clear page's link back. */
function originOf(url: string): string {
  return new URL(url).origin
}

export const oauth = new Hono<WebEnv>()
  .use('*', accountFor('oauth'))
  .get('/start', async (c) => {
    const account = c.get('account')
    const scope = c.req.query('scope') ?? 'snsapi_base'
    if (!isOAuthScope(scope)) return c.text('scope is snsapi_base or snsapi_userinfo', 400)
    const redirect = c.req.query('redirect') ?? ''
    if (redirect.length > MAX_URL_CHARS || allowedOrigin(redirect, account.origins) === null) {
      return c.text('redirect must be a URL on one of WEB_ORIGINS', 400)
    }
    // The state's cookie is Secure: a start over plain http moves to https first.
    const self = selfOrigin(c.req.url)
    const asked = new URL(c.req.url)
    if (asked.origin !== self) return c.redirect(`${self}${asked.pathname}${asked.search}`, 308)
    const state = randomHex()
    const sealed = await sealGrant(
      {
        state,
        appId: account.appId,
        redirect: new URL(redirect).href,
        scope,
        expiresAt: Date.now() + STATE_SECONDS * 1000,
      },
      account.secret,
    )
    const redirectUri = withQuery(`${self}/oauth/callback`, accountQuery(account))
    const location = authorizeUrl(authorizeBaseOf(account.apiBase), {
      appId: account.appId,
      redirectUri,
      scope,
      state,
    })
    logEvent('oauth_started', { scope })
    return c.body(null, 302, {
      ...REDIRECT_HEADERS,
      Location: location,
      'Set-Cookie': stateCookie(state, sealed),
    })
  })
  .get('/callback', async (c) => {
    const account = c.get('account')
    const state = c.req.query('state') ?? ''
    const sealed = HEX_ID.test(state)
      ? cookieValue(c.req.header('Cookie') ?? null, cookieName(state))
      : null
    const grant =
      sealed === null
        ? null
        : await openGrant(sealed, { state, appId: account.appId }, account.secret)
    if (!grant) {
      logEvent('oauth_callback', { outcome: 'not_started' })
      return clearPage(400, PAGES.notStarted)
    }
    const code = c.req.query('code') ?? ''
    if (code === '') {
      // WeChat sends a refusal back with the state alone.
      logEvent('oauth_callback', { outcome: 'denied', scope: grant.scope })
      return c.body(null, 302, {
        ...REDIRECT_HEADERS,
        Location: withQuery(grant.redirect, { error: 'denied' }),
      })
    }
    if (code.length > MAX_CODE_CHARS) return clearPage(400, PAGES.refused, originOf(grant.redirect))
    const { appSecret } = account
    if (appSecret === null) return c.text('not found', 404)
    const landing = await c.env.WEB_AUTHORIZATIONS.getByName(account.authorization(state)).land(
      code,
      grant,
      { appId: account.appId, appSecret, apiBase: account.apiBase },
    )
    logEvent('oauth_callback', {
      outcome: landing.outcome,
      scope: grant.scope,
      ...(landing.outcome === 'landed' && { replay: landing.replay }),
      ...((landing.outcome === 'code_refused' || landing.outcome === 'failed') && {
        errcode: landing.code,
      }),
    })
    return landed(landing, originOf(grant.redirect))
  })
  .post('/exchange', async (c) => {
    const account = c.get('account')
    if (!(await carriesBearer(c.req.header('Authorization'), account.secret))) {
      return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    }
    const { ticket } = await readJsonObject(c.req.raw, 1024, '{"ticket": "…"}')
    const dot = typeof ticket === 'string' ? ticket.indexOf('.') : -1
    const state = dot === -1 ? '' : String(ticket).slice(0, dot)
    const secret = dot === -1 ? '' : String(ticket).slice(dot + 1)
    if (!HEX_ID.test(state) || !HEX_ID.test(secret)) return c.text('unknown ticket', 400)
    const signedIn = await c.env.WEB_AUTHORIZATIONS.getByName(
      account.authorization(state),
    ).exchange(secret)
    if (!signedIn) {
      logEvent('oauth_exchange', { outcome: 'refused' })
      return c.text('the ticket is unknown, expired or already used', 400)
    }
    const subscribed = signedIn.snapshotUser ? undefined : await subscribedOf(account, signedIn)
    logEvent('oauth_exchange', { outcome: 'traded', scope: signedIn.scope })
    return c.json(
      {
        openid: signedIn.openid,
        ...(signedIn.unionid !== undefined && { unionid: signedIn.unionid }),
        scope: signedIn.scope,
        ...(subscribed !== undefined && { subscribed }),
        ...(signedIn.snapshotUser && { snapshotUser: true }),
        ...(signedIn.userinfo !== undefined && { userinfo: signedIn.userinfo }),
      },
      200,
      { 'Cache-Control': 'no-store' },
    )
  })

/** The browser's way on from the callback. */
function landed(landing: Landing, website: string): Response {
  switch (landing.outcome) {
    case 'landed':
      return new Response(null, {
        status: 302,
        headers: { ...REDIRECT_HEADERS, Location: landing.location },
      })
    case 'used':
    case 'other_code':
      return clearPage(400, PAGES.used, website)
    case 'code_refused':
      return clearPage(400, PAGES.refused, website)
    case 'failed':
      return clearPage(503, PAGES.unavailable, website)
    default:
      return landing satisfies never
  }
}

/**
 * Whether the user follows the account, as WeChat's `cgi-bin/user/info` answers now
 * (`subscribe`); undefined when WeChat cannot say (no permission, busy).
 * https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html
 */
async function subscribedOf(account: WebAccount, user: SignedIn): Promise<boolean | undefined> {
  try {
    const info = await account.wechat.call<{ subscribe?: unknown }>('cgi-bin/user/info', {
      query: { openid: user.openid, lang: 'zh_CN' },
    })
    return info.subscribe === 1
  } catch (error) {
    if (!(error instanceof WechatApiError)) throw error
    logProblem('oauth_subscribed_unknown', { failure: error.failure, code: error.code })
    return undefined
  }
}
