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
 * Hashed, so a key is short and nothing a user sent, nor their OpenID, shows in a log.
 */

import { isMessage, type Push } from './push.ts'
import { sha1Hex } from './signature.ts'

/**
 * @example
 * await dedupKey(push) // 'msg:5c1f…' or 'evt:3f1c…'
 */
export async function dedupKey(push: Push): Promise<string> {
  if (isMessage(push)) {
    const parts = [push.toUserName, push.fromUserName, push.createTime, push.msgId]
    return `msg:${await sha1Hex(JSON.stringify(parts))}`
  }
  // The parsed push holds its fields in document order, which a retry repeats.
  return `evt:${await sha1Hex(JSON.stringify(push))}`
}
