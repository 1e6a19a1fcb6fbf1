/**
 * The fake WeChat API's third-party platform (src/debug/fake-wechat.ts mounts it): the
 * component endpoints with WeChat's shapes, limits and errcodes (PLATFORM_RULES, each cited),
 * WeChat's two authorization pages (opened only from the platform's domain), the authorizer's
 * info (its original id), and controls that play what WeChat does on its own: a new
 * ticket, an account's administrator authorizing or revoking. Given a `push`, it sends the
 * events it makes to the platform's authorization event URL, as WeChat does (the dev server
 * passes one; the tests' fake has none and forges the events itself). State is in memory.
 *
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/ThirdParty/token/component_access_token.html
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/ThirdParty/token/pre_auth_code.html
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/ThirdParty/token/authorization_info.html
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/ThirdParty/token/api_authorizer_token.html
 *
 * Control routes (not WeChat's):
 * - `POST /fake/platform/ticket` {component_appid}: a new component_verify_ticket (pushed);
 * - `POST /fake/platform/authorize` {component_appid, pre_auth_code, authorizer_appid}: the
 *   administrator allowed, as the consent page's button does: an `auth_code` (pushed as
 *   `authorized`) and the redirect the browser would follow;
 * - `POST /fake/platform/unauthorize` {component_appid, authorizer_appid}: revoked in WeChat
 *   (pushed as `unauthorized`): its refresh token and tokens refused from now on;
 * - `POST /fake/platform/age` {component_appid, seconds}: the tickets that much older;
 * - `GET /fake/platform/stats?component_appid=&authorizer_appid=`: the calls each endpoint took
 *   (the trades and refreshes for that authorizer).
 * `POST /fake/fail` {path: component, for: the component appid} fails the next component calls.
 */

import { Hono } from 'hono/tiny'
import { RELEASE_TEST_ACCOUNTS } from '../wechat/platform.ts'
import { escapeHtml, PAGE_HEADERS } from './fake-pages.ts'
import { ERRCODES, PLATFORM_RULES } from './fake-wechat-rules.ts'
import { forgePlatformEventXml, type PlatformEventFields } from './forge.ts'

/** What the platform shares with the rest of the fake: authorizers' tokens work on every API. */
export interface FakeTokens {
  /** A new access token for an account (the previous one kept five minutes), as WeChat issues it. */
  issue(appid: string): { readonly token: string; readonly expiresIn: number }
  /** The account's tokens refused from now on. */
  revoke(appid: string): void
  /** An injected failure for `key` (`/fake/fail`), taken once. */
  injected(key: string): number | null
}

/** Sends an event to the platform's authorization event URL, signed and sealed for it. */
export type PlatformPush = (componentAppId: string, eventXml: string) => Promise<void>

interface Grant {
  refreshToken: string
  previous: string | null
  previousUntil: number
  authorized: boolean
}

const MAX_KEYS = 1000

/**
 * The original id (gh_…) the fake gives an authorizer: the release test's accounts have
 * WeChat's own, any other is made from its AppID, so that a test can name it in its pushes.
 */
export function fakeUserNameOf(appid: string): string {
  return (
    RELEASE_TEST_ACCOUNTS.find((account) => account.appId === appid)?.user ??
    `gh_${appid.slice(2, 14)}`
  )
}

/** The lowercase letters and digits of a fresh random text. */
const randomText = () => crypto.randomUUID().replaceAll('-', '')

/** `redirect_uri` "填写格式为https://xxx"; plain http for this machine's dev server. */
function redirectTarget(value: string | undefined): URL | null {
  try {
    const url = new URL(value ?? '')
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
    return url.protocol === 'https:' || (url.protocol === 'http:' && loopback) ? url : null
  } catch {
    return null
  }
}

/**
 * @example
 * app.route('/', fakePlatform(tokens, push))
 */
