/**
 * The fake WeChat the HTTP tests talk through: pushes signed and sealed as WeChat does
 * (src/debug/forge.ts), sent to the Worker's real `/wechat` route with real bindings.
 */

import { env, exports } from 'cloudflare:workers'
import { type ForgeMode, openReply, signPush } from '../../src/debug/forge.ts'
import { fakeWechat } from './fake-wechat.ts'

export const account = {
  token: env.WECHAT_TOKEN,
  appId: env.WECHAT_APPID,
  encodingAesKey: env.WECHAT_ENCODING_AES_KEY,
}

/** A push as WeChat would send it, in the given mode, as a Request for any fetch handler. */
export async function signedRequest(xml: string, mode: ForgeMode = 'plaintext'): Promise<Request> {
  const { query, body } = await signPush(xml, account, mode)
  return new Request(`https://edge.test/wechat?${query}`, { method: 'POST', body })
}

/**
 * Posts a push as WeChat would, in the given mode. The fake WeChat API learns of the user's
 * interaction first, as WeChat itself would, so that its windows open for the replies.
 */
export async function postPush(xml: string, mode: ForgeMode = 'plaintext'): Promise<Response> {
  await fakeWechat.interact(xml)
  return exports.default.fetch(await signedRequest(xml, mode))
}

/** Posts any body under a valid signature, so that it reaches the parser. */
export async function postSigned(body: BodyInit): Promise<Response> {
  const { query } = await signPush('<xml/>', account, 'plaintext')
  return exports.default.fetch(`https://edge.test/wechat?${query}`, { method: 'POST', body })
}

/** Posts a push and reads the reply as WeChat would: decrypted, its signature checked. */
export async function exchange(xml: string, mode: ForgeMode = 'plaintext') {
  const response = await postPush(xml, mode)
  const body = await response.text()
  if (response.status !== 200)
    return { status: response.status, body, reply: body, signatureValid: false }
  const opened = await openReply(body, account)
  return {
    status: response.status,
    body,
    reply: opened.plaintext,
    signatureValid: opened.signatureValid,
    encrypted: opened.encrypted,
  }
}

/** A unique OpenID per test, so that tests sharing storage never meet. */
export function openid(label: string): string {
  return `o${label.replace(/[^A-Za-z0-9]/g, '')}${crypto.randomUUID().replaceAll('-', '')}`.slice(
    0,
    40,
  )
}
