/**
 * A fake of WeChat's server API for local development and the tests, as strict as WeChat: it
 * issues and rotates access tokens, takes customer-service messages and typing commands only
 * within the user's windows and WeChat's limits, makes parametric QR codes (and their images),
 * and keeps a published menu (src/debug/fake-wechat-rules.ts, each rule
 * cited), and records what it took. Its state is in memory. `npm run dev` serves it at
 * /debug/wechat-api/ (only with DEBUG_CONSOLE=true); the tests reach it as
 * https://fake-wechat.test/.
 *
 * https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
 * https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html
 *
 * Control routes (not WeChat's):
 * - `POST /fake/interact` with a push's XML: the user did what the push says (WeChat learns it
 *   from the user; the console, the simulator and the tests tell the fake);
 * - `POST /fake/fail` {path: token | send | typing, code, times, for: an appid (token) or a
 *   touser}: the next calls fail with that errcode (rate limits 45009/45011, whitelists…);
 * - `POST /fake/late` {for: a touser, ms, times}: the next sends are taken, then answered `ms`
 *   later (past the caller's timeout);
 * - `POST /fake/expire` {appid}: WeChat forgets the token; `POST /fake/age` {appid, seconds}:
 *   the held token (and the last forced refresh) that much older; `POST /fake/revoke` {appid}: the API refuses the token,
 *   stable_token still returns it unforced;
 * - `GET /fake/qrcode?ticket=`: the scene WeChat knows for a ticket (the console scans with it);
 * - `GET /fake/sent?touser=`, `GET /fake/typing?touser=`, `GET /fake/stats?appid=`, and
 *   `GET /fake/token-service?appid=`: a token service of the account's own (WECHAT_TOKEN_URL).
 * Failures and state are per appid or user, so that tests running side by side never meet.
 */

import { Hono } from 'hono/tiny'
import {
  chargeWindow,
  contentErrcode,
  ERRCODES,
  type FakeUser,
  interact,
  interactionOf,
  menuErrcode,
  newFakeUser,
  QR_RULES,
  qrCodeRequestOf,
  TOKEN_RULES,
  typingErrcode,
} from './fake-wechat-rules.ts'

interface HeldTokens {
  token: string
  expiresAt: number
  /** The token before the last unforced rotation, valid until `previousUntil`. */
  previous: string | null
  previousUntil: number
  /** Forced refreshes: the day they count for, how many, and the last one's time. */
  forcedDay: number
  forcedToday: number
  lastForcedAt: number
}

interface Recorded {
  touser: string
  /** The account whose token sent it, as WeChat knows the sender of every call. */
  appid?: string | null
  body: Record<string, unknown>
  at: number
}

/** What it keeps is bounded: recorded calls, and the appids and users it holds state for. */
const MAX_RECORDED = 200
const MAX_KEYS = 1000
const DAY_MS = 24 * 60 * 60 * 1000

/**
 * @example
 * const fake = fakeWechat()
 * await fake.request('/cgi-bin/stable_token', { method: 'POST', body: '{…}' })
 */
