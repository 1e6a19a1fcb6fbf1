/**
 * `npm run simulate -- <kind> [options]`: sends one push to a wechat-edge callback as WeChat
 * would, signed and (in compatible or safe mode) encrypted, then prints the request and the
 * decrypted reply. Against a dev server on this machine it then prints the customer-service
 * messages sent to the user as they arrive (a `later()` route's), read from the fake WeChat
 * API's records. Exits non-zero on a non-200 answer or a reply whose signature does not hold.
 */

import { existsSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import {
  FORGE_DEFAULTS,
  FORGE_MODES,
  type ForgeFields,
  forgePushXml,
  freshMsgId,
  openReply,
  signPush,
} from '../src/debug/forge.ts'
import { PUSH_KINDS, type PushKind } from '../src/wechat/push.ts'
import { readDevVars } from './dev-vars.ts'
import { ACCOUNTS_FILE } from './setup-account.ts'

/** How long to wait for a deferred route's first sign (typing, or a message), in seconds. */
const DEFAULT_WATCH_SECONDS = 2.5
/** Once typing shows, the watch waits as long as WeChat shows it (15 s) for a message. */
const TYPING_MS = 15_000
/** Once messages come, the watch goes on until this long passes without a new one. */
const QUIET_MS = 4_000
const WATCH_LIMIT_MS = 60_000

const HELP = `Usage: npm run simulate -- <kind> [options]

Sends a push to a wechat-edge callback, signed and encrypted as WeChat would, and prints the
request and the decrypted reply. Secrets default to .dev.vars.

Kinds:
  ${PUSH_KINDS.join(', ')}

Options:
  --account <id>         an account of WECHAT_ACCOUNTS: its secrets (from .dev.vars, or
                         .wechat-accounts.json) and its callback, /wechat/<id>
  --url <url>            callback URL (default http://127.0.0.1:8787/wechat, or /wechat/<id>)
  --mode <mode>          ${FORGE_MODES.join(' | ')} (default plaintext)
  --retries <n>          send the same push n more times, as WeChat's retries (default 0)
  --token <token>        WECHAT_TOKEN (default from .dev.vars)
  --appid <appid>        WECHAT_APPID (default from .dev.vars)
  --aes-key <key>        WECHAT_ENCODING_AES_KEY (default from .dev.vars)
  --admin-token <token>  ADMIN_TOKEN: a dev server's fake WeChat API learns of the push first,
                         as WeChat learns it from the user, and shows what is sent to the
                         user after the answer (default from .dev.vars)
  --watch <seconds>      on a dev server, how long to wait for a deferred reply's first sign
                         (typing, a customer-service message) after the answer; it goes on
                         while messages come (default ${DEFAULT_WATCH_SECONDS}; 0: do not wait)
  --openid <openid>      the user (FromUserName; OpenID of an authorization change)
  --to-user <gh_…>       the Service Account's original id (ToUserName)
  --scene <scene>        QR scene: makes 'subscribe' a QR follow; the scene of 'scan'
  --key <key>            menu key (click and the other menu events)
  --link <url>           the URL of 'view' and 'link'
  --lat <n> --lng <n>    latitude and longitude
  --precision <n>        location precision
  --content <text>       text content
  --template-ids <a,b>   subscription-message events: one List item per template id
  --kf-account <agent>   customer-service session events (ToKfAccount of a switch)
  --revoke-info <code>   authorization revoke: what was revoked
  --event <name>         the Event of an 'unknown' push
  --msg-id <id>          MsgId (default: a fresh one)
  --create-time <s>      CreateTime in seconds (default: now)
  --help                 this text
`

function fail(message: string): never {
  console.error(`simulate: ${message}`)
  process.exit(2)
}

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const parsed = Number(value)
  if (!Number.isFinite(parsed)) fail(`--${name} must be a number`)
  return parsed
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      mode: { type: 'string', default: 'plaintext' },
      retries: { type: 'string', default: '0' },
      watch: { type: 'string', default: String(DEFAULT_WATCH_SECONDS) },
      token: { type: 'string' },
      'admin-token': { type: 'string' },
      appid: { type: 'string' },
      'aes-key': { type: 'string' },
      openid: { type: 'string' },
      account: { type: 'string' },
      'to-user': { type: 'string' },
      scene: { type: 'string' },
      key: { type: 'string' },
      link: { type: 'string' },
      lat: { type: 'string' },
      lng: { type: 'string' },
      precision: { type: 'string' },
      content: { type: 'string' },
      'template-ids': { type: 'string' },
      'kf-account': { type: 'string' },
      'revoke-info': { type: 'string' },
      event: { type: 'string' },
      'msg-id': { type: 'string' },
      'create-time': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    return 0
  }
  const kind = positionals[0] as PushKind | undefined
  if (!kind || !PUSH_KINDS.includes(kind)) fail(`give a kind, one of: ${PUSH_KINDS.join(', ')}`)
  const mode = FORGE_MODES.find((known) => known === values.mode)
  if (!mode) fail(`--mode is ${FORGE_MODES.join(', ')}`)
  const retries = Number(values.retries)
  if (!Number.isInteger(retries) || retries < 0 || retries > 10) fail('--retries is 0 to 10')
  const watchSeconds = number(values.watch, 'watch') ?? DEFAULT_WATCH_SECONDS

  const devVars = readDevVars()
  const configured = values.account === undefined ? null : accountEntry(values.account, devVars)
  const url =
    values.url ??
    `http://127.0.0.1:8787/wechat${values.account === undefined ? '' : `/${values.account}`}`
  const account = {
    token:
      values.token ??
      configured?.token ??
      devVars.WECHAT_TOKEN ??
      fail('no --token and no WECHAT_TOKEN in .dev.vars'),
    appId: values.appid ?? configured?.appId ?? devVars.WECHAT_APPID ?? null,
    encodingAesKey:
      values['aes-key'] ?? configured?.encodingAesKey ?? devVars.WECHAT_ENCODING_AES_KEY ?? null,
  }
  const fields: ForgeFields = {
    ...(values.openid !== undefined && { openid: values.openid }),
    ...(values['to-user'] !== undefined && { account: values['to-user'] }),
    ...(values.scene !== undefined && { scene: values.scene }),
    ...(values.key !== undefined && { menuKey: values.key }),
    ...(values.link !== undefined && { url: values.link }),
    ...(values.content !== undefined && { content: values.content }),
    ...(values['template-ids'] !== undefined && {
      templateIds: values['template-ids'].split(',').map((id) => id.trim()),
    }),
    ...(values['kf-account'] !== undefined && { kfAccount: values['kf-account'] }),
    ...(values['revoke-info'] !== undefined && { revokeInfo: values['revoke-info'] }),
    ...(values.event !== undefined && { event: values.event }),
    ...(values.lat !== undefined && { latitude: number(values.lat, 'lat') }),
    ...(values.lng !== undefined && { longitude: number(values.lng, 'lng') }),
    ...(values.precision !== undefined && { precision: number(values.precision, 'precision') }),
    msgId: values['msg-id'] ?? freshMsgId(),
    createTime: number(values['create-time'], 'create-time') ?? Math.floor(Date.now() / 1000),
  }

  const xml = forgePushXml(kind, fields)
  const fake = fakeWechatOf(url, values['admin-token'] ?? devVars.ADMIN_TOKEN)
  const sentAt = Date.now()
  await fake?.interact(xml)
  let failed = false
  for (let attempt = 0; attempt <= retries; attempt++) {
    const { query, body } = await signPush(xml, account, mode)
    const label = attempt === 0 ? 'push' : `retry ${attempt}`
    console.log(`── ${label}: POST ${url}?${query}`)
    console.log(attempt === 0 ? xml : '(the same push)')
    const started = performance.now()
    const response = await fetch(`${url}?${query}`, { method: 'POST', body }).catch(
      (error: unknown) => unreachable(url, error),
    )
    const text = await response.text()
    const ms = (performance.now() - started).toFixed(1)
    console.log(`── answer: ${response.status} in ${ms} ms`)
    if (response.status !== 200) {
      console.log(text)
      failed = true
      continue
    }
    const reply = await openReply(text, account)
    if (reply.encrypted)
      console.log(`(encrypted; MsgSignature ${reply.signatureValid ? 'holds' : 'DOES NOT hold'})`)
    console.log(reply.plaintext === '' ? '(empty body)' : reply.plaintext)
    if (!reply.signatureValid) failed = true
  }
  if (fake && !failed)
    await fake.watch(fields.openid ?? FORGE_DEFAULTS.openid, sentAt, watchSeconds)
  return failed ? 1 : 0
}

