/**
 * A fake of WeChat's server API for local development and the tests, as strict as WeChat: it
 * issues and rotates access tokens, takes customer-service messages and typing commands only
 * within the user's windows and WeChat's limits, makes parametric QR codes (and their images),
 * keeps a published menu, answers whether a user follows, issues jsapi_tickets, takes
 * subscription notifications within the user's consent and template messages to followers
 * (pushing each one's result back, as WeChat does), and plays web
 * authorization: a consent page that sends the browser back with a code for the OpenID chosen
 * there (or without one, refused), codes traded once within 5 minutes, and the user's profile
 * (src/debug/fake-wechat-rules.ts, each rule cited), plays the third-party platform's side
 * (src/debug/fake-platform.ts), and records what it took. Its state is in memory. `npm run dev` serves it at
 * /debug/wechat-api/ (only with DEBUG_CONSOLE=true); the tests reach it as
 * https://fake-wechat.test/.
 *
 * https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
 * https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html
 *
 * Control routes (not WeChat's):
 * - `POST /fake/interact` with a push's XML: the user did what the push says (WeChat learns it
 *   from the user; the console, the simulator and the tests tell the fake);
 * - `POST /fake/fail` {path: token | ticket | oauth | send | typing, code, times, for: an appid
 *   (token, ticket, oauth: the code's trade) or a
 *   touser}: the next calls fail with that errcode (rate limits 45009/45011, whitelists…);
 * - `POST /fake/late` {for: a touser, ms, times}: the next sends are taken, then answered `ms`
 *   later (past the caller's timeout);
 * - `POST /fake/expire` {appid}: WeChat forgets the token; `POST /fake/age` {appid, seconds}:
 *   the held token (and the last forced refresh) that much older; `POST /fake/revoke` {appid}: the API refuses the token,
 *   stable_token still returns it unforced;
 * - `GET /fake/qrcode?ticket=`: the scene WeChat knows for a ticket (the console scans with it);
 * - `POST /fake/jssdk-check` {appId, url, timestamp, nonceStr, signature}: what `wx.config` would
 *   say of a page's config, checked against the tickets issued to that appid;
 * - `POST /fake/template` {for: an appid, templateId, subscription?: one_time | long_term,
 *   keywords?, removed?}: a template the account chose, or deleted (40037); one the fake was told
 *   nothing of is a one-time template taking any keywords;
 * - `GET /fake/sent?touser=`, `GET /fake/typing?touser=`, `GET /fake/notifications?touser=`,
 *   `GET /fake/calls?touser=` (notification calls made, refused ones too),
 *   `GET /fake/pushes?touser=` (the result pushes WeChat made: subscribe_msg_sent_event,
 *   TEMPLATESENDJOBFINISH), `GET /fake/stats?appid=`, and `GET /fake/token-service?appid=`:
 *   a token service of the account's own (WECHAT_TOKEN_URL).
 * Failures and state are per appid or user, so that tests running side by side never meet.
 */

import { Hono } from 'hono/tiny'
import { escapeHtml, PAGE_HEADERS } from './fake-pages.ts'
import { type FakeTokens, fakePlatform, type PlatformPush } from './fake-platform.ts'
import {
  authorizeProblem,
  chargeWindow,
  contentErrcode,
  ERRCODES,
  type FakeUser,
  interact,
  interactionOf,
  isFakeTemplateId,
  menuErrcode,
  NOTIFY_RULES,
  newFakeUser,
  notificationDataErrcode,
  OAUTH_RULES,
  QR_RULES,
  qrCodeRequestOf,
  spendConsent,
  TICKET_RULES,
  TOKEN_RULES,
  typingErrcode,
} from './fake-wechat-rules.ts'
import { forgePushXml, freshMsgId } from './forge.ts'

/**
 * What the fake is given per request where it runs inside the Worker (`npm run dev`): a way to
 * push to the Worker's callback URL, as WeChat pushes a notification's result. Without it (the
 * tests' own worker), the pushes wait at `GET /fake/pushes` for whoever delivers them.
 */
export interface FakeWechatBindings {
  readonly deliver?: (appid: string, xml: string) => void
}

/** A template the account "chose" in WeChat's library, as the fake was told of it. */
interface FakeTemplate {
  readonly longTerm: boolean
  readonly keywords: readonly string[] | null
  /** The account deleted it: WeChat answers 40037. */
  readonly removed: boolean
}

