/**
 * A notification as it goes to WeChat, beyond the 48-hour window of customer-service messages:
 * a subscription notification (订阅通知) or a template message (模板消息), resolved from a declared
 * template (templates.ts) or from an operator's JSON in WeChat's own shape; the request body of
 * each; and what WeChat's result pushes say became of one. Pure.
 *
 * Subscription notifications, `POST cgi-bin/message/subscribe/bizsend`
 * (https://developers.weixin.qq.com/doc/service/api/notify/notify/api_sendnewsubscribemsg.html,
 * https://developers.weixin.qq.com/doc/offiaccount/Subscription_Messages/api.html): `touser`,
 * `template_id`, `data`, `page` (a web page: "跳转网页时填写") and `miniprogram` `{ appid,
 * pagepath }` ("跳转小程序时填写"; with both, the mini program wins). WeChat answers errcode and
 * errmsg only, no msgid: the result push (`subscribe_msg_sent_event`) carries one, with the
 * template id, and is matched to the send by template (src/user/consents.ts).
 *
 * Template messages, `POST cgi-bin/message/template/send`
 * (https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.html,
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html):
 * `touser`, `template_id`, `url` (and `miniprogram`, which wins), `data`, and `client_msg_id`
 * ("防重入id。对于同一个openid + client_msg_id，只发送一条消息，10分钟有效"); WeChat answers a
 * `msgid`, which the result push (TEMPLATESENDJOBFINISH, FromUserName the user) carries back.
 */

import type { SubscribeMsgSendResult } from './push.ts'
import {
  isTemplateId,
  type SubscriptionKind,
  type TemplateDefinition,
  type Templates,
  type WechatData,
  wechatDataOf,
} from './templates.ts'

export type NotificationChannel = 'subscription' | 'template'

/** Where a tap on the notification leads: a mini program's page. */
export interface MiniProgramLink {
  readonly appid: string
  readonly pagepath: string
}

/** A notification ready to send: checked, in WeChat's shape, for any user. */
export interface Notification {
  readonly channel: NotificationChannel
  readonly templateId: string
  /** How the user's consent is spent; null for a template message, which needs none. */
  readonly subscription: SubscriptionKind | null
  readonly data: WechatData
  /** A web page to open (bizsend's `page`, template/send's `url`). */
  readonly page: string | null
  readonly miniprogram: MiniProgramLink | null
}

/** What a notification's result push said: WeChat's three outcomes. */
export type NotificationOutcome = 'delivered' | 'user_blocked' | 'system_failed'

/** Bad input for a notification (a link, an id): the admin API's 400, a handler's TypeError. */
export class NotificationInputError extends TypeError {
  override readonly name = 'NotificationInputError'
}

/** A link's bound: WeChat states none for `page` or `url`; menus allow 1,024 bytes. */
const MAX_LINK_BYTES = 1024
const APPID = /^wx[0-9a-f]{16}$/

function linkProblem(page: unknown): string | null {
  if (typeof page !== 'string' || !/^https?:\/\//.test(page)) return 'page must be an http(s) URL'
  return new TextEncoder().encode(page).length > MAX_LINK_BYTES
    ? `page is over ${MAX_LINK_BYTES} bytes`
    : null
}

function miniProgramOf(value: unknown): MiniProgramLink {
  const { appid, pagepath } = (typeof value === 'object' && value !== null ? value : {}) as Record<
    string,
    unknown
  >
  if (typeof appid !== 'string' || !APPID.test(appid)) {
    throw new NotificationInputError('miniprogram.appid must be a mini program AppID (wx…)')
  }
  if (typeof pagepath !== 'string' || pagepath.length > MAX_LINK_BYTES) {
    throw new NotificationInputError('miniprogram.pagepath must be a page path')
  }
  return { appid, pagepath }
}

/** The links a caller may add to a notification. */
export interface NotificationLinks {
  readonly page?: string
  readonly miniprogram?: MiniProgramLink
}

/**
 * A declared template's notification, its data checked against the declaration; throws a
 * `TemplateDataError` or a {@link NotificationInputError} before anything is sent.
 *
 * @example
 * notificationOf(templates.shipped, { thing1: 'Your parcel', time2: '15:01' }, {})
 */
export function notificationOf(
  template: TemplateDefinition,
  data: Readonly<Record<string, unknown>>,
  links: NotificationLinks,
): Notification {
  return resolved(
    template.type,
    template.id,
    template.type === 'subscription' ? (template.subscription ?? 'one_time') : null,
    wechatDataOf(data, template.keywords),
    links,
  )
}

function resolved(
  channel: NotificationChannel,
  templateId: string,
  subscription: SubscriptionKind | null,
  data: WechatData,
  links: NotificationLinks,
): Notification {
  if (links.page !== undefined) {
    const problem = linkProblem(links.page)
    if (problem !== null) throw new NotificationInputError(problem)
  }
  return {
    channel,
    templateId,
    subscription,
    data,
    page: links.page ?? null,
    miniprogram: links.miniprogram === undefined ? null : miniProgramOf(links.miniprogram),
  }
}

/**
 * An operator's notification of a template the code does not declare, in WeChat's own shape:
 * `{ "type": "subscription" | "template", "templateId", "data": { "thing1": { "value": "…" } },
 * "subscription"?: "one_time" | "long_term", "page"?, "miniprogram"? }`, the data's lengths
 * checked by the kinds its keyword names carry.
 *
 * @example
 * adHocNotification({ type: 'subscription', templateId: 'VRR0…', data: { thing1: { value: 'Hi' } } })
 */
export function adHocNotification(input: Readonly<Record<string, unknown>>): Notification {
  const { type, templateId, data, subscription, page, miniprogram } = input
  if (type !== 'subscription' && type !== 'template') {
    throw new NotificationInputError('type must be subscription or template')
  }
  if (typeof templateId !== 'string' || !isTemplateId(templateId)) {
    throw new NotificationInputError('templateId must be a WeChat template id')
  }
  if (
    subscription !== undefined &&
    (type !== 'subscription' || (subscription !== 'one_time' && subscription !== 'long_term'))
  ) {
    throw new NotificationInputError('subscription is one_time or long_term, for subscriptions')
  }
  const values = valuesOf(data)
  for (const [name, entry] of Object.entries(data as Record<string, unknown>)) {
    if (typeof entry !== 'object' || entry === null || values[name] === undefined) {
      throw new NotificationInputError(`data.${name} must be { "value": "…" }`)
    }
  }
  return resolved(
    type,
    templateId,
    type === 'subscription' ? ((subscription as SubscriptionKind | undefined) ?? 'one_time') : null,
    wechatDataOf(values, null),
    linksOf(page, miniprogram),
  )
}

/** Each of a keyword's values in WeChat's `{ "value": … }` (or plain), as its value. */
function valuesOf(data: unknown): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new NotificationInputError('data must be an object of keywords')
  }
  return Object.fromEntries(
    Object.entries(data).map(([name, entry]) => [
      name,
      typeof entry === 'object' && entry !== null && !Array.isArray(entry)
        ? (entry as Record<string, unknown>).value
        : entry,
    ]),
  )
}

