/**
 * One customer-service message sent through the user's outbox: the one path by which a
 * deferred job and an operator send, so that the delivery guarantee has one owner.
 *
 * - A text past the limit goes out in parts (src/wechat/split-text.ts), all of them only if all
 *   fit in the user's window: `window_closed` is thrown before any is sent.
 * - Each part takes its place in the window before it goes. WeChat refused it (an errcode, a
 *   5xx): the place is given back. No answer (a timeout, a lost connection): WeChat may have
 *   it, so the place stays spent; a redelivery tries it once more in a place of its own, and a
 *   part tried twice without an answer is never tried again (`unconfirmed`, a dead letter).
 * - 45015 and 45047 close the user's window here too, until they write again.
 */

import type { UserState } from '../user/state.ts'
import { type CustomMessage, WechatApiError } from '../wechat/api.ts'
import { splitText } from '../wechat/split-text.ts'
import type { WechatClient } from './talk.ts'

/** The user unfollowed (or revoked) while the job ran: it ends, and nothing of it is kept. */
export class UserPurgedError extends Error {
  override readonly name = 'UserPurgedError'
}

/** A message as it goes out: a text past `limitBytes` in parts, anything else whole. */
export function partsOf(message: CustomMessage, limitBytes: number): CustomMessage[] {
  if (message.msgtype !== 'text') return [message]
  return splitText(message.text.content, limitBytes).map((content) => ({
    msgtype: 'text',
    text: { content },
  }))
}

export interface OutboxSend {
  readonly user: DurableObjectStub<UserState>
  readonly talker: WechatClient
  readonly openid: string
  /** The job's id in the user's jobs table; its claim must be held. */
  readonly job: string
}

/**
 * Sends a message's parts ({@link partsOf}) as outbox indexes from `first`; returns how many
 * went to WeChat now. Throws a {@link WechatApiError} or a {@link UserPurgedError}.
 *
 * @example
 * const parts = partsOf(message.text(answer), textLimitBytes)
 * await sendThroughOutbox(outbox, index, parts)
 * index += parts.length
 */
export async function sendThroughOutbox(
  outbox: OutboxSend,
  first: number,
  parts: readonly CustomMessage[],
): Promise<number> {
  const { user, talker, openid, job } = outbox
  const reservation = await user.reserveSends(job, first, parts.length)
  if (reservation === 'purged') throw new UserPurgedError()
  if (reservation === 'window_closed') {
    const what = parts.length > 1 ? `the ${parts.length} parts of this text` : 'this message'
    throw new WechatApiError(
      'window_closed',
      null,
      `the user’s reply window has no room for ${what}`,
    )
  }
  if (reservation === 'unconfirmed') {
    throw new WechatApiError(
      'unconfirmed',
      null,
      'WeChat answered neither of two tries of this message: it may have it, and it is not tried a third time',
    )
  }
  let sent = 0
  for (const [offset, part] of parts.entries()) {
    if (reservation.parts[offset] !== 'reserved') continue
    try {
      await talker.send(openid, part)
    } catch (error) {
      const unsent = parts.map((_, i) => first + i).filter((_, i) => i > offset)
      const answered = !(error instanceof WechatApiError && error.unanswered)
      await user.releaseSends(job, answered ? [first + offset, ...unsent] : unsent)
      if (error instanceof WechatApiError && error.closesWindow) await user.closeWindows()
      throw error
    }
    await user.confirmSend(job, first + offset)
    sent++
  }
  return sent
}
