/**
 * Scan to log in over HTTP ("公众号扫码登录"). A website's page (or its backend) starts a login
 * and shows its QR code; the user scans it in WeChat; the page polls until the scan confirmed
 * it and then holds a one-time code; the website's backend trades the code for the OpenID with
 * LOGIN_SECRET. The code goes only to whoever holds the login's id, the OpenID only to whoever
 * holds the secret.
 *
 * - `POST /login/qr` → 201 `{ id, ticket, image, expiresAt }` (public, bounded per client)
 * - `GET /login/qr/:id` → `{ status: "waiting" | "confirmed" | "expired", code?, expiresAt? }`
 * - `POST /login/exchange` with `Authorization: Bearer <LOGIN_SECRET>` and `{ "code" }` →
 *   `{ openid, subscribed, newFollower, scene }`, once
 */

import { Hono } from 'hono/tiny'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { refusalAnswer } from '../http/api-failure.ts'
import { carriesBearer } from '../http/bearer.ts'
import { readBoundedText } from '../http/body.ts'
import { logProblem } from '../log.ts'
import { talkerFor } from '../talk/talk.ts'
import { WechatApiError } from '../wechat/api.ts'
import { LOGIN_SCENE_PREFIX } from '../wechat/qrcode.ts'
import { sha1Hex } from '../wechat/signature.ts'
import { LOGIN_ID_PATTERN, randomToken } from './rules.ts'

/** Public routes for pages on the website's own origin: no credentials, so any origin may call. */
const PUBLIC = { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' }

/** A client, as the gate counts it: a hash of its address, never the address itself. */
async function clientOf(request: Request): Promise<string> {
  const address = request.headers.get('CF-Connecting-IP') ?? 'local'
  return (await sha1Hex(`login-gate:${address}`)).slice(0, 16)
}

export const login = new Hono<{ Bindings: Env }>()
  .use('*', async function loginEnabled(c, next) {
    if (!readConfig(c.env).login) return c.text('not found', 404)
    await next()
  })
  .options('/qr/*', (c) =>
    c.body(null, 204, {
      ...PUBLIC,
      'Access-Control-Allow-Methods': 'GET, POST',
      'Access-Control-Max-Age': '600',
    }),
  )
  .options('/qr', (c) =>
    c.body(null, 204, {
      ...PUBLIC,
      'Access-Control-Allow-Methods': 'POST',
      'Access-Control-Max-Age': '600',
    }),
  )
  .post('/qr', async (c) => {
    const config = readConfig(c.env)
    const wechat = talkerFor(c.env)
    if (!wechat || !config.login) return c.text('scan to log in needs WECHAT_APPID', 503)
    const gate = c.env.LOGIN_GATE.getByName('gate')
    if (!(await gate.admit(await clientOf(c.req.raw)))) {
      return c.text('too many logins started: try again in a minute', 429, {
        ...PUBLIC,
        'Retry-After': '60',
      })
    }
    const id = randomToken()
    const scene = `${LOGIN_SCENE_PREFIX}${id}`
    const expireSeconds = config.login.expireSeconds
    try {
      const code = await wechat.createQrCode({ scene, expireSeconds })
      const expiresAt = Date.now() + (code.expireSeconds ?? expireSeconds) * 1000
      await c.env.LOGINS.getByName(id).start(id, scene, expiresAt)
      return c.json({ id, ticket: code.ticket, image: code.image, expiresAt }, 201, PUBLIC)
    } catch (error) {
      if (!(error instanceof WechatApiError)) throw error
      logProblem('login_qr_failed', { failure: error.failure, code: error.code })
      // A public route: the status, never WeChat's errcode.
      return c.json({ error: error.failure }, refusalAnswer(error).status, PUBLIC)
    }
  })
  .get('/qr/:id', async (c) => {
    const id = c.req.param('id')
    if (!LOGIN_ID_PATTERN.test(id)) return c.json({ status: 'expired' }, 404, PUBLIC)
    const status = await c.env.LOGINS.getByName(id).status()
    return c.json(status, 200, PUBLIC)
  })
  .post('/exchange', async (c) => {
    const secret = readConfig(c.env).login?.secret ?? ''
    if (!(await carriesBearer(c.req.header('Authorization'), secret))) {
      return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    }
    let code: unknown
    try {
      code = (JSON.parse(await readBoundedText(c.req.raw, 1024)) as { code?: unknown }).code
    } catch {
      return c.text('the body is {"code": "…"}', 400)
    }
    const [id, codeSecret] = typeof code === 'string' ? code.split('.') : []
    if (!id || !codeSecret || !LOGIN_ID_PATTERN.test(id)) return c.text('unknown code', 400)
    const loggedIn = await c.env.LOGINS.getByName(id).exchange(codeSecret)
    if (!loggedIn) return c.text('the code is unknown, expired or already used', 400)
    return c.json(loggedIn, 200, { 'Cache-Control': 'no-store' })
  })
