/**
 * A fake of WeChat's server API for local development and the tests: it issues stable access
 * tokens, takes customer-service messages and typing commands and records them, and can be
 * told to fail the next calls with a given errcode. Its state is in memory. `npm run dev`
 * serves it at /debug/wechat-api/ (only with DEBUG_CONSOLE=true); the tests reach it as
 * https://fake-wechat.test/.
 *
 * Control routes (not WeChat's): `POST /fake/fail` {path: token | send | typing, code, times,
 * for: an appid (token) or a touser (send, typing)}, `POST /fake/expire` {appid}, `POST
 * /fake/revoke` {appid} (the API refuses the token, stable_token still returns it unforced),
 * `GET /fake/sent?touser=`, `GET /fake/typing?touser=`, `GET /fake/stats?appid=`, and
 * `GET /fake/token-service?appid=`: a token service of the account's own (WECHAT_TOKEN_URL),
 * handing out the same tokens as stable_token. Failures are
 * aimed at one appid or user, so that tests running side by side never meet.
 */

import { Hono } from 'hono/tiny'

interface IssuedToken {
  token: string
  expiresAt: number
}

interface Recorded {
  touser: string
  body: Record<string, unknown>
  at: number
}

/** How long a fake token lives: WeChat's 7,200 s. */
const TOKEN_SECONDS = 7200
/** What it keeps is bounded: recorded calls, and the appids and users it holds state for. */
const MAX_RECORDED = 200
const MAX_KEYS = 1000

/**
 * @example
 * const fake = fakeWechat()
 * await fake.request('/cgi-bin/stable_token', { method: 'POST', body: '{…}' })
 */
export function fakeWechat() {
  const tokens = new Map<string, IssuedToken>()
  const tokenRequests = new Map<string, number>()
  const failures = new Map<string, { code: number; times: number }>()
  const sent: Recorded[] = []
  const typing: Recorded[] = []
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

  /** An errcode the test asked for, if one is pending for this path and appid or user. */
  const injected = (path: string, target: unknown): number | null => {
    const failure = failures.get(`${path}:${String(target)}`)
    if (!failure || failure.times <= 0) return null
    failure.times--
    return failure.code
  }

  /** Tokens the API refuses (40001) though stable_token still hands them back unforced. */
  const revoked = new Set<string>()

  const validToken = (token: string | undefined) =>
    token !== undefined &&
    !revoked.has(token) &&
    [...tokens.values()].some((held) => held.token === token && held.expiresAt > Date.now())

  const json = async (request: Request): Promise<Record<string, unknown>> => {
    try {
      const body: unknown = await request.json()
      return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
    } catch {
      return {}
    }
  }

  const errcode = (code: number) => ({ errcode: code, errmsg: `fake errcode ${code}` })

  /** A send or typing call: failed as asked, refused for a token WeChat did not issue, or taken. */
  const recordCall = async (request: Request, path: 'send' | 'typing', list: Recorded[]) => {
    const body = await json(request)
    const failure = injected(path, body.touser)
    if (failure !== null) return Response.json(errcode(failure))
    const token = new URL(request.url).searchParams.get('access_token') ?? undefined
    if (!validToken(token)) return Response.json(errcode(40001))
    remember(list, { touser: String(body.touser), body, at: Date.now() })
    return Response.json(errcode(0))
  }

  /** The appid's current token, a new one when it has none left or a refresh is forced. */
  const tokenFor = (appid: string, force: boolean) => {
    let held = tokens.get(appid)
    if (!held || held.expiresAt <= Date.now() || force) {
      held = {
        token: `FAKE_TOKEN_${++issued}_${crypto.randomUUID()}`,
        expiresAt: Date.now() + TOKEN_SECONDS * 1000,
      }
      bounded(tokens, appid, held)
    }
    return {
      access_token: held.token,
      expires_in: Math.round((held.expiresAt - Date.now()) / 1000),
    }
  }

  return new Hono()
    .post('/cgi-bin/stable_token', async (c) => {
      const { appid, secret, force_refresh: force } = await json(c.req.raw)
      if (typeof appid !== 'string' || typeof secret !== 'string') return c.json(errcode(40013))
      bounded(tokenRequests, appid, (tokenRequests.get(appid) ?? 0) + 1)
      const failure = injected('token', appid)
      if (failure !== null) return c.json(errcode(failure))
      if (secret === 'wrong-secret') return c.json(errcode(40125))
      return c.json(tokenFor(appid, force === true))
    })
    .get('/fake/token-service', (c) => {
      const appid = c.req.query('appid') ?? ''
      bounded(tokenRequests, appid, (tokenRequests.get(appid) ?? 0) + 1)
      return c.json(tokenFor(appid, false))
    })
    .post('/cgi-bin/message/custom/send', (c) => recordCall(c.req.raw, 'send', sent))
    .post('/cgi-bin/message/custom/typing', (c) => recordCall(c.req.raw, 'typing', typing))
    .post('/fake/fail', async (c) => {
      const { path, code, times, for: target } = await json(c.req.raw)
      if (typeof path !== 'string' || typeof code !== 'number' || typeof target !== 'string') {
        return c.text('path, code and for', 400)
      }
      bounded(failures, `${path}:${target}`, { code, times: typeof times === 'number' ? times : 1 })
      return c.json({ ok: true })
    })
    .post('/fake/expire', async (c) => {
      const { appid } = await json(c.req.raw)
      if (typeof appid === 'string') tokens.delete(appid)
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