/**
 * One account's settings from WECHAT_ACCOUNTS, as this machine holds it: the dev server's
 * (.dev.vars), else what `npm run setup -- --account` keeps (.wechat-accounts.json).
 */
function accountEntry(
  id: string,
  devVars: Record<string, string>,
): { token?: string; appId?: string; encodingAesKey?: string } {
  const sources = [
    devVars.WECHAT_ACCOUNTS,
    existsSync(ACCOUNTS_FILE) ? readFileSync(ACCOUNTS_FILE, 'utf8') : undefined,
  ]
  for (const source of sources) {
    if (!source?.trim()) continue
    try {
      const entry = (JSON.parse(source) as Record<string, unknown>)[id]
      if (typeof entry === 'object' && entry !== null) return entry
    } catch {
      fail('WECHAT_ACCOUNTS (or .wechat-accounts.json) is not JSON')
    }
  }
  return fail(`no account ${id} in .dev.vars's WECHAT_ACCOUNTS or .wechat-accounts.json`)
}

/** No answer at all: name the URL, and what usually fixes it. */
function unreachable(url: string, error: unknown): never {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : ''
  const local = isThisMachine(new URL(url))
  fail(
    `no answer from ${url}${cause ? ` (${cause})` : ''}. ` +
      (local
        ? 'Is the dev server running? Start it with npm run dev, or give its --url.'
        : 'Is the URL right, and the Worker deployed?'),
  )
}

