/**
 * Notifications sent once per caller's key, through the one send path (send.ts) with a channel
 * of their own: the user's consent instead of a window (src/user/sends.ts, consents.ts), bizsend
 * or template/send instead of a customer-service message. Handlers, deferred handlers and the
 * admin API all send through {@link sendNotificationOnce}. Binding code, thin.
 *
 * - Once per key: WeChat's acceptance is kept in the user's outbox as long as a dead letter can
 *   be replayed (8 days), so a Queue redelivery, a replay or a repeated request sends nothing
 *   more (`already_sent`). A template message also carries the key as its `client_msg_id`, which
 *   WeChat itself honours for 10 minutes.
 * - Refused locally (`not_subscribed`, no call) when the user's consent does not allow it;
 *   WeChat's 43101 clears the consent. Unanswered: tried once more at most, then `unconfirmed`.
 */

import type { AccountObjects } from '../accounts/objects.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { NOTIFY_JOB_PREFIX } from '../user/consents.ts'
import { WechatApiError } from '../wechat/api.ts'
import { type Notification, NotificationInputError } from '../wechat/notification.ts'
import { isWechatId } from '../wechat/push.ts'
import { deliverThroughOutbox, type SendChannel } from './send.ts'
import type { WechatClient } from './talk.ts'

/** A caller's idempotency key: 1 to 64 letters, digits, `_ . : -` (a template's client_msg_id). */
export const NOTIFY_KEY = /^[\w.:-]{1,64}$/

/** `sent`: WeChat took it now; `already_sent`: WeChat took it before, under this key. */
export type NotifyOutcome = 'sent' | 'already_sent'

/** Sends a resolved notification to a user once per key: what a context's `notify` calls. */
export type Notifier = (
  openid: string,
  notification: Notification,
  key: string,
) => Promise<NotifyOutcome>

/**
 * The account's notifier: its users' objects and its WeChat client.
 *
 * @example
 * const notify = notifierOf(objectsOf(env, account.id), talkerFor(env, account), account.id)
 * await notify(openid, notificationOf(templates.shipped, data, {}), 'order-42-shipped')
 */
export function notifierOf(
  objects: AccountObjects,
  talker: WechatClient | null,
  account: string,
): Notifier {
  return (openid, notification, key) =>
    sendNotificationOnce(objects, talker, account, openid, notification, key)
}

/**
 * Sends `notification` to `openid` once per `key`. Throws a {@link NotificationInputError} for a
 * bad key or OpenID, and a {@link WechatApiError} for everything WeChat (or the user's consent)
 * refused: `not_subscribed`, `in_progress`, `unconfirmed`, or WeChat's errcode.
 */
export async function sendNotificationOnce(
  objects: AccountObjects,
  talker: WechatClient | null,
  account: string,
  openid: string,
  notification: Notification,
  key: string,
): Promise<NotifyOutcome> {
  if (!NOTIFY_KEY.test(key)) {
    throw new NotificationInputError('a key is 1 to 64 letters, digits, _ . : -')
  }
  if (!isWechatId(openid)) throw new NotificationInputError('not an OpenID')
  if (talker === null) {
    throw new WechatApiError('refused', null, 'talking back is off: set the account’s AppID')
  }
  const user = objects.user(openid)
  const job = `${NOTIFY_JOB_PREFIX}${key}`
  const { channel, templateId, subscription } = notification
  const outbox: SendChannel<Notification> = {
    reserve: () => user.reserveNotification(job, { channel, templateId, subscription }),
    deliver: (part) => talker.sendNotification(openid, part, key),
    confirm: (_index, msgId) => user.confirmNotification(job, msgId),
    release: (indexes) => user.releaseSends(job, indexes),
    abandoned: () => user.abandonNotification(job),
    refused: async (error) => {
      if (error.failure === 'not_subscribed' && channel === 'subscription') {
        await user.clearConsent(templateId)
      }
    },
  }
  try {
    const sent = await deliverThroughOutbox(outbox, 0, [notification])
    const outcome: NotifyOutcome = sent > 0 ? 'sent' : 'already_sent'
    logEvent('notify', { account, channel, outcome })
    return outcome
  } catch (error) {
    const failure = error instanceof WechatApiError ? error.failure : errorName(error)
    const code = error instanceof WechatApiError ? error.code : null
    logProblem('notify', { account, channel, outcome: failure, code })
    throw error
  }
}
