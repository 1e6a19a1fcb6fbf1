/**
 * `notify` as a bot's handlers and deferred handlers have it: typed by the templates the bot
 * declares (`Router.withTemplates`), so that an unknown template, a keyword left out or one the
 * template lacks does not compile, and a value over its kind's limit is refused before any call.
 * It resolves the declared template and hands the notification to the account's notifier
 * (src/talk/notify.ts), which sends it once per key.
 */

import type { Notifier, NotifyOutcome } from '../talk/notify.ts'
import { WechatApiError } from '../wechat/api.ts'
import {
  type MiniProgramLink,
  NotificationInputError,
  notificationOf,
} from '../wechat/notification.ts'
import type { TemplateData, Templates } from '../wechat/templates.ts'

/** One notification, by the name the bot declared its template under. */
export interface NotifyInput<T extends Templates, N extends keyof T & string> {
  readonly template: N
  /**
   * The caller's idempotency key, 1 to 64 letters, digits, `_ . : -`: the notification goes
   * once per user and key (for 8 days), however often this call is repeated.
   */
  readonly key: string
  /** Every keyword of the template, and no other. */
  readonly data: TemplateData<T[N]>
  /** A web page the notification opens (an http(s) URL). */
  readonly page?: string
  /** A mini program page it opens instead (WeChat prefers it to `page`). */
  readonly miniprogram?: MiniProgramLink
}

/**
 * Sends a notification of a declared template to `openid`, once per key: `sent`, or
 * `already_sent` when WeChat took it before. Throws a `WechatApiError`: `not_subscribed` (the
 * user's consent does not allow it; nothing was sent), `in_progress`, `unconfirmed`, or what
 * WeChat answered; a `TemplateDataError` for data WeChat would refuse.
 *
 * @example
 * await notify(push.fromUserName, {
 *   template: 'shipped',
 *   key: `order-${order.id}-shipped`,
 *   data: { thing1: 'Your parcel', character_string2: order.id, time3: '2026-11-29 15:01' },
 * })
 */
export type Notify<T extends Templates> = <N extends keyof T & string>(
  openid: string,
  notification: NotifyInput<T, N>,
) => Promise<NotifyOutcome>

/**
 * The typed `notify` over a notifier: the template looked up among the declared ones, its data
 * checked, then sent. Without a notifier (a router exercised alone) it refuses.
 *
 * @example
 * const notify = notifyWith(bot.declaredTemplates, notifierOf(objects, talker, account.id))
 */
export function notifyWith(
  templates: Templates | null,
  notifier: Notifier | null,
): Notify<Templates> {
  return async (openid, { template, key, data, page, miniprogram }) => {
    const declared =
      templates !== null && Object.hasOwn(templates, template) ? templates[template] : undefined
    if (declared === undefined) {
      throw new NotificationInputError(`no template is declared as ${template}`)
    }
    const notification = notificationOf(declared, data, {
      ...(page !== undefined && { page }),
      ...(miniprogram !== undefined && { miniprogram }),
    })
    if (notifier === null) {
      throw new WechatApiError('refused', null, 'notifications are not available here')
    }
    return notifier(openid, notification, key)
  }
}
