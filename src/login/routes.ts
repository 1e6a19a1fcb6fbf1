/**
 * Scan to log in over HTTP ("公众号扫码登录"). A website's page (or its backend) starts a login
 * and shows its QR code; the user scans it in WeChat and agrees there; the page polls until
 * then and holds a one-time code; the website's backend trades the code for the OpenID with
 * LOGIN_SECRET. The code goes only to whoever holds the login's id, the OpenID only to whoever
 * holds the secret, and the id appears in no URL (request lines reach logs and proxies).
 *
 * - `POST /login/qr` → 201 `{ id, ticket, image, expiresAt }`: public, bounded per client; with
 *   `Authorization: Bearer <LOGIN_SECRET>` the website's backend starts it, and may pass
 *   `{ "address", "browser", "place" }` of the end user (counted and shown instead)
 * - `POST /login/status` `{ "id" }` → `{ status: "waiting" | "scanned" | "confirmed" |
 *   "expired", code?, expiresAt? }` (a `text/plain` body works: no preflight for another origin)
 * - `POST /login/exchange` with `Authorization: Bearer <LOGIN_SECRET>` and `{ "code" }` →
 *   `{ openid, subscribed, newFollower, scene }`, once
 *
 * For an account other than the env one, each route takes `?account=<id>`, and that account's
 * `loginSecret`: its logins, its gate and its QR codes are its own.
 */

import { Hono } from 'hono/tiny'
import { type AccountScoped, forAccount } from '../http/account-scope.ts'
import { refusalAnswer } from '../http/api-failure.ts'
import { carriesBearer } from '../http/bearer.ts'
import { readJsonObject } from '../http/body.ts'
import { logProblem } from '../log.ts'
import { talkerFor } from '../talk/talk.ts'
import { WechatApiError } from '../wechat/api.ts'
import { LOGIN_SCENE_PREFIX } from '../wechat/qrcode.ts'
import { sha1Hex } from '../wechat/signature.ts'
import {
  browserOf,
  LOGIN_ID_PATTERN,
  networkOf,
  type Requester,
  randomToken,
  requesterField,
  requesterOf,
} from './rules.ts'
import type { Starter } from './session.ts'

/** Public routes for pages on the website's own origin: no credentials, so any origin may call. */
const PUBLIC = { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' }

const preflight = (methods: string) => ({
  ...PUBLIC,
  'Access-Control-Allow-Methods': methods,
  'Access-Control-Allow-Headers': 'Content-Type',
  'Access-Control-Max-Age': '600',
})

/** A client, as the gate counts it: a hash of its network, never the address itself. */
async function clientOf(address: string): Promise<string> {
  return (await sha1Hex(`login-gate:${networkOf(address)}`)).slice(0, 16)
}

interface Started {
  readonly starter: Starter
  /** Whom the gate counts; null for a backend that passed no address. */
  readonly client: string | null
  readonly requester: Requester | null
}

/**
 * Who starts this login, whom the gate counts, and what the user will be told of them; null
 * when the request claims to be the backend with the wrong secret.
 */
async function starterOf(request: Request, secret: string): Promise<Started | null> {
  if (request.headers.has('Authorization')) {
    if (!(await carriesBearer(request.headers.get('Authorization') ?? undefined, secret))) {
      return null
    }
    const told = request.body
      ? await readJsonObject(request, 1024, '{"address"?, "browser"?, "place"?}')
      : {}
    const address = requesterField(told.address)
    return {
      starter: 'site',
      client: address === undefined ? null : await clientOf(address),
      requester: requesterOf(told.browser, told.place),
    }
  }
  // A stranger's page tells nothing we can trust: the user is shown what the request itself
  // says of its browser and place, which for a QRLJacker is the attacker's own.
  const cf = (request as { cf?: { city?: unknown; country?: unknown } }).cf
  return {
    starter: 'anonymous',
    client: await clientOf(request.headers.get('CF-Connecting-IP') ?? 'local'),
    requester: requesterOf(
      browserOf(request.headers.get('User-Agent')),
      [cf?.city, cf?.country].filter((part) => typeof part === 'string').join(', '),
    ),
  }
}

export const login = new Hono<AccountScoped>()
  .use('*', forAccount('query'))
  .use('*', async function loginEnabled(c, next) {
    if (!c.var.account.login) return c.text('not found', 404)
    await next()
  })
  .options('/qr', (c) => c.body(null, 204, preflight('POST')))
  .options('/status', (c) => c.body(null, 204, preflight('POST')))
  .post('/qr', async (c) => {
    const { account } = c.var
    const wechat = talkerFor(c.env, account)
    if (!wechat || !account.login) return c.text('scan to log in needs the account’s AppID', 503)
    const started = await starterOf(c.req.raw, account.login.secret)
    if (!started) return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    const gate = c.var.objects.loginGate()
    if (!(await gate.admit(started.starter, started.client))) {
      return c.text('too many logins started: try again in a minute', 429, {
        ...PUBLIC,
        'Retry-After': '60',
      })
    }
    const id = randomToken()
    const scene = `${LOGIN_SCENE_PREFIX}${id}`
    const expireSeconds = account.login.expireSeconds
    try {
      const code = await wechat.createQrCode({ scene, expireSeconds })
      const expiresAt = Date.now() + (code.expireSeconds ?? expireSeconds) * 1000
      await c.var.objects.login(id).start(id, scene, expiresAt, started.requester)
      return c.json({ id, ticket: code.ticket, image: code.image, expiresAt }, 201, PUBLIC)
    } catch (error) {
      if (!(error instanceof WechatApiError)) throw error
      logProblem('login_qr_failed', { failure: error.failure, code: error.code })
      // A public route: the status, never WeChat's errcode.
      return c.json({ error: error.failure }, refusalAnswer(error).status, PUBLIC)
    }
  })
  .post('/status', async (c) => {
    // JSON in any content type: a page on another origin sends text/plain, with no preflight.
    const { id } = await readJsonObject(c.req.raw, 1024, '{"id": "…"}')
    if (typeof id !== 'string' || !LOGIN_ID_PATTERN.test(id)) {
      return c.json({ status: 'expired' }, 404, PUBLIC)
    }
    return c.json(await c.var.objects.login(id).status(), 200, PUBLIC)
  })
  .post('/exchange', async (c) => {
    const secret = c.var.account.login?.secret ?? ''
    if (!(await carriesBearer(c.req.header('Authorization'), secret))) {
      return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    }
    const { code } = await readJsonObject(c.req.raw, 1024, '{"code": "…"}')
    const [id, codeSecret] = typeof code === 'string' ? code.split('.') : []
    if (!id || !codeSecret || !LOGIN_ID_PATTERN.test(id)) return c.text('unknown code', 400)
    const loggedIn = await c.var.objects.login(id).exchange(codeSecret)
    if (!loggedIn) return c.text('the code is unknown, expired or already used', 400)
    return c.json(loggedIn, 200, { 'Cache-Control': 'no-store' })
  })
