/**
 * The JS-SDK's side on the server: the jsapi_ticket (`cgi-bin/ticket/getticket?type=jsapi`) and
 * the signature a page passes to `wx.config`. Pure: the caller supplies the call, the access
 * token and the ticket.
 *
 * https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html (附录1-JS-SDK使用权限签名算法):
 * the ticket "有效期为7200秒，通过access_token来获取", and must be cached by the server ("获取
 * jsapi_ticket的api调用次数非常有限，频繁刷新jsapi_ticket会导致api调用受限"). The signature is sha1 over
 * `jsapi_ticket=…&noncestr=…&timestamp=…&url=…`, the fields in ASCII order, values as they are
 * ("字段名和字段值都采用原始值，不进行URL转义"), the url being the page's whole URL "不包含#及其后面部分".
 */

import { type ApiCall, requestJson, WechatApiError } from './api.ts'
import { sha1Hex } from './signature.ts'

/** What a page passes to `wx.config` besides its `jsApiList`. */
export interface JssdkConfig {
  readonly appId: string
  /** Seconds since the epoch. */
  readonly timestamp: number
  readonly nonceStr: string
  readonly signature: string
}

/**
 * The page URL as WeChat signs it: everything before the first `#`, byte for byte. It is not
 * re-serialized (`new URL` would add a `/` to `http://host?q` and change the signature).
 *
 * @example
 * signedPageUrl('https://shop.example.com/p?id=1#top') // 'https://shop.example.com/p?id=1'
 */
export function signedPageUrl(url: string): string {
  const hash = url.indexOf('#')
  return hash === -1 ? url : url.slice(0, hash)
}

/**
 * The signature of a page's `wx.config`.
 *
 * @example
 * await jssdkSignature({ ticket, nonceStr: 'Wm3WZYTPz0wzccnW', timestamp: 1414587457, url: 'http://mp.weixin.qq.com?params=value' })
 * // '0f9de62fce790f9a083d5c99e95740ceb90c27ed'
 */
export function jssdkSignature(input: {
  readonly ticket: string
  readonly nonceStr: string
  readonly timestamp: number
  readonly url: string
}): Promise<string> {
  return sha1Hex(
    `jsapi_ticket=${input.ticket}&noncestr=${input.nonceStr}&timestamp=${input.timestamp}&url=${signedPageUrl(input.url)}`,
  )
}

const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** 16 random letters and digits, as WeChat's example nonceStr. */
export function randomNonce(): string {
  let nonce = ''
  for (const byte of crypto.getRandomValues(new Uint8Array(16))) {
    nonce += NONCE_ALPHABET[byte % NONCE_ALPHABET.length]
  }
  return nonce
}

/**
 * A page's `wx.config` for `url`, signed with `ticket` now.
 *
 * @example
 * const config = await jssdkConfig(appId, ticket, location.href)
 */
export async function jssdkConfig(
  appId: string,
  ticket: string,
  url: string,
  now = Date.now(),
): Promise<JssdkConfig> {
  const timestamp = Math.floor(now / 1000)
  const nonceStr = randomNonce()
  return {
    appId,
    timestamp,
    nonceStr,
    signature: await jssdkSignature({ ticket, nonceStr, timestamp, url }),
  }
}

/** WeChat's tickets live 7,200 s: none is held longer, whatever an answer claims. */
export const MAX_TICKET_SECONDS = 7_200

export interface IssuedTicket {
  readonly ticket: string
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
}

/**
 * `cgi-bin/ticket/getticket?type=jsapi` with the access token. A refused token is WeChat's
 * 40001 (a {@link WechatApiError} `token_invalid`), for the caller to renew once.
 */
export async function fetchJsapiTicket(
  call: ApiCall,
  accessToken: string,
  now = Date.now(),
): Promise<IssuedTicket> {
  const answer = await requestJson<{ ticket?: unknown; expires_in?: unknown }>(
    call,
    'cgi-bin/ticket/getticket',
    { query: { type: 'jsapi' } },
    accessToken,
  )
  const { ticket, expires_in: expiresIn } = answer
  if (typeof ticket !== 'string' || ticket === '' || ticket.length > 1024) {
    throw new WechatApiError('busy', null, 'the ticket answer lacks a ticket')
  }
  if (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 1) {
    throw new WechatApiError('busy', null, 'the ticket answer lacks expires_in')
  }
  return { ticket, expiresAt: now + Math.min(expiresIn, MAX_TICKET_SECONDS) * 1000 }
}
