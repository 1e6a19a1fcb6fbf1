/**
 * WeChat's request signatures: sha1 over the sorted, concatenated strings. `signature` covers
 * token, timestamp and nonce; safe mode's `msg_signature` adds the Encrypt envelope.
 */

import { SignatureError } from './errors.ts'

const encoder = new TextEncoder()
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

function toHex(bytes: ArrayBuffer): string {
  let hex = ''
  for (const byte of new Uint8Array(bytes)) hex += HEX[byte]
  return hex
}

/**
 * The lowercase hex sha1 of the parts sorted as strings and joined, as WeChat signs.
 *
 * @example
 * await wechatSignature(['spamtest', '1409735669', '1320562132'])
 * // '16120ec1b8dbb870f510d87ce6bc2463eae6ca1a'
 */
export function wechatSignature(parts: readonly string[]): Promise<string> {
  return sha1Hex([...parts].sort().join(''))
}

/** The lowercase hex sha1 of a string's UTF-8 bytes. */
export async function sha1Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest('SHA-1', encoder.encode(text)))
}

/**
 * Compares two strings in time that depends only on their lengths, so a forger learns nothing
 * from how long a wrong guess took.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

export interface SignedQuery {
  readonly signature?: string | undefined
  readonly timestamp?: string | undefined
  readonly nonce?: string | undefined
}

/**
 * Checks `signature` and that `timestamp` lies within `maxAgeSeconds` of `nowSeconds` in either
 * direction. Throws a {@link SignatureError} (401) otherwise.
 */
export async function verifySignature(
  query: SignedQuery,
  token: string,
  nowSeconds: number,
  maxAgeSeconds: number,
): Promise<{ timestamp: string; nonce: string }> {
  const { signature, timestamp, nonce } = query
  if (!signature || !timestamp || !nonce) {
    throw new SignatureError('missing signature, timestamp or nonce')
  }
  assertFreshTimestamp(timestamp, nowSeconds, maxAgeSeconds)
  const expected = await wechatSignature([token, timestamp, nonce])
  if (!constantTimeEqual(expected, signature.toLowerCase())) {
    throw new SignatureError('signature mismatch')
  }
  return { timestamp, nonce }
}

/** Safe mode: `msg_signature` over token, timestamp, nonce and the Encrypt envelope. */
export async function verifyMessageSignature(
  msgSignature: string | undefined,
  token: string,
  timestamp: string,
  nonce: string,
  encrypted: string,
): Promise<void> {
  if (!msgSignature) throw new SignatureError('missing msg_signature')
  const expected = await wechatSignature([token, timestamp, nonce, encrypted])
  if (!constantTimeEqual(expected, msgSignature.toLowerCase())) {
    throw new SignatureError('msg_signature mismatch')
  }
}

function assertFreshTimestamp(timestamp: string, nowSeconds: number, maxAgeSeconds: number): void {
  if (!/^\d{1,12}$/.test(timestamp)) throw new SignatureError('timestamp is not in seconds')
  if (Math.abs(nowSeconds - Number(timestamp)) > maxAgeSeconds) {
    throw new SignatureError('timestamp outside the allowed window')
  }
}
