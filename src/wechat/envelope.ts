/**
 * A push as it arrives and a reply as it leaves, in plaintext, compatible or safe mode:
 * signature checks, decryption, the AppID check and parsing on the way in; encryption and the
 * signed envelope on the way out. Pure: it knows the account's secrets, not the bindings.
 */

import { decryptMessage, encryptMessage, importEncodingAesKey, isBase64 } from './crypto.ts'
import { MalformedPushError, SignatureError, WechatError } from './errors.ts'
import { type Push, parsePush } from './push.ts'
import { renderEncryptedEnvelope } from './reply.ts'
import { verifyMessageSignature, verifySignature, wechatSignature } from './signature.ts'
import { parseXmlRoot, type XmlElement } from './xml.ts'

/** Compatible and safe mode's secrets: valid only together. */
export interface AesAccount {
  readonly appId: string
  readonly encodingAesKey: string
}

/** What the request path needs to know of the account. */
export interface Account {
  readonly token: string
  /** Null when no EncodingAESKey (with its AppID) is configured: plaintext mode only. */
  readonly aes: AesAccount | null
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

/** A query whose signature and timestamp hold: the push's body may now be read. */
export interface SignedQuery {
  readonly timestamp: string
  readonly nonce: string
  readonly encrypted: boolean
  readonly msgSignature: string | undefined
  /** The time the check was made against, in seconds. */
  readonly nowSeconds: number
}

export type PushMode = 'plaintext' | 'encrypted'

/**
 * Whether a push's body is authenticated: an encrypted push's is, by `msg_signature`; a
 * plaintext push's is not, since the URL's signature covers its query only (one captured signed
 * URL lets anyone post any body, for any OpenID). What acts on a user's stored state beyond the
 * push itself (a login, consent, a send's result, the assistant's memory) asks this first.
 *
 * @example
 * bodyAuthenticated('plaintext') // false
 */
export function bodyAuthenticated(mode: PushMode): boolean {
  return mode === 'encrypted'
}

/** `encrypted` for compatible and safe mode, whose replies are sealed with the same `aes`. */
export type OpenedPush =
  | { readonly push: Push; readonly mode: 'plaintext' }
  | { readonly push: Push; readonly mode: 'encrypted'; readonly aes: AesAccount }

/**
 * The one answer to every failure after `msg_signature` holds, in the response and in the log
 * alike. Telling a bad padding from a wrong AppID or malformed XML inside would be a padding
 * oracle: anyone holding the Token (it signs, it does not encrypt) could decrypt captured pushes
 * and forge new ones byte by byte, and a log line that names the reason is as good an oracle to
 * whoever reads the logs, since each line carries the request id (Cf-Ray) its client saw.
 */
export class SealedPushError extends WechatError {
  constructor() {
    super(400, 'encrypted push could not be opened')
    this.name = 'SealedPushError'
  }
}

/**
 * How far ahead of now a push's CreateTime may be. The same tolerance as the signature's
 * timestamp: WeChat stamps both from one clock. A push from further ahead would pin a field
 * ("newer" than every real push) or, as an unfollow, make the user's next pushes stale.
 */
export const MAX_CREATE_TIME_AHEAD_SECONDS = 300

/**
 * Checks the URL's signature and timestamp, before the body is read.
 *
 * @example
 * const signed = await verifyPushQuery(c.req.query(), account, Date.now() / 1000)
 */
export async function verifyPushQuery(
  query: PushQuery,
  account: Account,
  nowSeconds: number,
): Promise<SignedQuery> {
  const { timestamp, nonce } = await verifySignature(
    query,
    account.token,
    nowSeconds,
    account.signatureMaxAgeSeconds,
  )
  const encrypted = query.encrypt_type === 'aes'
  if (!encrypted && account.requireEncryption) {
    throw new SignatureError('this account accepts encrypted pushes only')
  }
  return { timestamp, nonce, encrypted, msgSignature: query.msg_signature, nowSeconds }
}

/**
 * The longest Encrypt value taken: 32 KiB of ciphertext in base64, far past any push WeChat
 * sends (the body limit alone would allow twice as much).
 */
export const MAX_ENCRYPT_CHARS = Math.ceil((32 * 1024) / 3) * 4

/**
 * The Encrypt element of a compatible- or safe-mode envelope: base64, in CDATA or not. Read
 * with two `indexOf`s, never a pattern that could backtrack: this runs before `msg_signature`
 * holds, on whatever a holder of one signed URL sends, so it must stay linear in the body.
 */
function encryptValueOf(body: string): string {
  const open = body.indexOf('<Encrypt>')
  const start = open + '<Encrypt>'.length
  const end = open === -1 ? -1 : body.indexOf('</Encrypt>', start)
  if (end === -1) throw new MalformedPushError('missing Encrypt')
  let value = body.slice(start, end).trim()
  if (value.startsWith('<![CDATA[') && value.endsWith(']]>')) value = value.slice(9, -3).trim()
  if (value.length > MAX_ENCRYPT_CHARS) throw new MalformedPushError('Encrypt is too long')
  if (!isBase64(value)) throw new MalformedPushError('Encrypt is not base64')
  return value
}

/**
 * Decrypts when needed and parses the body of a push whose query holds.
 *
 * @example
 * const { push, mode } = await openPushBody(signed, body, account)
 */
export async function openPushBody(
  signed: SignedQuery,
  body: string,
  account: Account,
): Promise<OpenedPush> {
  if (!signed.encrypted) {
    return {
      push: readPush(parseXmlRoot(body), signed.nowSeconds),
      mode: 'plaintext',
    }
  }
  const aes = account.aes
  if (!aes) {
    throw new MalformedPushError('encrypted push, but no EncodingAESKey and AppID are configured')
  }
  const push = await openSealed(signed, body, account, (inner) =>
    readPush(inner, signed.nowSeconds),
  )
  return { push, mode: 'encrypted', aes }
}

/**
 * The inner XML of an encrypted envelope whose query holds, read by `read`: `msg_signature`
 * first (over the Encrypt element alone, read in linear time), then decryption and the AppID
 * sealed inside, then `read`. Every failure after `msg_signature` is the one
 * {@link SealedPushError}. The third-party platform's authorization events open so too.
 *
 * @example
 * const event = await openSealed(signed, body, platform.envelope, (xml) => parsePlatformEvent(xml, appId))
 */
export async function openSealed<T>(
  signed: SignedQuery,
  body: string,
  account: Account,
  read: (inner: XmlElement) => T,
): Promise<T> {
  if (!account.aes) {
    throw new MalformedPushError('encrypted push, but no EncodingAESKey and AppID are configured')
  }
  // msg_signature is checked before the body goes to the XML parser: the envelope's one signed
  // field is read by a narrow pattern, and nothing else of the outer body is used.
  const encrypted = encryptValueOf(body)
  await verifyMessageSignature(
    signed.msgSignature,
    account.token,
    signed.timestamp,
    signed.nonce,
    encrypted,
  )
  try {
    const aes = await importEncodingAesKey(account.aes.encodingAesKey)
    const inner = await decryptMessage(aes, encrypted, account.aes.appId)
    return read(parseXmlRoot(inner))
  } catch {
    throw new SealedPushError()
  }
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
  return openPushBody(await verifyPushQuery(query, account, nowSeconds), body, account)
}

/**
 * A push from its XML, checked as every push is. A CreateTime in the past is left alone: its
 * fields can only lose to newer ones, and a retry or a slow Queue only ever makes a push older.
 * One from the future is refused.
 *
 * @example
 * await openSealed(signed, body, account, (inner) => readPush(inner, signed.nowSeconds))
 */
export function readPush(xml: XmlElement, nowSeconds: number): Push {
  const push = parsePush(xml)
  if (push.createTime > nowSeconds + MAX_CREATE_TIME_AHEAD_SECONDS) {
    throw new MalformedPushError('CreateTime is in the future')
  }
  return push
}

/**
 * Encrypts a rendered reply into safe mode's signed envelope, with fresh random bytes, a fresh
 * nonce and the current time in seconds.
 */
export async function sealReply(
  replyXml: string,
  token: string,
  aes: AesAccount,
  nowSeconds: number,
): Promise<string> {
  const key = await importEncodingAesKey(aes.encodingAesKey)
  const encrypted = await encryptMessage(key, replyXml, aes.appId)
  const timestamp = String(Math.floor(nowSeconds))
  const nonce = String(crypto.getRandomValues(new Uint32Array(1))[0])
  const msgSignature = await wechatSignature([token, timestamp, nonce, encrypted])
  return renderEncryptedEnvelope(encrypted, msgSignature, timestamp, nonce)
}