/** A template the fake was told nothing of: one-time, any keywords. */
const ANY_TEMPLATE: FakeTemplate = { longTerm: false, keywords: null, removed: false }

/** A code of web authorization, as WeChat holds it until it is traded or 5 minutes pass. */
interface WebCode {
  appid: string
  openid: string
  scope: string
  expiresAt: number
  used: boolean
  snapshot: boolean
}

/** An OpenID's shape, read without a pattern that could backtrack. */
function isOpenidShape(value: string): boolean {
  if (value.length < 1 || value.length > 64) return false
  for (const char of value) {
    const code = char.charCodeAt(0)
    const ok =
      (code >= 48 && code <= 57) ||
      (code >= 65 && code <= 90) ||
      (code >= 97 && code <= 122) ||
      char === '_' ||
      char === '-'
    if (!ok) return false
  }
  return true
}

/** WeChat's authorize page, as the fake plays it: who is the user, and do they agree. */
function consentPage(query: Record<string, string>): string {
  const hidden = ['appid', 'redirect_uri', 'response_type', 'scope', 'state']
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(query[name] ?? '')}">`)
    .join('')
  const asks = query.scope === 'snsapi_userinfo'
  const suggested = `oFake${crypto.randomUUID().replaceAll('-', '').slice(0, 23)}`
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>WeChat (fake) · authorize</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}input[type=text]{width:100%}</style></head>
<body><h1>Authorize ${escapeHtml(query.appid ?? '')}</h1>
<p>${asks ? 'The account asks for your profile (snsapi_userinfo).' : 'WeChat asks nothing for snsapi_base: choose who the user is.'}</p>
<form method="get" action="authorize">${hidden}
<label>OpenID <input type="text" id="openid" name="openid" value="${suggested}"></label>
<label><input type="checkbox" name="snapshot" value="1"> a visitor in snapshot mode</label>
<p><button id="allow" name="consent" value="allow">Allow</button>
<button id="refuse" name="consent" value="refuse">Refuse</button></p></form></body></html>`
}

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
export function fakeWechat(options: { readonly platformPush?: PlatformPush } = {}) {
  const tokens = new Map<string, HeldTokens>()
  const tokenRequests = new Map<string, number>()
  const users = new Map<string, FakeUser>()
  const failures = new Map<string, { code: number; times: number }>()
  const late = new Map<string, { ms: number; times: number }>()
  /** Tokens the API refuses (40001) though stable_token still hands them back unforced. */
  const revoked = new Set<string>()
  const sent: Recorded[] = []
  const typing: Recorded[] = []
  const notifications: Recorded[] = []
  /** The result pushes WeChat would send, by the user they name. */
  const pushes: { touser: string; appid: string; xml: string; at: number }[] = []
  /** Templates by appid and id; template messages' msgids by appid, user and client_msg_id. */
  const templates = new Map<string, FakeTemplate>()
  const clientMsgIds = new Map<string, { msgid: string; at: number }>()
  /** QR codes by ticket, and each appid's published menu and count of permanent codes. */
  const qrCodes = new Map<string, { scene: string; expiresAt: number | null }>()
  const menus = new Map<string, unknown[]>()
  const permanentCodes = new Map<string, number>()
  /** Web authorization: codes, the web tokens they were traded for, and jsapi_tickets by appid. */
  const webCodes = new Map<string, WebCode>()
  const webTokens = new Map<
    string,
    { appid: string; openid: string; scope: string; expiresAt: number }
  >()
  const tickets = new Map<string, { ticket: string; expiresAt: number }[]>()
  const counts = new Map<string, number>()
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

  /** Records a result push, and hands it to the Worker when the fake runs inside it. */
  const pushBack = (
    bindings: FakeWechatBindings | undefined,
    appid: string,
    touser: string,
    xml: string,
  ) => {
    pushes.push({ touser, appid, xml, at: Date.now() })
    if (pushes.length > MAX_RECORDED) pushes.shift()
    bindings?.deliver?.(appid, xml)
  }

  /** The checks both notification calls make, in WeChat's order; an errcode, or the template. */
  const notificationRefusal = (
    request: Request,
    body: Record<string, unknown>,
  ): { errcode: number } | { appid: string; touser: string; template: FakeTemplate } => {
    count('notify', String(body.touser))
    const failure = take(failures, `notify:${String(body.touser)}`)
    if (failure) return { errcode: failure.code }
    const appid = appidOf(request)
    if (appid === null) return { errcode: ERRCODES.invalidToken }
    const { touser, template_id: templateId } = body
    if (typeof touser !== 'string' || !isOpenidShape(touser)) {
      return { errcode: ERRCODES.invalidOpenid }
    }
    if (!isFakeTemplateId(templateId)) return { errcode: ERRCODES.invalidTemplateId }
    const template = templates.get(`${appid}:${templateId}`) ?? ANY_TEMPLATE
    if (template.removed) return { errcode: ERRCODES.invalidTemplateId }
    const data = notificationDataErrcode(body.data, template.keywords)
    if (data !== 0) return { errcode: data }
    return { appid, touser, template }
  }

  const bizsend = async (request: Request, bindings: FakeWechatBindings | undefined) => {
    const body = await json(request)
    const checked = notificationRefusal(request, body)
    if ('errcode' in checked) return answer(checked.errcode)
    const { appid, touser, template } = checked
    const templateId = String(body.template_id)
    const spent = spendConsent(userOf(touser), templateId, template.longTerm)
    if (spent !== 0) return answer(spent)
    remember(notifications, { touser, appid, body, at: Date.now() })
    // WeChat pushes the result, with a msgid of its own (bizsend answers none).
    const xml = forgePushXml('subscribe_msg_sent_event', {
      openid: touser,
      templateIds: [templateId],
      msgId: freshMsgId(),
      status: 'success',
    })
    pushBack(bindings, appid, touser, xml)
    const delayed = take(late, touser)
    if (delayed) await new Promise((resolve) => setTimeout(resolve, delayed.ms))
    return answer(ERRCODES.ok)
  }

  const templateSend = async (request: Request, bindings: FakeWechatBindings | undefined) => {
    const body = await json(request)
    const checked = notificationRefusal(request, body)
    if ('errcode' in checked) return answer(checked.errcode)
    const { appid, touser } = checked
    if (!users.get(touser)?.subscribed) return answer(ERRCODES.requireSubscribe)
    const now = Date.now()
    const clientMsgId = typeof body.client_msg_id === 'string' ? body.client_msg_id : null
    const repeat =
      clientMsgId === null ? undefined : clientMsgIds.get(`${appid}:${touser}:${clientMsgId}`)
    let msgid: string
    if (repeat && now - repeat.at < NOTIFY_RULES.clientMsgIdMs) {
      msgid = repeat.msgid
    } else {
      msgid = freshMsgId()
      if (clientMsgId !== null) {
        bounded(clientMsgIds, `${appid}:${touser}:${clientMsgId}`, { msgid, at: now })
      }
      remember(notifications, { touser, appid, body, at: now })
      pushBack(
        bindings,
        appid,
        touser,
        forgePushXml('template_send_job_finish', {
          openid: touser,
          msgId: msgid,
          status: 'success',
        }),
      )
    }
    const delayed = take(late, touser)
    if (delayed) await new Promise((resolve) => setTimeout(resolve, delayed.ms))
    // The msgid as WeChat writes it: a bare 64-bit number, which JSON.parse would round.
    return new Response(`{"errcode":0,"errmsg":"ok","msgid":${msgid}}`, {
      headers: { 'Content-Type': 'application/json' },
    })
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
  /** Counts a call of `what` (ticket, code) for an appid, for /fake/stats. */
  const count = (what: string, appid: string) =>
    bounded(counts, `${what}:${appid}`, (counts.get(`${what}:${appid}`) ?? 0) + 1)
  const randomText = () => crypto.randomUUID().replaceAll('-', '')

  /** The lowercase hex sha1 of a string, computed here, apart from the Worker's own. */
  const sha1 = async (text: string) =>
    Array.from(
      new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text))),
      (byte) => byte.toString(16).padStart(2, '0'),
    ).join('')

  /** The third-party platform's authorizers hold tokens like any account's (fake-platform.ts). */
  const platformTokens: FakeTokens = {
    issue: (appid) => {
      const now = Date.now()
      const held = tokens.get(appid)
      const fresh: HeldTokens = {
        token: newToken(),
        expiresAt: now + TOKEN_RULES.lifetimeMs,
        previous: held && held.expiresAt > now ? held.token : null,
        previousUntil: now + TOKEN_RULES.oldValidMs,
        forcedDay: 0,
        forcedToday: 0,
        lastForcedAt: 0,
      }
      bounded(tokens, appid, fresh)
      return { token: fresh.token, expiresIn: TOKEN_RULES.lifetimeMs / 1000 }
    },
    revoke: (appid) => {
      const held = tokens.get(appid)
      if (held) revoked.add(held.token)
      if (held?.previous) revoked.add(held.previous)
      tokens.delete(appid)
    },
    injected: (key) => take(failures, key)?.code ?? null,
  }

  return new Hono<{ Bindings: FakeWechatBindings | undefined }>()
    .route('/', fakePlatform(platformTokens, options.platformPush ?? null))
    .post('/cgi-bin/message/subscribe/bizsend', (c) => bizsend(c.req.raw, c.env))
    .post('/cgi-bin/message/template/send', (c) => templateSend(c.req.raw, c.env))
    .post('/fake/template', async (c) => {
      const { for: appid, templateId, subscription, keywords, removed } = await json(c.req.raw)
      if (typeof appid !== 'string' || !isFakeTemplateId(templateId)) {
        return c.text('for (an appid) and templateId', 400)
      }
      bounded(templates, `${appid}:${templateId}`, {
        longTerm: subscription === 'long_term',
        keywords:
          Array.isArray(keywords) && keywords.every((keyword) => typeof keyword === 'string')
            ? keywords.slice(0, 32)
            : null,
        removed: removed === true,
      })
      return c.json({ ok: true })
    })
    .get('/fake/notifications', (c) => {
      const touser = c.req.query('touser')
      return c.json(notifications.filter((entry) => entry.touser === touser))
    })
    .get('/fake/calls', (c) => {
      // Every notification call made for a user, taken or refused: a local refusal makes none.
      const touser = c.req.query('touser') ?? ''
      return c.json({ notify: counts.get(`notify:${touser}`) ?? 0 })
    })
    .get('/fake/pushes', (c) => {
      const touser = c.req.query('touser')
      return c.json(pushes.filter((entry) => entry.touser === touser))
    })
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
    .get('/connect/oauth2/authorize', (c) => {
      const query = c.req.query()
      const problem = authorizeProblem(query)
      if (problem !== null) {
        return c.html(
          `<!doctype html><p>This link cannot be opened: ${escapeHtml(problem)}</p>`,
          400,
          PAGE_HEADERS,
        )
      }
      const target = new URL(query.redirect_uri ?? '')
      if (query.consent === 'refuse') {
        // Refused: back without a code, with the state alone.
        target.searchParams.set('state', query.state ?? '')
        return c.redirect(target.toString(), 302)
      }
      if (query.consent !== 'allow') return c.html(consentPage(query), 200, PAGE_HEADERS)
      const openid = query.openid ?? ''
      if (!isOpenidShape(openid)) {
        return c.html(
          '<!doctype html><p>An OpenID is 1 to 64 letters, digits, _ or -.</p>',
          400,
          PAGE_HEADERS,
        )
      }
      const code = `0${randomText().slice(0, 31)}`
      bounded(webCodes, code, {
        appid: query.appid ?? '',
        openid,
        scope: query.scope ?? '',
        expiresAt: Date.now() + OAUTH_RULES.codeLifetimeMs,
        used: false,
        snapshot: query.snapshot === '1',
      })
      target.searchParams.set('code', code)
      target.searchParams.set('state', query.state ?? '')
      return c.redirect(target.toString(), 302)
    })
    .get('/sns/oauth2/access_token', (c) => {
      const { appid, secret, code, grant_type: grantType } = c.req.query()
      if (!appid) return answer(ERRCODES.invalidAppid)
      count('code', appid)
      const failure = take(failures, `oauth:${appid}`)
      if (failure) return answer(failure.code)
      if (secret === 'wrong-secret') return answer(ERRCODES.invalidSecret)
      if (grantType !== 'authorization_code') return answer(ERRCODES.invalidGrantType)
      const held = webCodes.get(code ?? '')
      if (!held || held.appid !== appid || held.expiresAt <= Date.now()) {
        return answer(ERRCODES.invalidCode)
      }
      if (held.used) return answer(ERRCODES.codeUsed)
      held.used = true
      const token = `FAKE_WEB_TOKEN_${randomText()}`
      bounded(webTokens, token, {
        appid,
        openid: held.openid,
        scope: held.scope,
        expiresAt: Date.now() + OAUTH_RULES.webTokenLifetimeMs,
      })
      return c.json({
        access_token: token,
        expires_in: OAUTH_RULES.webTokenLifetimeMs / 1000,
        refresh_token: `FAKE_REFRESH_${randomText()}`,
        openid: held.openid,
        scope: held.scope,
        ...(held.scope === 'snsapi_userinfo' && { unionid: `oUnion_${held.openid}`.slice(0, 28) }),
        ...(held.snapshot && { is_snapshotuser: 1 }),
      })
    })
    .get('/sns/userinfo', (c) => {
      const { access_token: token, openid } = c.req.query()
      const held = webTokens.get(token ?? '')
      if (!held || held.expiresAt <= Date.now()) return answer(ERRCODES.invalidToken)
      if (held.openid !== openid) return answer(ERRCODES.invalidOpenid)
      if (held.scope !== 'snsapi_userinfo') return answer(ERRCODES.apiUnauthorized)
      return c.json({
        openid,
        nickname: `Fake user ${openid.slice(-6)}`,
        // Since 2021 WeChat answers no sex and no places.
        sex: 0,
        province: '',
        city: '',
        country: '',
        headimgurl: '',
        privilege: [],
        unionid: `oUnion_${openid}`.slice(0, 28),
      })
    })
    .get('/cgi-bin/ticket/getticket', (c) => {
      const appid = appidOf(c.req.raw)
      if (appid === null) return answer(ERRCODES.invalidToken)
      const type = c.req.query('type') ?? ''
      if (!TICKET_RULES.types.includes(type as (typeof TICKET_RULES.types)[number])) {
        return answer(ERRCODES.invalidArgs)
      }
      count('ticket', appid)
      const failure = take(failures, `ticket:${appid}`)
      if (failure) return answer(failure.code)
      const ticket = `FAKE_TICKET_${++issued}_${randomText()}`
      const expiresAt = Date.now() + TICKET_RULES.lifetimeMs
      bounded(tickets, appid, [...(tickets.get(appid) ?? []), { ticket, expiresAt }].slice(-20))
      return c.json({
        errcode: 0,
        errmsg: 'ok',
        ticket,
        expires_in: TICKET_RULES.lifetimeMs / 1000,
      })
    })
    .get('/cgi-bin/user/info', (c) => {
      if (appidOf(c.req.raw) === null) return answer(ERRCODES.invalidToken)
      const openid = c.req.query('openid') ?? ''
      if (!isOpenidShape(openid)) return answer(ERRCODES.invalidOpenid)
      // "值为0时，代表此用户没有关注该公众号，拉取不到其余信息".
      return c.json(
        users.get(openid)?.subscribed
          ? { subscribe: 1, openid, language: 'zh_CN' }
          : { subscribe: 0, openid },
      )
    })
    .post('/fake/jssdk-check', async (c) => {
      // What wx.config would say: the signature over a ticket this appid holds, fragment dropped.
      const { appId, url, timestamp, nonceStr, signature } = await json(c.req.raw)
      if (typeof appId !== 'string' || typeof url !== 'string' || typeof signature !== 'string') {
        return c.json({ errMsg: 'config:invalid arguments' })
      }
      const page = url.includes('#') ? url.slice(0, url.indexOf('#')) : url
      const now = Date.now()
      for (const held of tickets.get(appId) ?? []) {
        if (held.expiresAt <= now) continue
        const expected = await sha1(
          `jsapi_ticket=${held.ticket}&noncestr=${String(nonceStr)}&timestamp=${String(timestamp)}&url=${page}`,
        )
        if (expected === signature) return c.json({ errMsg: 'config:ok' })
      }
      return c.json({ errMsg: 'config:invalid signature' })
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
      return c.json({
        tokenRequests: tokenRequests.get(appid) ?? 0,
        ticketRequests: counts.get(`ticket:${appid}`) ?? 0,
        codeTrades: counts.get(`code:${appid}`) ?? 0,
      })
    })
}
