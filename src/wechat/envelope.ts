/**
 * A push as it arrives and a reply as it leaves, in plaintext, compatible or safe mode:
 * signature checks, decryption, the AppID check and parsing on the way in; encryption and the
 * signed envelope on the way out. Pure: it knows the account's secrets, not the bindings.
 */

import { decryptMessage, encryptMessage, importEncodingAesKey } from './crypto.ts'
import { MalformedPushError, SignatureError, WechatError } from './errors.ts'
import { type Push, parsePush } from './push.ts'
import { renderEncryptedEnvelope } from './reply.ts'
import { verifyMessageSignature, verifySignature, wechatSignature } from './signature.ts'
import { parseXmlRoot, textOf } from './xml.ts'

/** What the request path needs to know of the account. */
export interface Account {
  readonly token: string
  readonly appId: string | null
  readonly encodingAesKey: string | null
  readonly requireEncryption: boolean
  readonly signatureMaxAgeSeconds: number
}

/** The query parameters WeChat signs a push with. */
export interface PushQuery {
  readonly signature?: string | undefined
  readonly timestamp?: string | undefined
  readonly nonce?: string | undefined
  readonly encrypt_type?: string | undefined
  readonly msg_signature?: string | undefined
}

export type PushMode = 'plaintext' | 'encrypted'

export interface OpenedPush {
  readonly push: Push
  /** `encrypted` for compatible and safe mode, whose replies are encrypted too. */
  readonly mode: PushMode
}

/**
 * Verifies, decrypts when needed, and parses one push.
 *
 * @example
 * const { push, mode } = await openPush(query, body, account, Date.now() / 1000)
 */
export async function openPush(
  query: PushQuery,
  body: string,
  account: Account,
  nowSeconds: number,
): Promise<OpenedPush> {
  const { timestamp, nonce } = await verifySignature(
    query,
    account.token,
    nowSeconds,
    account.signatureMaxAgeSeconds,
  )
  const outer = parseXmlRoot(body)
  if (query.encrypt_type !== 'aes') {
    if (account.requireEncryption)
      throw new SignatureError('this account accepts encrypted pushes only')
    return { push: parsePush(outer), mode: 'plaintext' }
  }
  if (!account.encodingAesKey || !account.appId) {
    throw new WechatError(400, 'encrypted push, but no EncodingAESKey and AppID are configured')
  }
  const encrypted = textOf(outer, 'Encrypt')?.trim()
  if (!encrypted) throw new MalformedPushError('missing Encrypt')
  await verifyMessageSignature(query.msg_signature, account.token, timestamp, nonce, encrypted)
  const aes = await importEncodingAesKey(account.encodingAesKey)
  const inner = await decryptMessage(aes, encrypted, account.appId)
  return { push: parsePush(parseXmlRoot(inner)), mode: 'encrypted' }
}

/**
 * Encrypts a rendered reply into safe mode's signed envelope, with fresh random bytes, a fresh
 * nonce and the current time in seconds.
 */
export async function sealReply(
  replyXml: string,
  account: Account,
  nowSeconds: number,
): Promise<string> {
  if (!account.encodingAesKey || !account.appId) {
    throw new WechatError(400, 'no EncodingAESKey and AppID are configured')
  }
  const aes = await importEncodingAesKey(account.encodingAesKey)
  const encrypted = await encryptMessage(aes, replyXml, account.appId)
  const timestamp = String(Math.floor(nowSeconds))
  const nonce = String(crypto.getRandomValues(new Uint32Array(1))[0])
  const msgSignature = await wechatSignature([account.token, timestamp, nonce, encrypted])
  return renderEncryptedEnvelope(encrypted, msgSignature, timestamp, nonce)
}
