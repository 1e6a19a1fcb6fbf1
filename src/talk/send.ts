/**
 * The one send path: a message of one or more parts sent through the user's outbox, by which a
 * deferred job, an operator and a notification send, so that the delivery guarantee has one
 * owner. What differs between a customer-service message and a notification is its channel:
 * where its place is reserved (a window, or the user's consent) and which call takes it.
 *
 * - A text past the limit goes out in parts (src/wechat/split-text.ts), all of them only if all
 *   fit in the user's window: `window_closed` is thrown before any is sent.
 * - Each part takes its place before it goes. WeChat refused it (an errcode, a 5xx): the place
 *   is given back. No answer (a timeout, a lost connection): WeChat may have it, so the place
 *   stays spent; a redelivery tries it once more, and a part tried twice without an answer is
 *   never tried again (`unconfirmed`, a dead letter).
 * - What WeChat's refusal says of the user is recorded by the channel: 45015 and 45047 close the
 *   user's window here too, until they write again; 43101 clears a template's consent.
 */

import type { SendReservation, UserState } from '../user/state.ts'
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

/**
 * How one kind of message reaches WeChat through the user's outbox. Every method but `deliver`
 * is the user's object's; `deliver` is the one call to WeChat, and answers WeChat's msgid when
 * it gives one.
 */
export interface SendChannel<P> {
  reserve(first: number, count: number): Promise<SendReservation>
  deliver(part: P): Promise<string | null>
  confirm(index: number, msgId: string | null): Promise<void>
  release(indexes: readonly number[]): Promise<void>
  /** WeChat answered a refusal: what it says of the user is kept (a window, a consent). */
  refused(error: WechatApiError): Promise<void>
  /**
   * This attempt ended without WeChat's answer: its place stays spent, and whatever holds the
   * entry against other attempts may let go, so that a redelivery tries once more at once.
   */
  abandoned?(index: number): Promise<void>
}

/** Why nothing was sent, for each reservation that reserved nothing. */
const REFUSALS = {
  window_closed: (count: number) =>
    new WechatApiError(
      'window_closed',
      null,
      `the user’s reply window has no room for ${count > 1 ? `the ${count} parts of this text` : 'this message'}`,
    ),
  unconfirmed: () =>
    new WechatApiError(
      'unconfirmed',
      null,
      'WeChat answered neither of two tries of this message: it may have it, and it is not tried a third time',
    ),
  not_subscribed: () =>
    new WechatApiError(
      'not_subscribed',
      null,
      'the user has not accepted this template, or has no acceptance left, or rejected it since: nothing was sent',
    ),
  not_a_follower: () =>
    new WechatApiError(
      'not_a_follower',
      null,
      'the user unfollowed and has not followed again: nothing was sent',
    ),
  in_progress: () =>
    new WechatApiError(
      'in_progress',
      null,
      'another attempt at this notification is under way: nothing was sent now',
    ),
} as const

/**
 * Sends parts as outbox indexes from `first` through `channel`; returns how many went to WeChat
 * now (0 when WeChat took them all before). Throws a {@link WechatApiError} or a
 * {@link UserPurgedError}.
 *
 * @example
 * const sent = await deliverThroughOutbox(channel, 0, [notification])
 */
export async function deliverThroughOutbox<P>(
  channel: SendChannel<P>,
  first: number,
  parts: readonly P[],
): Promise<number> {
  const reservation = await channel.reserve(first, parts.length)
  if (reservation === 'purged') throw new UserPurgedError()
  if (typeof reservation === 'string') throw REFUSALS[reservation](parts.length)
  let sent = 0
  for (const [offset, part] of parts.entries()) {
    if (reservation.parts[offset] !== 'reserved') continue
    let msgId: string | null
    try {
      msgId = await channel.deliver(part)
    } catch (error) {
      const unsent = parts.map((_, i) => first + i).filter((_, i) => i > offset)
      const answered = !(error instanceof WechatApiError && error.unanswered)
      await channel.release(answered ? [first + offset, ...unsent] : unsent)
      if (!answered) await channel.abandoned?.(first + offset)
      if (error instanceof WechatApiError && error.code !== null) await channel.refused(error)
      throw error
    }
    await channel.confirm(first + offset, msgId)
    sent++
  }
  return sent
}

export interface OutboxSend {
  readonly user: DurableObjectStub<UserState>
  readonly talker: WechatClient
  readonly openid: string
  /** The job's id in the user's jobs table; its claim must be held. */
  readonly job: string
}

/**
 * Sends a customer-service message's parts ({@link partsOf}) as outbox indexes from `first`,
 * each in the user's windows; returns how many went to WeChat now.
 *
 * @example
 * const parts = partsOf(message.text(answer), textLimitBytes)
 * await sendThroughOutbox(outbox, index, parts)
 * index += parts.length
 */
export function sendThroughOutbox(
  outbox: OutboxSend,
  first: number,
  parts: readonly CustomMessage[],
): Promise<number> {
  const { user, talker, openid, job } = outbox
  return deliverThroughOutbox<CustomMessage>(
    {
      reserve: (from, count) => user.reserveSends(job, from, count),
      deliver: async (part) => {
        await talker.send(openid, part)
        return null
      },
      confirm: (index) => user.confirmSend(job, index),
      release: (indexes) => user.releaseSends(job, indexes),
      refused: async (error) => {
        if (error.closesWindow) await user.closeWindows()
      },
    },
    first,
    parts,
  )
}