export function fakePlatform(tokens: FakeTokens, push: PlatformPush | null = null) {
  const tickets = new Map<string, { ticket: string; at: number }[]>()
  const componentTokens = new Map<string, { appid: string; expiresAt: number }>()
  const latestComponentToken = new Map<string, string>()
  const preAuthCodes = new Map<string, { component: string; expiresAt: number; used: boolean }>()
  const authCodes = new Map<
    string,
    { component: string; authorizer: string; expiresAt: number; used: boolean }
  >()
  const grants = new Map<string, Grant>()
  const calls = new Map<string, number>()

  const bounded = <V>(map: Map<string, V>, key: string, value: V) => {
    map.delete(key)
    map.set(key, value)
    const oldest = map.keys().next()
    if (map.size > MAX_KEYS && !oldest.done) map.delete(oldest.value)
  }
  const counted = (what: string, component: string) =>
    bounded(calls, `${what}:${component}`, (calls.get(`${what}:${component}`) ?? 0) + 1)
  const answer = (code: number) =>
    Response.json({ errcode: code, errmsg: code === 0 ? 'ok' : `fake errcode ${code}` })
  const json = async (request: Request): Promise<Record<string, unknown>> => {
    try {
      const body: unknown = await request.json()
      return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
    } catch {
      return {}
    }
  }
  const text = (value: unknown) => (typeof value === 'string' ? value : '')
  const pushed = async (component: string, fields: PlatformEventFields) => {
    if (push) await push(component, forgePlatformEventXml(component, fields))
  }

  /**
   * The component whose valid token the call carries: WeChat's older pages name the parameter
   * `component_access_token`, its newer ones `access_token` (both are taken).
   */
  const componentOf = (request: Request): string | null => {
    const query = new URL(request.url).searchParams
    const token = query.get('component_access_token') ?? query.get('access_token') ?? ''
    const held = componentTokens.get(token)
    return held && held.expiresAt > Date.now() ? held.appid : null
  }

  /** The checks every component call meets: an injected failure (61004…), then the token. */
  const refusal = (request: Request, body: Record<string, unknown>) => {
    const component = text(body.component_appid)
    const failure = tokens.injected(`component:${component}`)
    if (failure !== null) return failure
    const holder = componentOf(request)
    if (holder === null) return ERRCODES.invalidToken
    if (holder !== component) return ERRCODES.invalidComponent
    return null
  }

  /** The administrator allowed: the pre-auth code spent, a code for the account, pushed. */
  const authorize = async (component: string, preAuthCode: string, authorizer: string) => {
    const preAuth = preAuthCodes.get(preAuthCode)
    if (!preAuth || preAuth.component !== component || preAuth.expiresAt <= Date.now()) {
      return { problem: 'the pre-auth code is unknown or expired (it lives 1800 s)' }
    }
    if (preAuth.used) return { problem: 'the pre-auth code was used: it works once' }
    if (!/^wx[0-9a-f]{16}$/.test(authorizer)) return { problem: 'an AppID is wx and 16 hex digits' }
    preAuth.used = true
    const code = `queryauthcode@@@${randomText()}${randomText()}`
    const now = Date.now()
    const expiresAt = now + PLATFORM_RULES.authCodeLifeSeconds * 1000
    bounded(authCodes, code, { component, authorizer, expiresAt, used: false })
    const key = `${component}:${authorizer}`
    const known = grants.get(key)
    await pushed(component, {
      infoType: known?.authorized ? 'updateauthorized' : 'authorized',
      authorizerAppId: authorizer,
      authorizationCode: code,
      preAuthCode,
      codeExpiredTime: Math.floor(expiresAt / 1000),
    })
    return { code, expiresIn: PLATFORM_RULES.authCodeLifeSeconds }
  }

  /**
   * WeChat's authorization page (desktop and mobile alike): who authorizes, and do they. The
   * browser must come from the platform's 授权发起页域名, the redirect's domain too (WeChat:
   * "授权入口页所在域名：空" for a visit with no Referer).
   */
  const authorizationPage = async (query: Record<string, string>, referer: string | undefined) => {
    const component = query.component_appid ?? ''
    const preAuth = preAuthCodes.get(query.pre_auth_code ?? '')
    const target = redirectTarget(query.redirect_uri)
    const from = (() => {
      try {
        return referer ? new URL(referer).host : null
      } catch {
        return null
      }
    })()
    const problem = !preAuth
      ? 'the pre-auth code is unknown'
      : preAuth.component !== component
        ? 'the pre-auth code is another platform’s'
        : target === null
          ? 'redirect_uri must be https://'
          : query.auth_type !== '1'
            ? 'this fake shows Service Accounts only (auth_type=1)'
            : from === null
              ? '授权入口页所在域名：空 (open this page from a page of the platform’s domain)'
              : from !== target.host
                ? '授权入口页所在域名与授权后回调页所在域名不同'
                : null
    if (problem !== null || target === null) {
      return new Response(`<!doctype html><p>${escapeHtml(problem ?? '')}</p>`, {
        status: 400,
        headers: { 'Content-Type': 'text/html; charset=utf-8', ...PAGE_HEADERS },
      })
    }
    if (query.consent !== 'allow') {
      const hidden = [
        'component_appid',
        'pre_auth_code',
        'redirect_uri',
        'auth_type',
        'action',
        'no_scan',
      ]
        .map(
          (name) => `<input type="hidden" name="${name}" value="${escapeHtml(query[name] ?? '')}">`,
        )
        .join('')
      const suggested = `wx${randomText().slice(0, 16)}`
      const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>WeChat (fake) · authorize a platform</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}input[type=text]{width:100%}</style></head>
<body><h1>Authorize ${escapeHtml(component)}</h1><p>The administrator of which Service Account authorizes it?</p>
<form method="get">${hidden}<label>AppID <input type="text" id="authorizer" name="authorizer_appid" value="${suggested}"></label>
<p><button id="allow" name="consent" value="allow">Authorize</button></p></form></body></html>`
      return new Response(page, {
        headers: { 'Content-Type': 'text/html; charset=utf-8', ...PAGE_HEADERS },
      })
    }
    const done = await authorize(component, query.pre_auth_code ?? '', query.authorizer_appid ?? '')
    if ('problem' in done) {
      return new Response(`<!doctype html><p>${escapeHtml(done.problem ?? '')}</p>`, {
        status: 400,
        headers: { 'Content-Type': 'text/html; charset=utf-8', ...PAGE_HEADERS },
      })
    }
    target.searchParams.set('auth_code', done.code)
    target.searchParams.set('expires_in', String(done.expiresIn))
    return Response.redirect(target.toString(), 302)
  }

  return new Hono()
    .post('/cgi-bin/component/api_component_token', async (c) => {
      const body = await json(c.req.raw)
      const component = text(body.component_appid)
      counted('component_token', component)
      const failure = tokens.injected(`component:${component}`)
      if (failure !== null) return answer(failure)
      if (!/^wx[0-9a-f]{16}$/.test(component)) return answer(ERRCODES.invalidAppid)
      if (body.component_appsecret === 'wrong-secret') return answer(ERRCODES.invalidSecret)
      const held = (tickets.get(component) ?? []).find(
        (entry) => entry.ticket === body.component_verify_ticket,
      )
      if (!held) return answer(ERRCODES.componentTicketInvalid)
      if (held.at + PLATFORM_RULES.ticketLifeMs <= Date.now()) {
        return answer(ERRCODES.componentTicketExpired)
      }
      const token = `FAKE_COMPONENT_TOKEN_${randomText()}`
      const now = Date.now()
      // The one before stays good five minutes (WeChat's staff), then is refused.
      const previous = latestComponentToken.get(component)
      const old = previous ? componentTokens.get(previous) : undefined
      if (old) old.expiresAt = Math.min(old.expiresAt, now + PLATFORM_RULES.oldValidMs)
      bounded(componentTokens, token, {
        appid: component,
        expiresAt: now + PLATFORM_RULES.componentTokenLifeMs,
      })
      bounded(latestComponentToken, component, token)
      return c.json({
        component_access_token: token,
        expires_in: PLATFORM_RULES.componentTokenLifeMs / 1000,
      })
    })
    .post('/cgi-bin/component/api_create_preauthcode', async (c) => {
      const body = await json(c.req.raw)
      counted('preauthcode', text(body.component_appid))
      const refused = refusal(c.req.raw, body)
      if (refused !== null) return answer(refused)
      const code = `preauthcode@@@${randomText()}${randomText()}`
      const expiresAt = Date.now() + PLATFORM_RULES.preAuthCodeLifeSeconds * 1000
      bounded(preAuthCodes, code, { component: text(body.component_appid), expiresAt, used: false })
      return c.json({ pre_auth_code: code, expires_in: PLATFORM_RULES.preAuthCodeLifeSeconds })
    })
    .post('/cgi-bin/component/api_query_auth', async (c) => {
      const body = await json(c.req.raw)
      const refused = refusal(c.req.raw, body)
      if (refused !== null) return answer(refused)
      const held = authCodes.get(text(body.authorization_code))
      if (held) counted('query_auth', `${held.component}:${held.authorizer}`)
      if (!held || held.component !== text(body.component_appid) || held.used) {
        return answer(ERRCODES.authCodeInvalid)
      }
      if (held.expiresAt <= Date.now()) return answer(ERRCODES.authCodeExpired)
      held.used = true
      // A new authorization gives a new refresh token: the one before it is no longer taken.
      const refreshToken = `refreshtoken@@@${randomText()}`
      bounded(grants, `${held.component}:${held.authorizer}`, {
        refreshToken,
        previous: null,
        previousUntil: 0,
        authorized: true,
      })
      const issued = tokens.issue(held.authorizer)
      return c.json({
        authorization_info: {
          authorizer_appid: held.authorizer,
          authorizer_access_token: issued.token,
          expires_in: issued.expiresIn,
          authorizer_refresh_token: refreshToken,
          func_info: PLATFORM_RULES.grantedPermissions.map((id) => ({
            funcscope_category: { id },
          })),
        },
      })
    })
    .post('/cgi-bin/component/api_authorizer_token', async (c) => {
      const body = await json(c.req.raw)
      const refused = refusal(c.req.raw, body)
      if (refused !== null) return answer(refused)
      const key = `${text(body.component_appid)}:${text(body.authorizer_appid)}`
      counted('authorizer_token', key)
      const grant = grants.get(key)
      if (!grant?.authorized) return answer(ERRCODES.notAuthorized)
      const presented = text(body.authorizer_refresh_token)
      const now = Date.now()
      const current = presented === grant.refreshToken
      if (!current && !(presented === grant.previous && now < grant.previousUntil)) {
        return answer(ERRCODES.refreshTokenInvalid)
      }
      // Rotated on every refresh, the worst WeChat does: the caller must keep the new one.
      if (current) {
        Object.assign(grant, {
          previous: grant.refreshToken,
          previousUntil: now + PLATFORM_RULES.oldValidMs,
          refreshToken: `refreshtoken@@@${randomText()}`,
        })
      }
      const issued = tokens.issue(text(body.authorizer_appid))
      return c.json({
        authorizer_access_token: issued.token,
        expires_in: issued.expiresIn,
        authorizer_refresh_token: grant.refreshToken,
      })
    })
    .get('/cgi-bin/componentloginpage', (c) =>
      authorizationPage(c.req.query(), c.req.header('Referer')),
    )
    .get('/wxaopen/safe/bindcomponent', (c) =>
      authorizationPage(c.req.query(), c.req.header('Referer')),
    )
    .post('/cgi-bin/component/api_get_authorizer_info', async (c) => {
      const body = await json(c.req.raw)
      const refused = refusal(c.req.raw, body)
      if (refused !== null) return answer(refused)
      const authorizer = text(body.authorizer_appid)
      const grant = grants.get(`${text(body.component_appid)}:${authorizer}`)
      if (!grant) return answer(ERRCODES.notAuthorized)
      return c.json({
        authorizer_info: {
          nick_name: `Fake account ${authorizer.slice(-4)}`,
          service_type_info: { id: 2 },
          verify_type_info: { id: 0 },
          user_name: fakeUserNameOf(authorizer),
        },
        authorization_info: {
          authorizer_appid: authorizer,
          func_info: PLATFORM_RULES.grantedPermissions.map((id) => ({
            funcscope_category: { id },
          })),
        },
      })
    })
    .post('/fake/platform/ticket', async (c) => {
      const component = text((await json(c.req.raw)).component_appid)
      if (!/^wx[0-9a-f]{16}$/.test(component)) return c.text('component_appid', 400)
      const ticket = `ticket@@@${randomText()}${randomText()}`
      bounded(
        tickets,
        component,
        [...(tickets.get(component) ?? []), { ticket, at: Date.now() }].slice(-10),
      )
      await pushed(component, { infoType: 'component_verify_ticket', ticket })
      return c.json({ ticket })
    })
    .post('/fake/platform/authorize', async (c) => {
      const body = await json(c.req.raw)
      const done = await authorize(
        text(body.component_appid),
        text(body.pre_auth_code),
        text(body.authorizer_appid),
      )
      if ('problem' in done) return c.text(done.problem ?? '', 400)
      return c.json({ auth_code: done.code, expires_in: done.expiresIn })
    })
    .post('/fake/platform/unauthorize', async (c) => {
      const body = await json(c.req.raw)
      const component = text(body.component_appid)
      const authorizer = text(body.authorizer_appid)
      const grant = grants.get(`${component}:${authorizer}`)
      if (!grant?.authorized) return c.text('not authorized', 404)
      grant.authorized = false
      tokens.revoke(authorizer)
      // Its codes not yet traded go with it.
      for (const held of authCodes.values()) {
        if (held.component === component && held.authorizer === authorizer) held.used = true
      }
      await pushed(component, { infoType: 'unauthorized', authorizerAppId: authorizer })
      return c.json({ ok: true })
    })
    .post('/fake/platform/age', async (c) => {
      const { component_appid: component, seconds } = await json(c.req.raw)
      for (const entry of tickets.get(text(component)) ?? []) {
        if (typeof seconds === 'number') entry.at -= seconds * 1000
      }
      return c.json({ ok: true })
    })
    .get('/fake/platform/stats', (c) => {
      const component = c.req.query('component_appid') ?? ''
      const authorizer = c.req.query('authorizer_appid') ?? ''
      const of = (what: string, key: string) => calls.get(`${what}:${key}`) ?? 0
      return c.json({
        componentTokens: of('component_token', component),
        preAuthCodes: of('preauthcode', component),
        queryAuth: of('query_auth', `${component}:${authorizer}`),
        authorizerTokens: of('authorizer_token', `${component}:${authorizer}`),
      })
    })
}
