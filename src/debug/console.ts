/**
 * The web debugging console's server side: the page, and an API that forges pushes with the
 * configured secrets (they never reach the page), sends them through the Worker's own `/wechat`
 * path, and reads the reply as WeChat would. Served only when DEBUG_CONSOLE is `true`. Its API
 * is a signing oracle, so it always asks for the admin token (whatever the Host header says:
 * a client sets that) and refuses requests another site's page makes.
 */

import type { ExecutionContext } from 'hono'
import { Hono } from 'hono/tiny'
import { findAccount, isAuthorizer } from '../accounts/served.ts'
import { ENV_ACCOUNT } from '../accounts/settings.ts'
import type { Bots } from '../bot/bots.ts'
import { type AccountSettings, readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { type AccountScoped, forAccount } from '../http/account-scope.ts'
import { carriesBearer } from '../http/bearer.ts'
import { readBoundedText } from '../http/body.ts'
import { platformOf } from '../platform/platform.ts'
import { isWechatId, PUSH_KINDS, type PushKind } from '../wechat/push.ts'
import { parseXmlRoot, type XmlElement } from '../wechat/xml.ts'
import page from './console.html'
import { platformConsole } from './console-platform.ts'
import {
  FORGE_DEFAULTS,
  type ForgeFields,
  type ForgeMode,
  forgePushXml,
  openReply,
  signPush,
} from './forge.ts'

/** Sends a request through the Worker's own app, as if it had come from outside. */
export type Dispatch = (request: Request) => Promise<Response>

/** The API's requests are small JSON objects; a push forged from them is under 64 KiB. */
const MAX_API_BODY_BYTES = 64 * 1024

/**
 * A browser names the site that made a request: `Sec-Fetch-Site` (same-origin, or none for
 * one typed in), and `Origin` on a POST. Anything else is another site's page trying to use
 * the console, even a `text/plain` POST that needs no preflight.
 */
export function isCrossSite(request: Request): boolean {
  const site = request.headers.get('Sec-Fetch-Site')
  if (site !== null && site !== 'same-origin' && site !== 'none') return true
  const origin = request.headers.get('Origin')
  return origin !== null && origin !== new URL(request.url).origin
}

interface SendRequest {
  kind?: unknown
  mode?: unknown
  fields?: unknown
  /** A push sent before, to send again byte for byte as WeChat's retry would. */
  xml?: unknown
}

function parseSendRequest(text: string): SendRequest {
  try {
    const input: unknown = JSON.parse(text)
    return typeof input === 'object' && input !== null ? (input as SendRequest) : {}
  } catch {
    return {}
  }
}

function fieldsFrom(input: unknown): ForgeFields {
  if (typeof input !== 'object' || input === null) return {}
  const fields: ForgeFields = {}
  const source = input as Record<string, unknown>
  for (const name of [
    'openid',
    'account',
    'scene',
    'ticket',
    'menuKey',
    'url',
    'content',
    'label',
    'status',
    'kfAccount',
    'revokeInfo',
    'event',
  ] as const) {
    const value = source[name]
    if (typeof value === 'string' && value !== '') fields[name] = value
  }
  const templateIds = source.templateIds
  const listed =
    typeof templateIds === 'string' && templateIds.trim() !== ''
      ? templateIds.split(',').map((id) => id.trim())
      : Array.isArray(templateIds) && templateIds.every((id) => typeof id === 'string')
        ? templateIds
        : null
  if (listed !== null) {
    // A popup's choices: `choice` for every template, or `ID:reject` / `ID:accept` for one.
    const fallback = source.choice === 'reject' ? 'reject' : 'accept'
    const choices: Record<string, 'accept' | 'reject'> = {}
    fields.templateIds = listed.map((entry) => {
      const [id = '', said] = entry.split(':')
      choices[id.trim()] =
        said?.trim() === 'reject' ? 'reject' : said?.trim() === 'accept' ? 'accept' : fallback
      return id.trim()
    })
    fields.choices = choices
  }
  for (const name of ['latitude', 'longitude', 'precision'] as const) {
    const value = Number(source[name])
    if (source[name] !== '' && source[name] !== undefined && Number.isFinite(value))
      fields[name] = value
  }
  return fields
}

function readable(xml: string): XmlElement | null {
  try {
    return xml.startsWith('<') ? parseXmlRoot(xml) : null
  } catch {
    return null
  }
}

/**
 * @example
 * app.route('/debug', debugConsole((request) => app.fetch(request, env, ctx)))
 */
export function debugConsole(
  dispatchFor: (env: Env, ctx: ExecutionContext) => Dispatch,
  /** Each account's bot: its declared menu is drawn under the conversation, a tap sends it. */
  bots: Bots,
) {
  return (
    new Hono<AccountScoped>()
      .use('*', async function consoleEnabled(c, next) {
        if (!readConfig(c.env).debugConsole) return c.text('not found', 404)
        await next()
      })
      // The page holds the admin token once unlocked: never framed by another site, and it loads
      // nothing from anywhere else.
      .get('/', (c) =>
        c.html(page, 200, {
          'Content-Security-Policy':
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
          'X-Frame-Options': 'DENY',
        }),
      )
      .use('/api/*', async function sameSiteAdmin(c, next) {
        if (isCrossSite(c.req.raw)) return c.text('cross-site requests are refused', 403)
        const { adminToken } = readConfig(c.env)
        if (adminToken === null) return c.text('the console needs ADMIN_TOKEN', 403)
        if (!(await carriesBearer(c.req.header('Authorization'), adminToken))) {
          return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
        }
        await next()
      })
      // The account the console acts as: `?account=<id>`, the env account by default.
      .use('/api/*', forAccount('query'))
      .get('/api/meta', async (c) => {
        const { envelope } = c.var.account
        // Safe mode first, so the console starts where WeChat's pushes are authenticated (a
        // plaintext body is trusted with nothing the user stored: consents, results, memory).
        const modes: ForgeMode[] = [
          ...(envelope.aes ? (['safe', 'compatible'] as const) : []),
          ...(envelope.requireEncryption ? [] : (['plaintext'] as const)),
        ]
        const config = readConfig(c.env)
        // The platform's authorizers beside the configured accounts: the console sends as any.
        const authorizers = config.platform
          ? (await platformOf(c.env, config.platform).authorizers())
              .filter((authorizer) => authorizer.state === 'authorized')
              .map((authorizer) => authorizer.appId)
          : []
        const accounts = [...config.accounts.values()]
          .filter((account) => account.problems.length === 0)
          .map((account) => account.id)
          .concat(authorizers)
        const bot = bots(c.var.account.id)
        const menu = bot.declaredMenu
        // The templates the bot declares: the popup offers its subscription templates' ids.
        const templates = Object.entries(bot.declaredTemplates ?? {}).map(([name, template]) => ({
          name,
          type: template.type,
          id: template.id,
        }))
        const platform = config.platform ? { appId: config.platform.appId } : null
        return c.json({
          kinds: PUSH_KINDS,
          modes,
          defaults: FORGE_DEFAULTS,
          menu,
          accounts,
          platform,
          templates,
        })
      })
      .post('/api/send', async (c) => {
        const text = await readBoundedText(c.req.raw, MAX_API_BODY_BYTES)
        const input = parseSendRequest(text)
        const kind = input.kind as PushKind
        const mode = input.mode as ForgeMode
        if (!PUSH_KINDS.includes(kind)) return c.text('unknown kind', 400)
        if (!['plaintext', 'compatible', 'safe'].includes(mode)) return c.text('unknown mode', 400)
        const { account } = c.var
        const { envelope } = account
        if (mode !== 'plaintext' && !envelope.aes) {
          return c.text(`${mode} mode needs the account’s AppID and EncodingAESKey`, 400)
        }
        const signer = { token: envelope.token, ...envelope.aes }
        const fields = fieldsFrom(input.fields)
        // Scanning a code: WeChat knows its scene from the ticket, and so does the fake. The
        // ticket's scene wins over the form's: a push never carries a scene its code lacks.
        if ((kind === 'subscribe' || kind === 'scan') && fields.ticket) {
          const scene = await sceneOfTicket(account, fields.ticket, c.req.header('Authorization'))
          if (scene === null) {
            // It keeps what it made in memory: a code made before a restart is one it never made.
            const why =
              'the fake WeChat API knows no such ticket (it forgets its codes when the dev server restarts)'
            return c.text(why, 400)
          }
          fields.scene = scene
        }
        // An authorizer's pushes name its original id, as the platform learned it.
        const platform = readConfig(c.env).platform
        if (platform && isAuthorizer(c.env, account.id) && !fields.account) {
          const authorizer = await platformOf(c.env, platform).authorizer(account.id)
          if (authorizer?.userName) fields.account = authorizer.userName
        }
        const xml = typeof input.xml === 'string' ? input.xml : forgePushXml(kind, fields)
        await tellFakeWechat(account, xml, c.req.header('Authorization'))
        const { query, body } = await signPush(xml, signer, mode)
        const url = new URL(`${callbackPath(c.env, account)}?${query}`, c.req.url)
        const started = Date.now()
        const response = await dispatchFor(
          c.env,
          c.executionCtx,
        )(new Request(url, { method: 'POST', body }))
        const answer = await response.text()
        const ms = Date.now() - started
        const reply = response.status === 200 ? await openReply(answer, signer) : null
        return c.json({
          // The push as sent, parsed: what the user did, a scanned code's scene included.
          request: { url: `${url.pathname}${url.search}`, xml, body, push: readable(xml) },
          response: { status: response.status, body: answer, ms },
          reply: reply && { ...reply, message: readable(reply.plaintext) },
        })
      })
      .route('/api/platform', platformConsole(dispatchFor))
      .get('/api/users/:openid', async (c) => {
        const openid = c.req.param('openid')
        if (!isWechatId(openid)) return c.text('malformed openid', 400)
        const user = c.var.objects.user(openid)
        const [state, recent] = await Promise.all([user.snapshot(), user.recent()])
        return c.json({ state, recent })
      })
      .get('/api/sent/:openid', async (c) => {
        // What the fake WeChat took for this user, oldest first: customer-service messages, and
        // notifications (subscription and template).
        const openid = c.req.param('openid')
        if (!isWechatId(openid)) return c.text('malformed openid', 400)
        const headers = { Authorization: c.req.header('Authorization') ?? '' }
        const read = async (path: string): Promise<unknown[]> => {
          const url = fakeWechatUrl(c.var.account, `${path}?touser=${openid}`)
          if (!url) return []
          const response = await fetch(url, { headers }).catch(() => null)
          return response?.ok ? response.json() : []
        }
        const [messages, notifications] = await Promise.all([
          read('fake/sent'),
          read('fake/notifications'),
        ])
        return c.json({ messages, notifications })
      })
      // The "typing…" commands the fake WeChat took for this user, newest last.
      .get('/api/typing/:openid', async (c) => {
        const openid = c.req.param('openid')
        if (!isWechatId(openid)) return c.text('malformed openid', 400)
        const url = fakeWechatUrl(c.var.account, `fake/typing?touser=${openid}`)
        if (!url) return c.json([])
        const headers = { Authorization: c.req.header('Authorization') ?? '' }
        const response = await fetch(url, { headers }).catch(() => null)
        return c.json(response?.ok ? await response.json() : [])
      })
  )
}

/** Where WeChat pushes for the account: `/wechat`, `/wechat/<id>`, or an authorizer's URL. */
function callbackPath(env: Env, account: AccountSettings): string {
  if (account.id === ENV_ACCOUNT) return '/wechat'
  return isAuthorizer(env, account.id) ? `/wechat/platform/${account.id}` : `/wechat/${account.id}`
}

/**
 * Delivers a push the fake WeChat API made (a notification's result) to the account whose AppID
 * it names, signed as WeChat would (safe mode when the account has a key), through the Worker's
 * own `/wechat`. Best effort, as WeChat's own pushes: a failure is logged by the request path.
 *
 * @example
 * ctx.waitUntil(deliverFakePush(dispatch, env, appid, xml, request.url))
 */
export async function deliverFakePush(
  dispatch: Dispatch,
  env: Env,
  appid: string,
  xml: string,
  origin: string,
): Promise<void> {
  const account =
    [...readConfig(env).accounts.values()].find(
      (candidate) => candidate.talkBack?.appId === appid && candidate.problems.length === 0,
    ) ?? (isAuthorizer(env, appid) ? findAccount(env, appid, 'authorizer') : null)
  if (!account) return
  const { envelope } = account
  const mode: ForgeMode = envelope.aes ? 'safe' : 'plaintext'
  const { query, body } = await signPush(xml, { token: envelope.token, ...envelope.aes }, mode)
  const url = new URL(`${callbackPath(env, account)}?${query}`, origin)
  await dispatch(new Request(url, { method: 'POST', body })).catch(() => null)
}

/** A control route of the fake WeChat API, or null when the API is WeChat's own (or none). */
function fakeWechatUrl(account: AccountSettings, path: string): URL | null {
  const { talkBack } = account
  if (!talkBack) return null
  const base = new URL(talkBack.apiBase)
  if (base.hostname === 'qq.com' || base.hostname.endsWith('.qq.com')) return null
  return new URL(path, base)
}

/** The scene the fake WeChat API made a ticket's code for, or null. */
async function sceneOfTicket(
  account: AccountSettings,
  ticket: string,
  authorization: string | undefined,
): Promise<string | null> {
  const url = fakeWechatUrl(account, `fake/qrcode?ticket=${encodeURIComponent(ticket)}`)
  if (!url) return null
  const response = await fetch(url, { headers: { Authorization: authorization ?? '' } }).catch(
    () => null,
  )
  if (!response?.ok) return null
  const { scene } = (await response.json()) as { scene?: unknown }
  return typeof scene === 'string' ? scene : null
}

/**
 * The user's interaction, told to the fake WeChat API as WeChat would learn it from the user, so
 * that its windows open for the replies. Best effort: a push is forged whatever the fake says.
 */
async function tellFakeWechat(
  account: AccountSettings,
  xml: string,
  authorization: string | undefined,
) {
  const url = fakeWechatUrl(account, 'fake/interact')
  if (!url) return
  const headers = { Authorization: authorization ?? '' }
  await fetch(url, { method: 'POST', headers, body: xml }).catch(() => null)
}