/**
 * An operator's notification (`POST /admin/users/:openid/notifications`): a template the bot
 * declares, by `template` name, or any template in WeChat's own shape ({@link adHocNotification}).
 * A declared template's data may be plain values or WeChat's `{ "value": … }`.
 *
 * @example
 * operatorNotification({ template: 'shipped', data: { thing1: 'Your parcel' } }, templates)
 */
export function operatorNotification(
  input: Readonly<Record<string, unknown>>,
  declared: Templates | null,
): Notification {
  const { template, data, page, miniprogram } = input
  if (template === undefined) return adHocNotification(input)
  const definition =
    typeof template === 'string' && declared !== null && Object.hasOwn(declared, template)
      ? declared[template]
      : undefined
  if (definition === undefined) {
    throw new NotificationInputError('template must name a template the bot declares')
  }
  return notificationOf(definition, valuesOf(data), linksOf(page, miniprogram))
}

function linksOf(page: unknown, miniprogram: unknown): NotificationLinks {
  if (page !== undefined && typeof page !== 'string') {
    throw new NotificationInputError('page must be an http(s) URL')
  }
  return {
    ...(page !== undefined && { page }),
    ...(miniprogram !== undefined && { miniprogram: miniProgramOf(miniprogram) }),
  }
}

/** The path of each channel's send. */
export const NOTIFICATION_PATHS: { readonly [C in NotificationChannel]: string } = {
  subscription: 'cgi-bin/message/subscribe/bizsend',
  template: 'cgi-bin/message/template/send',
}

/**
 * The request body for `openid`: the addressee is the caller's, nothing in the notification can
 * name another. A template message carries `clientMsgId` as WeChat's `client_msg_id`.
 */
export function notificationBody(
  openid: string,
  notification: Notification,
  clientMsgId: string,
): Record<string, unknown> {
  const { channel, templateId, data, page, miniprogram } = notification
  return {
    touser: openid,
    template_id: templateId,
    ...(page !== null && (channel === 'subscription' ? { page } : { url: page })),
    ...(miniprogram !== null && { miniprogram }),
    ...(channel === 'template' && { client_msg_id: clientMsgId }),
    data,
  }
}

/**
 * What a `subscribe_msg_sent_event` item says of its notification: `ErrorCode` 0 is delivered
 * ("推送结果状态码（0表示成功）"); otherwise `ErrorStatus` says why, and a user's refusal reads
 * as it does in a template message's result (`user block`).
 * https://developers.weixin.qq.com/doc/service/guide/product/subscription_messages/push.html
 */
export function sentOutcomeOf(item: SubscribeMsgSendResult): NotificationOutcome {
  if (item.errorCode.trim() === '0') return 'delivered'
  return /user\s*block/i.test(item.errorStatus) ? 'user_blocked' : 'system_failed'
}

/**
 * What a TEMPLATESENDJOBFINISH's `Status` says: `success`; `failed:user block` ("送达由于用户拒收
 * （用户设置拒绝接收公众号消息）而失败"); `failed: system failed` ("送达由于其他原因失败"), and
 * any other failure WeChat names (`failed:freq limit` is seen) as a system failure.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
 */
export function templateOutcomeOf(status: string): NotificationOutcome {
  const text = status.trim()
  if (text === 'success') return 'delivered'
  return /user\s*block/i.test(text) ? 'user_blocked' : 'system_failed'
}
