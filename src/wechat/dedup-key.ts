/**
 * The dedup key of a push: what a retry of it shares with the first delivery and no other push
 * does. Every key includes the account and the sender, so two users can never share one:
 * MsgIds have collided across users, and a key without the sender would hand one user the
 * reply cached for another.
 *
 * - A message: ToUserName + FromUserName + CreateTime + MsgId (as WxJava keys them).
 * - An event: ToUserName + FromUserName + CreateTime + every field it carries. One user can
 *   trigger two events in one second (a QR follow and a location report), and a retry repeats
 *   the same fields, so the whole event tells two apart where an EventKey alone would not
 *   (unknown events, subscription popups, authorization changes for two OpenIDs).
 *
 * A keyed hash (HMAC-SHA-256 with the account's Token, truncated to 160 bits), so that a key is
 * short, nothing a user sent shows in a log, and a key that reaches a log cannot be reversed by
 * hashing guesses: an unkeyed hash of a candidate OpenID and a day of timestamps would find
 * the OpenID behind a key in a fraction of a second.
 */

import { isMessage, type Push } from './push.ts'

const encoder = new TextEncoder()
/** One imported key per secret, per isolate: importing costs more than the hash. */
const keys = new Map<string, Promise<CryptoKey>>()

function keyFor(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret)
  if (!key) {
    key = crypto.subtle.importKey(
      'raw',
      encoder.encode(`wechat-edge dedup key\n${secret}`),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    )
    keys.set(secret, key)
  }
  return key
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

/** The keyed hash every key is made of (160 bits of HMAC-SHA-256 with the secret), in hex. */
export async function keyedHex(secret: string, text: string): Promise<string> {
  const mac = new Uint8Array(
    await crypto.subtle.sign('HMAC', await keyFor(secret), encoder.encode(text)),
  )
  let hex = ''
  for (let i = 0; i < 20; i++) hex += HEX[mac[i] ?? 0]
  return hex
}

/**
 * @param secret the account's Token: the key of the hash.
 *
 * @example
 * await dedupKey(push, account.token) // 'msg:5c1f…' or 'evt:3f1c…'
 */
export async function dedupKey(push: Push, secret: string): Promise<string> {
  if (isMessage(push)) {
    const parts = [push.toUserName, push.fromUserName, push.createTime, push.msgId]
    return `msg:${await keyedHex(secret, JSON.stringify(parts))}`
  }
  // The parsed push holds its fields in document order, which a retry repeats.
  return `evt:${await keyedHex(secret, JSON.stringify(push))}`
}