export function fakeWechat() {
  const tokens = new Map<string, HeldTokens>()
  const tokenRequests = new Map<string, number>()
  const users = new Map<string, FakeUser>()
  const failures = new Map<string, { code: number; times: number }>()
  const late = new Map<string, { ms: number; times: number }>()
  /** Tokens the API refuses (40001) though stable_token still hands them back unforced. */
  const revoked = new Set<string>()
  const sent: Recorded[] = []
  const typing: Recorded[] = []
  /** QR codes by ticket, and each appid's published menu and count of permanent codes. */
  const qrCodes = new Map<string, { scene: string; expiresAt: number | null }>()
  const menus = new Map<string, unknown[]>()
  const permanentCodes = new Map<string, number>()
  let issued = 0

  const remember = (list: Recorded[], entry: Recorded) => {
    list.push(entry)
    if (list.length > MAX_RECORDED) list.shift()
  }
  /** Sets a key, forgetting the oldest once the map holds {@link MAX_KEYS}. */
  const bounded = <V>(map: Map<string, V>, key: string, value: V) => {
    map.delete(key)
    map.set(key, value)
    const oldest = map.keys().next()
    if (map.size > MAX_KEYS && !oldest.done) map.delete(oldest.value)
  }
  const userOf = (openid: string) => {
    const user = users.get(openid) ?? newFakeUser()
    bounded(users, openid, user)
    return user
  }
  /** Takes one pending use of a control (a failure, a late answer) for this key. */
  const take = <V extends { times: number }>(map: Map<string, V>, key: string): V | null => {
    const pending = map.get(key)
    if (!pending || pending.times <= 0) return null
    pending.times--
    return pending
  }

  const validToken = (token: string | undefined) => {
    if (token === undefined || revoked.has(token)) return false
    const now = Date.now()
    for (const held of tokens.values()) {
      if (held.token === token && held.expiresAt > now) return true
      if (held.previous === token && held.previousUntil > now) return true
    }
    return false
  }

  const json = async (request: Request): Promise<Record<string, unknown>> => {
    try {
      const body: unknown = await request.json()
      return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
    } catch {
      return {}
    }
  }

  const answer = (code: number) =>
    Response.json({ errcode: code, errmsg: code === 0 ? 'ok' : `fake errcode ${code}` })

  /** The checks every send and typing call meets first: an injected failure, then the token. */
  const refusal = (request: Request, path: 'send' | 'typing', touser: unknown): number | null => {
    const failure = take(failures, `${path}:${String(touser)}`)
    if (failure) return failure.code
    const token = new URL(request.url).searchParams.get('access_token') ?? undefined
    if (!validToken(token)) return ERRCODES.invalidToken
    if (typeof touser !== 'string' || touser === '') return ERRCODES.invalidOpenid
    return null
  }

  const send = async (request: Request) => {
    const body = await json(request)
    const refused = refusal(request, 'send', body.touser) ?? contentErrcode(body)
    if (refused !== 0) return answer(refused)
    const touser = String(body.touser)
    const charged = chargeWindow(userOf(touser), Date.now())
    if (charged !== 0) return answer(charged)
    remember(sent, { touser, appid: appidOf(request), body, at: Date.now() })
    const delayed = take(late, touser)
    if (delayed) await new Promise((resolve) => setTimeout(resolve, delayed.ms))
    return answer(ERRCODES.ok)
  }

  const typingCall = async (request: Request) => {
    const body = await json(request)
    const refused =
      refusal(request, 'typing', body.touser) ??
      typingErrcode(userOf(String(body.touser)), body.command, Date.now())
    if (refused === 0) remember(typing, { touser: String(body.touser), body, at: Date.now() })
    return answer(refused)
  }

  /** The appid whose valid token the request carries, or null (WeChat answers 40001). */
  const appidOf = (request: Request): string | null => {
    const token = new URL(request.url).searchParams.get('access_token') ?? undefined
    if (!validToken(token)) return null
    for (const [appid, held] of tokens) {
      if (held.token === token || held.previous === token) return appid
    }
    return null
  }

  const newToken = () => `FAKE_TOKEN_${++issued}_${crypto.randomUUID()}`

  /** stable_token: the held token, rotated in its last minutes, or a new one when forced. */
  const tokenFor = (appid: string, force: boolean): Record<string, unknown> => {
    const now = Date.now()
    let held = tokens.get(appid)
    if (force && held) {
      const day = Math.floor(now / DAY_MS)
      if (held.forcedDay !== day) Object.assign(held, { forcedDay: day, forcedToday: 0 })
      if (held.forcedToday >= TOKEN_RULES.forcedPerDay) return { errcode: ERRCODES.dailyQuota }
      if (now - held.lastForcedAt < TOKEN_RULES.forcedSpacingMs) {
        return { errcode: ERRCODES.frequency }
      }
      held.forcedToday++
      held.lastForcedAt = now
      // getStableAccessToken: a forced refresh "invalidates the previously obtained" token.
      Object.assign(held, {
        token: newToken(),
        expiresAt: now + TOKEN_RULES.lifetimeMs,
        previous: null,
      })
    } else if (!held || held.expiresAt <= now) {
      held = {
        token: newToken(),
        expiresAt: now + TOKEN_RULES.lifetimeMs,
        previous: null,
        previousUntil: 0,
        forcedDay: held?.forcedDay ?? 0,
        forcedToday: held?.forcedToday ?? 0,
        lastForcedAt: held?.lastForcedAt ?? 0,
      }
      bounded(tokens, appid, held)
    } else if (held.expiresAt - now < TOKEN_RULES.rotateWithinMs) {
      Object.assign(held, {
        previous: held.token,
        previousUntil: now + TOKEN_RULES.oldValidMs,
        token: newToken(),
        expiresAt: now + TOKEN_RULES.lifetimeMs,
      })
    }
    return { access_token: held.token, expires_in: Math.round((held.expiresAt - now) / 1000) }
  }

  const countRequest = (appid: string) =>
    bounded(tokenRequests, appid, (tokenRequests.get(appid) ?? 0) + 1)

  return new Hono()
    .post('/cgi-bin/stable_token', async (c) => {
      const { appid, secret, force_refresh: force } = await json(c.req.raw)
      if (typeof appid !== 'string' || typeof secret !== 'string') {
        return answer(ERRCODES.invalidAppid)
      }
      countRequest(appid)
      const failure = take(failures, `token:${appid}`)
      if (failure) return answer(failure.code)
      if (secret === 'wrong-secret') return answer(ERRCODES.invalidSecret)
      const issuedToken = tokenFor(appid, force === true)
      return typeof issuedToken.errcode === 'number'
        ? answer(issuedToken.errcode)
        : c.json(issuedToken)
    })
    .get('/fake/token-service', (c) => {
      const appid = c.req.query('appid') ?? ''
      countRequest(appid)
      return c.json(tokenFor(appid, false))
    })
    .post('/cgi-bin/message/custom/send', (c) => send(c.req.raw))
    .post('/cgi-bin/qrcode/create', async (c) => {
      // The body is read before any answer: a request left unread when answered is an error.
      const body = await json(c.req.raw)
      const appid = appidOf(c.req.raw)
      if (appid === null) return answer(ERRCODES.invalidToken)
      const asked = qrCodeRequestOf(body)
      if ('errcode' in asked) return answer(asked.errcode)
      if (asked.expireSeconds === null) {
        const made = permanentCodes.get(appid) ?? 0
        if (made >= QR_RULES.permanentCodes) return answer(ERRCODES.permanentCodesUsed)
        bounded(permanentCodes, appid, made + 1)
      }
      const ticket = `gQ${crypto.randomUUID().replaceAll('-', '')}`
      const expiresAt =
        asked.expireSeconds === null ? null : Date.now() + asked.expireSeconds * 1000
      bounded(qrCodes, ticket, { scene: asked.scene, expiresAt })
      return c.json({
        ticket,
        ...(asked.expireSeconds !== null && { expire_seconds: asked.expireSeconds }),
        url: `http://weixin.qq.com/q/${ticket.slice(2, 24)}`,
      })
    })
    .get('/cgi-bin/showqrcode', (c) => {
      // An image of the code: here a drawing that names the ticket (WeChat's is a JPEG).
      const ticket = c.req.query('ticket') ?? ''
      const code = qrCodes.get(ticket)
      if (!code || (code.expiresAt !== null && code.expiresAt <= Date.now())) {
        return c.text('invalid ticket', 404)
      }
      const label = ticket.slice(0, 12).replace(/[^A-Za-z0-9]/g, '')
      return c.body(
        `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200"><rect width="200" height="200" fill="#fff" stroke="#000" stroke-width="8"/><rect x="20" y="20" width="50" height="50"/><rect x="130" y="20" width="50" height="50"/><rect x="20" y="130" width="50" height="50"/><text x="100" y="110" font-size="14" text-anchor="middle">${label}</text></svg>`,
        200,
        { 'Content-Type': 'image/svg+xml' },
      )
    })
    .post('/cgi-bin/menu/create', async (c) => {
      const { button } = await json(c.req.raw)
      const appid = appidOf(c.req.raw)
      if (appid === null) return answer(ERRCODES.invalidToken)
      const refused = menuErrcode(button)
      if (refused !== 0) return answer(refused)
      bounded(menus, appid, button as unknown[])
      return answer(ERRCODES.ok)
    })
    .get('/cgi-bin/get_current_selfmenu_info', (c) => {
      const appid = appidOf(c.req.raw)
      if (appid === null) return answer(ERRCODES.invalidToken)
      const buttons = menus.get(appid)
      if (!buttons) return c.json({ is_menu_open: 0 })
      // WeChat answers sub-buttons as { list: [...] }.
      const button = buttons.map((entry) => {
        const { sub_button: subs, ...rest } = entry as Record<string, unknown>
        return subs === undefined ? rest : { ...rest, sub_button: { list: subs } }
      })
      return c.json({ is_menu_open: 1, selfmenu_info: { button } })
    })
    .get('/fake/qrcode', (c) => {
      // What WeChat knows when a user scans a code: its scene. The console "scans" with it.
      const code = qrCodes.get(c.req.query('ticket') ?? '')
      if (!code) return c.text('unknown ticket', 404)
      const expired = code.expiresAt !== null && code.expiresAt <= Date.now()
      return c.json({ scene: code.scene, expired })
    })
    .post('/cgi-bin/message/custom/typing', (c) => typingCall(c.req.raw))
    .post('/fake/interact', async (c) => {
      const interaction = interactionOf(await c.req.text())
      if (!interaction) return c.text('not a user’s push', 400)
      interact(userOf(interaction.openid), interaction)
      return c.json({ ok: true, opens: interaction.opens })
    })
    .post('/fake/fail', async (c) => {
      const { path, code, times, for: target } = await json(c.req.raw)
      if (typeof path !== 'string' || typeof code !== 'number' || typeof target !== 'string') {
        return c.text('path, code and for', 400)
      }
      bounded(failures, `${path}:${target}`, { code, times: typeof times === 'number' ? times : 1 })
      return c.json({ ok: true })
    })
    .post('/fake/late', async (c) => {
      const { ms, times, for: target } = await json(c.req.raw)
      if (typeof ms !== 'number' || typeof target !== 'string') return c.text('ms and for', 400)
      bounded(late, target, { ms, times: typeof times === 'number' ? times : 1 })
      return c.json({ ok: true })
    })
    .post('/fake/expire', async (c) => {
      const { appid } = await json(c.req.raw)
      if (typeof appid === 'string') {
        const held = tokens.get(appid)
        if (held) Object.assign(held, { expiresAt: 0, previous: null })
      }
      return c.json({ ok: true })
    })
    .post('/fake/age', async (c) => {
      const { appid, seconds } = await json(c.req.raw)
      const held = typeof appid === 'string' ? tokens.get(appid) : undefined
      if (held && typeof seconds === 'number') {
        held.expiresAt -= seconds * 1000
        held.lastForcedAt -= seconds * 1000
      }
      return c.json({ ok: true })
    })
    .post('/fake/revoke', async (c) => {
      const { appid } = await json(c.req.raw)
      const held = typeof appid === 'string' ? tokens.get(appid) : undefined
      if (held) revoked.add(held.token)
      return c.json({ ok: true })
    })
    .get('/fake/sent', (c) => {
      const touser = c.req.query('touser')
      return c.json(sent.filter((entry) => entry.touser === touser))
    })
    .get('/fake/typing', (c) => {
      const touser = c.req.query('touser')
      return c.json(typing.filter((entry) => entry.touser === touser))
    })
    .get('/fake/stats', (c) => {
      const appid = c.req.query('appid') ?? ''
      return c.json({ tokenRequests: tokenRequests.get(appid) ?? 0 })
    })
}
