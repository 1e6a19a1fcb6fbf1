/**
 * `npm run simulate -- <kind> [options]`: sends one push to a wechat-edge callback as WeChat
 * would, signed and (in compatible or safe mode) encrypted, then prints the request and the
 * decrypted reply. Exits non-zero on a non-200 answer or a reply whose signature does not hold.
 */

import { parseArgs } from 'node:util'
import {
  type ForgeFields,
  type ForgeMode,
  forgePushXml,
  freshMsgId,
  openReply,
  signPush,
} from '../src/debug/forge.ts'
import { PUSH_KINDS, type PushKind } from '../src/wechat/push.ts'
import { readDevVars } from './dev-vars.ts'

const MODES: Record<string, ForgeMode> = {
  plain: 'plaintext',
  plaintext: 'plaintext',
  compat: 'compatible',
  compatible: 'compatible',
  safe: 'safe',
}

const HELP = `Usage: npm run simulate -- <kind> [options]

Sends a push to a wechat-edge callback, signed and encrypted as WeChat would, and prints the
request and the decrypted reply. Secrets default to .dev.vars.

Kinds:
  ${PUSH_KINDS.join(', ')}

Options:
  --url <url>            callback URL (default http://127.0.0.1:8787/wechat)
  --mode <mode>          plain | compat | safe (default plain)
  --retries <n>          send the same push n more times, as WeChat's retries (default 0)
  --token <token>        WECHAT_TOKEN (default from .dev.vars)
  --appid <appid>        WECHAT_APPID (default from .dev.vars)
  --aes-key <key>        WECHAT_ENCODING_AES_KEY (default from .dev.vars)
  --admin-token <token>  ADMIN_TOKEN: a dev server's fake WeChat API learns of the push first,
                         as WeChat learns it from the user (default from .dev.vars)
  --openid <openid>      the user (FromUserName; OpenID of an authorization change)
  --account <id>         the Service Account (ToUserName)
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
      url: { type: 'string', default: 'http://127.0.0.1:8787/wechat' },
      mode: { type: 'string', default: 'plain' },
      retries: { type: 'string', default: '0' },
      token: { type: 'string' },
      'admin-token': { type: 'string' },
      appid: { type: 'string' },
      'aes-key': { type: 'string' },
      openid: { type: 'string' },
      account: { type: 'string' },
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
  const mode = MODES[values.mode]
  if (!mode) fail('--mode is plain, compat or safe')
  const retries = Number(values.retries)
  if (!Number.isInteger(retries) || retries < 0 || retries > 10) fail('--retries is 0 to 10')

  const devVars = readDevVars()
  const account = {
    token:
      values.token ?? devVars.WECHAT_TOKEN ?? fail('no --token and no WECHAT_TOKEN in .dev.vars'),
    appId: values.appid ?? devVars.WECHAT_APPID ?? null,
    encodingAesKey: values['aes-key'] ?? devVars.WECHAT_ENCODING_AES_KEY ?? null,
  }
  const fields: ForgeFields = {
    ...(values.openid !== undefined && { openid: values.openid }),
    ...(values.account !== undefined && { account: values.account }),
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
  await tellFakeWechat(values.url, values['admin-token'] ?? devVars.ADMIN_TOKEN, xml)
  let failed = false
  for (let attempt = 0; attempt <= retries; attempt++) {
    const { query, body } = await signPush(xml, account, mode)
    const label = attempt === 0 ? 'push' : `retry ${attempt}`
    console.log(`── ${label}: POST ${values.url}?${query}`)
    console.log(attempt === 0 ? xml : '(the same push)')
    const started = performance.now()
    const response = await fetch(`${values.url}?${query}`, { method: 'POST', body })
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
  return failed ? 1 : 0
}

/**
 * A callback on this machine is a dev server with its fake WeChat API: the user's interaction is
 * told to it first, as WeChat learns it from the user, so that its windows open for the replies.
 * Best effort: anything else (a deployed Worker, no admin token) is left alone.
 */
async function tellFakeWechat(callback: string, adminToken: string | undefined, xml: string) {
  const url = new URL(callback)
  if (!['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || !adminToken) return
  await fetch(new URL('/debug/wechat-api/fake/interact', url), {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}` },
    body: xml,
  }).catch(() => null)
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => fail(error instanceof Error ? error.message : String(error)),
)