function isThisMachine(url: URL): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
}

interface Recorded {
  readonly body: { msgtype?: string; text?: { content?: string } }
  readonly at: number
}

/**
 * A callback on this machine is a dev server with its fake WeChat API (src/debug/fake-wechat.ts,
 * at /debug/wechat-api/; its controls and records need the admin token). The push is told to it
 * first, as WeChat learns it from the user, so that its windows open for the replies; after the
 * answer, what it took for the user is shown. Best effort: a deployed Worker, or no admin token,
 * and there is no fake to ask.
 */
function fakeWechatOf(callback: string, adminToken: string | undefined) {
  const url = new URL(callback)
  if (!isThisMachine(url) || !adminToken) return null
  const headers = { Authorization: `Bearer ${adminToken}` }
  const records = async (what: 'sent' | 'typing', openid: string, since: number) => {
    const path = `/debug/wechat-api/fake/${what}?touser=${encodeURIComponent(openid)}`
    const response = await fetch(new URL(path, url), { headers }).catch(() => null)
    if (!response?.ok) return []
    return ((await response.json()) as Recorded[]).filter((entry) => entry.at >= since)
  }
  return {
    async interact(xml: string): Promise<void> {
      const path = '/debug/wechat-api/fake/interact'
      await fetch(new URL(path, url), { method: 'POST', headers, body: xml }).catch(() => null)
    },
    /**
     * Prints each customer-service message sent to the user since `since`, as it comes: a
     * deferred route shows typing, then sends. Waits `seconds` for a first sign, then for as
     * long as messages keep coming.
     */
    async watch(openid: string, since: number, seconds: number): Promise<void> {
      const started = Date.now()
      let deadline = started + seconds * 1000
      let shown = 0
      let typing = false
      while (Date.now() < Math.min(deadline, started + WATCH_LIMIT_MS)) {
        await new Promise((resolve) => setTimeout(resolve, 250))
        if (!typing && (await records('typing', openid, since)).length > 0) {
          typing = true
          deadline = Math.max(deadline, Date.now() + TYPING_MS)
          console.log('── typing… (a deferred reply is on its way)')
        }
        const sent = await records('sent', openid, since)
        for (const { body, at } of sent.slice(shown)) {
          console.log(
            `── customer-service message, ${((at - since) / 1000).toFixed(1)} s after the push:`,
          )
          console.log(body.msgtype === 'text' ? body.text?.content : JSON.stringify(body))
          deadline = Date.now() + QUIET_MS
        }
        shown = Math.max(shown, sent.length)
      }
    },
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => fail(error instanceof Error ? error.message : String(error)),
)
