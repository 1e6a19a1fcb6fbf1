/**
 * The dedup key of a push (DESIGN.md, invariant 3): its MsgId when it is a message; otherwise
 * ToUserName + FromUserName + CreateTime + event + EventKey (+ a job's MsgID), since one user
 * can trigger two different events in the same second. Hashed, so a long EventKey (a VIEW URL)
 * still makes a short KV key and nothing a user sent shows in logs.
 */

import { isKeyedMenuEvent, isMessage, type Message, type Push } from './push.ts'
import { sha1Hex } from './signature.ts'

/**
 * @example
 * await dedupKey(push) // 'msg:6054768590064713728' or 'evt:3f1c…'
 */
export async function dedupKey(push: Push): Promise<string> {
  if (isMessage(push)) return `msg:${push.msgId}`
  const parts = [push.toUserName, push.fromUserName, push.createTime, ...eventIdentity(push)]
  return `evt:${await sha1Hex(JSON.stringify(parts))}`
}

/** What tells two events of one user in one second apart: the event and its key. */
function eventIdentity(push: Exclude<Push, Message>): string[] {
  if (isKeyedMenuEvent(push)) return [push.kind, push.key]
  switch (push.kind) {
    case 'subscribe':
      return [push.kind, push.scene ?? '']
    case 'scan':
      return [push.kind, push.scene]
    case 'unsubscribe':
    case 'location_report':
      return [push.kind]
    case 'view':
      return [push.kind, push.url]
    case 'view_miniprogram':
      return [push.kind, push.pagePath]
    case 'template_send_job_finish':
    case 'mass_send_job_finish':
      return [push.kind, push.msgId]
    case 'unknown':
      return [push.msgType, push.event ?? '', push.fields.EventKey ?? '', push.fields.MsgId ?? '']
  }
}
