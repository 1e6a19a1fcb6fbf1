/**
 * The typed push: every message and event WeChat sends, as one discriminated union on `kind`,
 * and the parser from the `<xml>` root's children to it.
 */

import { MalformedPushError } from './errors.ts'
import { isElement, textOf, type XmlElement, type XmlNode } from './xml.ts'

interface PushBase {
  /** The Service Account's own id (ToUserName). */
  readonly toUserName: string
  /** The user's OpenID (FromUserName). */
  readonly fromUserName: string
  /** Seconds since the epoch, as WeChat stamped the push. */
  readonly createTime: number
}

interface MessageBase extends PushBase {
  /** A 64-bit id: kept as a string, since a JS number would lose digits. */
  readonly msgId: string
}

export interface TextMessage extends MessageBase {
  readonly kind: 'text'
  readonly content: string
  /**
   * The menu message item the user tapped (`bizmsgmenuid`), when the text is such a tap: WeChat
   * counts it as a menu click for the customer-service windows, not as a message.
   */
  readonly menuId: string | null
}
export interface ImageMessage extends MessageBase {
  readonly kind: 'image'
  readonly picUrl: string
  readonly mediaId: string
}
export interface VoiceMessage extends MessageBase {
  readonly kind: 'voice'
  readonly mediaId: string
  readonly format: string
  readonly recognition: string | null
}
export interface VideoMessage extends MessageBase {
  readonly kind: 'video' | 'shortvideo'
  readonly mediaId: string
  readonly thumbMediaId: string
}
export interface LocationMessage extends MessageBase {
  readonly kind: 'location'
  readonly latitude: number
  readonly longitude: number
  readonly scale: number
  readonly label: string
}
export interface LinkMessage extends MessageBase {
  readonly kind: 'link'
  readonly title: string
  readonly description: string
  readonly url: string
}

export interface SubscribeEvent extends PushBase {
  readonly kind: 'subscribe'
  /** The QR scene without its `qrscene_` prefix, when the follow came from a QR code. */
  readonly scene: string | null
  readonly ticket: string | null
}
export interface UnsubscribeEvent extends PushBase {
  readonly kind: 'unsubscribe'
}
export interface ScanEvent extends PushBase {
  readonly kind: 'scan'
  readonly scene: string
  readonly ticket: string | null
}
export interface LocationReportEvent extends PushBase {
  readonly kind: 'location_report'
  readonly latitude: number
  readonly longitude: number
  readonly precision: number
}
export interface ClickEvent extends PushBase {
  readonly kind: 'click'
  readonly key: string
}
export interface ViewEvent extends PushBase {
  readonly kind: 'view'
  readonly url: string
  readonly menuId: string | null
}
export interface ScanCodeEvent extends PushBase {
  readonly kind: 'scancode_push' | 'scancode_waitmsg'
  readonly key: string
  readonly scanType: string
  readonly scanResult: string
}
export interface PicEvent extends PushBase {
  readonly kind: 'pic_sysphoto' | 'pic_photo_or_album' | 'pic_weixin'
  readonly key: string
  readonly count: number
  readonly picMd5Sums: readonly string[]
}
export interface LocationSelectEvent extends PushBase {
  readonly kind: 'location_select'
  readonly key: string
  readonly latitude: number
  readonly longitude: number
  readonly scale: number
  readonly label: string
  readonly poiname: string
}
export interface ViewMiniprogramEvent extends PushBase {
  readonly kind: 'view_miniprogram'
  readonly pagePath: string
  readonly menuId: string | null
}
export interface TemplateSendJobFinishEvent extends PushBase {
  readonly kind: 'template_send_job_finish'
  readonly msgId: string
  readonly status: string
}
export interface MassSendJobFinishEvent extends PushBase {
  readonly kind: 'mass_send_job_finish'
  readonly msgId: string
  readonly status: string
  readonly totalCount: number
  readonly filterCount: number
  readonly sentCount: number
  readonly errorCount: number
}
/** One `List` item of a subscription-message popup: what the user chose for one template. */
export interface SubscribeMsgChoice {
  readonly templateId: string
  /** `accept` or `reject`. */
  readonly status: string
  /** Where the popup appeared (`0` in a web page, `1` after a payment); null when absent. */
  readonly popupScene: string | null
}
/** One `List` item of a subscription-message send result. */
export interface SubscribeMsgSendResult {
  readonly templateId: string
  readonly msgId: string
  /** `0` when delivered; WeChat's error code otherwise. */
  readonly errorCode: string
  readonly errorStatus: string
}
/** The user answered a subscription-message popup (one item per template in it). */
export interface SubscribeMsgPopupEvent extends PushBase {
  readonly kind: 'subscribe_msg_popup_event'
  readonly items: readonly SubscribeMsgChoice[]
}
/** The user changed a subscription in their settings. */
export interface SubscribeMsgChangeEvent extends PushBase {
  readonly kind: 'subscribe_msg_change_event'
  readonly items: readonly SubscribeMsgChoice[]
}
/** The result of sending a subscription message to the user. */
export interface SubscribeMsgSentEvent extends PushBase {
  readonly kind: 'subscribe_msg_sent_event'
  readonly items: readonly SubscribeMsgSendResult[]
}
/** A customer-service agent took (`kf_create_session`) or closed the user's session. */
export interface KfSessionEvent extends PushBase {
  readonly kind: 'kf_create_session' | 'kf_close_session'
  readonly kfAccount: string
}
/** The user's customer-service session moved from one agent to another. */
export interface KfSwitchSessionEvent extends PushBase {
  readonly kind: 'kf_switch_session'
  readonly fromKfAccount: string
  readonly toKfAccount: string
}
/** A system push: the result of a publish job (PUBLISHJOBFINISH). */
export interface PublishJobFinishEvent extends PushBase {
  readonly kind: 'publish_job_finish'
  readonly publishId: string
  /** 0 published, 1 publishing, 2 original-content failure, 3 failed, 4 refused by review… */
  readonly publishStatus: number
  readonly articleId: string | null
  readonly articles: readonly { readonly idx: number; readonly url: string }[]
  /** The 1-based positions of the articles that failed. */
  readonly failedIdx: readonly number[]
}
/**
 * Authorized user information change: FromUserName is WeChat's push service, the user is
 * `openId`. WeChat asks the developer to delete the user's data on revoke and cancellation.
 * https://developers.weixin.qq.com/doc/service/guide/h5/authorization_change.html
 */
export interface AuthorizationChangeEvent extends PushBase {
  readonly kind:
    | 'user_info_modified'
    | 'user_authorization_revoke'
    | 'user_authorization_cancellation'
  readonly openId: string
  readonly appId: string | null
  /** What was revoked (codes listed on the page above); null when absent. */
  readonly revokeInfo: string | null
}
/** A nested field of an unknown push, kept as parsed. */
export type RawField = string | { readonly [tag: string]: RawField } | readonly RawField[]
/** Anything this version does not know: answered `success`, its fields kept as they came. */
export interface UnknownPush extends PushBase {
  readonly kind: 'unknown'
  readonly msgType: string
  readonly event: string | null
  readonly fields: Readonly<Record<string, RawField>>
}

/** Ordinary messages: each carries a MsgId. */
export type Message =
  | TextMessage
  | ImageMessage
  | VoiceMessage
  | VideoMessage
  | LocationMessage
  | LinkMessage
/** Menu events that carry the menu's key (EventKey). */
export type KeyedMenuEvent = ClickEvent | ScanCodeEvent | PicEvent | LocationSelectEvent

export type Push =
  | Message
  | KeyedMenuEvent
  | SubscribeEvent
  | UnsubscribeEvent
  | ScanEvent
  | LocationReportEvent
  | ViewEvent
  | ViewMiniprogramEvent
  | TemplateSendJobFinishEvent
  | MassSendJobFinishEvent
  | PublishJobFinishEvent
  | SubscribeMsgPopupEvent
  | SubscribeMsgChangeEvent
  | SubscribeMsgSentEvent
  | KfSessionEvent
  | KfSwitchSessionEvent
  | AuthorizationChangeEvent
  | UnknownPush

export type PushKind = Push['kind']

/**
 * The push of one kind. Distributes over the union so that a kind shared by one interface
 * (`video` and `shortvideo`) still finds it, narrowed to that kind.
 */
export type PushOf<K extends PushKind> = Push extends infer P
  ? P extends Push
    ? K extends P['kind']
      ? P & { readonly kind: K }
      : never
    : never
  : never

/**
 * Whose stored state a push touches, decided here for every kind (the compiler refuses a kind
 * left out): the follower who sent it, the user named in `OpenID` (authorization changes, sent
 * by WeChat's push service), or nobody (system pushes, and pushes this version does not know,
 * whose sender may not be a follower at all).
 */
const STATE_OWNER: { readonly [K in PushKind]: 'sender' | 'openid' | 'none' } = {
  subscribe: 'sender',
  scan: 'sender',
  unsubscribe: 'sender',
  location_report: 'sender',
  click: 'sender',
  view: 'sender',
  text: 'sender',
  image: 'sender',
  voice: 'sender',
  video: 'sender',
  shortvideo: 'sender',
  location: 'sender',
  link: 'sender',
  scancode_push: 'sender',
  scancode_waitmsg: 'sender',
  pic_sysphoto: 'sender',
  pic_photo_or_album: 'sender',
  pic_weixin: 'sender',
  location_select: 'sender',
  view_miniprogram: 'sender',
  subscribe_msg_popup_event: 'sender',
  subscribe_msg_change_event: 'sender',
  subscribe_msg_sent_event: 'sender',
  kf_create_session: 'sender',
  kf_close_session: 'sender',
  kf_switch_session: 'sender',
  // Stores nothing: the profile keeps no nickname or avatar to clean up.
  user_info_modified: 'none',
  user_authorization_revoke: 'openid',
  user_authorization_cancellation: 'openid',
  template_send_job_finish: 'none',
  mass_send_job_finish: 'none',
  publish_job_finish: 'none',
  unknown: 'none',
}

/**
 * The OpenID whose state this push touches, or null for a push that touches nobody's.
 *
 * @example
 * stateOwnerOf(revoke) // revoke.openId, never the push service that sent it
 */
export function stateOwnerOf(push: Push): string | null {
  switch (STATE_OWNER[push.kind]) {
    case 'sender':
      return push.fromUserName
    case 'openid':
      return (push as AuthorizationChangeEvent).openId
    case 'none':
      return null
  }
}

/** Pushes after which nothing of their owner may remain: an unfollow, a revoke, a cancellation. */
export function isPurge(push: Push): boolean {
  return (
    push.kind === 'unsubscribe' ||
    push.kind === 'user_authorization_revoke' ||
    push.kind === 'user_authorization_cancellation'
  )
}

const MESSAGE_KIND_LIST = [
  'text',
  'image',
  'voice',
  'video',
  'shortvideo',
  'location',
  'link',
] as const satisfies readonly Message['kind'][]

/** The keyed menu events besides CLICK, which the console lists with the reference pushes. */
const OTHER_MENU_KIND_LIST = [
  'scancode_push',
  'scancode_waitmsg',
  'pic_sysphoto',
  'pic_photo_or_album',
  'pic_weixin',
  'location_select',
] as const satisfies readonly KeyedMenuEvent['kind'][]

/** Every kind, in the order the debugging console and the simulator list them. */
export const PUSH_KINDS = [
  'subscribe',
  'scan',
  'unsubscribe',
  'location_report',
  'click',
  'view',
  ...MESSAGE_KIND_LIST,
  ...OTHER_MENU_KIND_LIST,
  'view_miniprogram',
  'subscribe_msg_popup_event',
  'subscribe_msg_change_event',
  'subscribe_msg_sent_event',
  'kf_create_session',
  'kf_close_session',
  'kf_switch_session',
  'user_info_modified',
  'user_authorization_revoke',
  'user_authorization_cancellation',
  'template_send_job_finish',
  'mass_send_job_finish',
  'publish_job_finish',
  'unknown',
] as const satisfies readonly PushKind[]

const MESSAGE_KINDS: ReadonlySet<PushKind> = new Set(MESSAGE_KIND_LIST)
/** The menu events that carry a key: each the push of a menu button of the same type. */
export const KEYED_MENU_KIND_LIST = [
  'click',
  ...OTHER_MENU_KIND_LIST,
] as const satisfies readonly KeyedMenuEvent['kind'][]

const KEYED_MENU_KINDS: ReadonlySet<PushKind> = new Set<KeyedMenuEvent['kind']>(
  KEYED_MENU_KIND_LIST,
)

export function isMessage(push: Push): push is Message {
  return MESSAGE_KINDS.has(push.kind)
}

export function isKeyedMenuEvent(push: Push): push is KeyedMenuEvent {
  return KEYED_MENU_KINDS.has(push.kind)
}

const QR_SCENE_PREFIX = 'qrscene_'

/**
 * Turns the children of a push's `<xml>` root into a {@link Push}. Throws a
 * {@link MalformedPushError} (400) when a field a known kind needs is missing or malformed.
 *
 * @example
 * parsePush(parseXmlRoot(body)).kind // 'subscribe'
 */
export function parsePush(xml: XmlElement): Push {
  const base: PushBase = {
    toUserName: identity(xml, 'ToUserName'),
    fromUserName: identity(xml, 'FromUserName'),
    createTime: seconds(xml, 'CreateTime'),
  }
  const msgType = required(xml, 'MsgType')
  switch (msgType) {
    case 'event':
      return parseEvent(xml, base, required(xml, 'Event'))
    case 'text':
      return {
        ...base,
        kind: 'text',
        msgId: msgId(xml),
        content: required(xml, 'Content', true),
        menuId: textOf(xml, 'bizmsgmenuid')?.trim() || null,
      }
    case 'image':
      return {
        ...base,
        kind: 'image',
        msgId: msgId(xml),
        picUrl: required(xml, 'PicUrl'),
        mediaId: required(xml, 'MediaId'),
      }
    case 'voice':
      return {
        ...base,
        kind: 'voice',
        msgId: msgId(xml),
        mediaId: required(xml, 'MediaId'),
        format: required(xml, 'Format'),
        recognition: textOf(xml, 'Recognition') ?? null,
      }
    case 'video':
    case 'shortvideo':
      return {
        ...base,
        kind: msgType,
        msgId: msgId(xml),
        mediaId: required(xml, 'MediaId'),
        thumbMediaId: required(xml, 'ThumbMediaId'),
      }
    case 'location':
      return {
        ...base,
        kind: 'location',
        msgId: msgId(xml),
        latitude: decimal(xml, 'Location_X', -90, 90),
        longitude: decimal(xml, 'Location_Y', -180, 180),
        scale: decimal(xml, 'Scale', 0, 100),
        label: textOf(xml, 'Label') ?? '',
      }
    case 'link':
      return {
        ...base,
        kind: 'link',
        msgId: msgId(xml),
        title: textOf(xml, 'Title') ?? '',
        description: textOf(xml, 'Description') ?? '',
        url: required(xml, 'Url'),
      }
    default:
      return unknown(xml, base, msgType, null)
  }
}

function parseEvent(xml: XmlElement, base: PushBase, event: string): Push {
  const name = event.toLowerCase()
  switch (name) {
    case 'subscribe': {
      const eventKey = textOf(xml, 'EventKey') ?? ''
      const fromQr = eventKey.startsWith(QR_SCENE_PREFIX)
      return {
        ...base,
        kind: 'subscribe',
        scene: fromQr ? eventKey.slice(QR_SCENE_PREFIX.length) : null,
        ticket: fromQr ? (textOf(xml, 'Ticket') ?? null) : null,
      }
    }
    case 'unsubscribe':
      return { ...base, kind: 'unsubscribe' }
    case 'scan':
      return {
        ...base,
        kind: 'scan',
        scene: required(xml, 'EventKey'),
        ticket: textOf(xml, 'Ticket') ?? null,
      }
    case 'location':
      return {
        ...base,
        kind: 'location_report',
        latitude: decimal(xml, 'Latitude', -90, 90),
        longitude: decimal(xml, 'Longitude', -180, 180),
        precision: decimal(xml, 'Precision', 0, 1e7),
      }
    case 'click':
      return { ...base, kind: 'click', key: required(xml, 'EventKey') }
    case 'view':
      return {
        ...base,
        kind: 'view',
        url: required(xml, 'EventKey'),
        menuId: textOf(xml, 'MenuId') ?? null,
      }
    case 'scancode_push':
    case 'scancode_waitmsg': {
      const info = child(xml, 'ScanCodeInfo')
      return {
        ...base,
        kind: name,
        key: required(xml, 'EventKey'),
        scanType: required(info, 'ScanType'),
        scanResult: required(info, 'ScanResult', true),
      }
    }
    case 'pic_sysphoto':
    case 'pic_photo_or_album':
    case 'pic_weixin': {
      const info = child(xml, 'SendPicsInfo')
      return {
        ...base,
        kind: name,
        key: required(xml, 'EventKey'),
        count: count(info, 'Count'),
        picMd5Sums: picList(info),
      }
    }
    case 'location_select': {
      const info = child(xml, 'SendLocationInfo')
      return {
        ...base,
        kind: 'location_select',
        key: required(xml, 'EventKey'),
        latitude: decimal(info, 'Location_X', -90, 90),
        longitude: decimal(info, 'Location_Y', -180, 180),
        scale: decimal(info, 'Scale', 0, 100),
        label: textOf(info, 'Label') ?? '',
        poiname: textOf(info, 'Poiname') ?? '',
      }
    }
    case 'view_miniprogram':
      return {
        ...base,
        kind: 'view_miniprogram',
        pagePath: required(xml, 'EventKey'),
        menuId: textOf(xml, 'MenuId') ?? null,
      }
    case 'templatesendjobfinish':
      return {
        ...base,
        kind: 'template_send_job_finish',
        msgId: jobId(xml),
        status: required(xml, 'Status'),
      }
    case 'masssendjobfinish':
      return {
        ...base,
        kind: 'mass_send_job_finish',
        msgId: jobId(xml),
        status: required(xml, 'Status'),
        totalCount: count(xml, 'TotalCount'),
        filterCount: count(xml, 'FilterCount'),
        sentCount: count(xml, 'SentCount'),
        errorCount: count(xml, 'ErrorCount'),
      }
    case 'publishjobfinish':
      return parsePublishJob(xml, base)
    case 'subscribe_msg_popup_event':
    case 'subscribe_msg_change_event':
      return {
        ...base,
        kind: name,
        items: listItems(xml, choicesTag(xml, name)).map((item) => ({
          templateId: required(item, 'TemplateId'),
          status: required(item, 'SubscribeStatusString'),
          popupScene: textOf(item, 'PopupScene') ?? null,
        })),
      }
    case 'subscribe_msg_sent_event':
      return {
        ...base,
        kind: name,
        items: listItems(xml, eventListTag(name)).map((item) => ({
          templateId: required(item, 'TemplateId'),
          msgId: jobId(item),
          errorCode: required(item, 'ErrorCode'),
          errorStatus: textOf(item, 'ErrorStatus') ?? '',
        })),
      }
    case 'kf_create_session':
    case 'kf_close_session':
      return { ...base, kind: name, kfAccount: required(xml, 'KfAccount') }
    case 'kf_switch_session':
      return {
        ...base,
        kind: name,
        fromKfAccount: required(xml, 'FromKfAccount'),
        toKfAccount: required(xml, 'ToKfAccount'),
      }
    case 'user_info_modified':
    case 'user_authorization_revoke':
    case 'user_authorization_cancellation':
      return {
        ...base,
        kind: name,
        openId: identity(xml, 'OpenID'),
        appId: textOf(xml, 'AppID') ?? null,
        revokeInfo: textOf(xml, 'RevokeInfo') ?? null,
      }
    default:
      return unknown(xml, base, 'event', event)
  }
}

/** `subscribe_msg_popup_event` → `SubscribeMsgPopupEvent`, the element holding its items. */
function eventListTag(name: string): string {
  return name
    .replace(/_event$/, '')
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('')
    .concat('Event')
}

/**
 * The element holding a popup's or a change's choices. WeChat's own example of a change
 * (https://developers.weixin.qq.com/doc/offiaccount/Subscription_Messages/api.html, "用户管理订阅
 * 通知") writes them under `SubscribeMsgPopupEvent`, as a popup does: either name is read.
 */
function choicesTag(xml: XmlElement, name: string): string {
  const tag = eventListTag(name)
  return Object.hasOwn(xml, tag) ? tag : 'SubscribeMsgPopupEvent'
}

/** The `List` items under `tag`: one item or many, always an array. */
function listItems(xml: XmlElement, tag: string): XmlElement[] {
  const items = repeated(child(xml, tag), 'List')
  if (items.length === 0) throw new MalformedPushError(`${tag} has no List`)
  return items
}

function parsePublishJob(xml: XmlElement, base: PushBase): PublishJobFinishEvent {
  const info = child(xml, 'PublishEventInfo')
  const detail = Object.hasOwn(info, 'article_detail') ? info.article_detail : undefined
  const articles = isElement(detail)
    ? repeated(detail, 'item').map((item) => ({
        idx: count(item, 'idx'),
        url: required(item, 'article_url'),
      }))
    : []
  return {
    ...base,
    kind: 'publish_job_finish',
    publishId: digits(info, 'publish_id'),
    publishStatus: count(info, 'publish_status'),
    articleId: textOf(info, 'article_id')?.trim() || null,
    articles,
    failedIdx: repeatedText(info, 'fail_idx').map((idx) => {
      if (!/^\d{1,9}$/.test(idx.trim())) throw new MalformedPushError('fail_idx must be a count')
      return Number(idx)
    }),
  }
}

function unknown(
  xml: XmlElement,
  base: PushBase,
  msgType: string,
  event: string | null,
): UnknownPush {
  const fields: Record<string, RawField> = {}
  for (const [tag, node] of Object.entries(xml)) fields[tag] = node
  return { ...base, kind: 'unknown', msgType, event, fields }
}

/**
 * An OpenID (or any WeChat user name): letters, digits, `_` and `-`. WeChat's OpenIDs are 28
 * characters and its account ids (`gh_…`) 15; 64 leaves a wide margin. Anything else cannot be
 * an id WeChat issued, and would not be addressable by the admin API or safe in a storage key.
 */
const IDENTITY = /^[A-Za-z0-9_-]{1,64}$/

function identity(xml: XmlElement, tag: string): string {
  const value = required(xml, tag).trim()
  if (!IDENTITY.test(value)) throw new MalformedPushError(`${tag} is not a WeChat id`)
  return value
}

/** Whether a string has the shape of an id WeChat issues (an OpenID, an account's `gh_` id). */
export function isWechatId(value: string): boolean {
  return IDENTITY.test(value)
}

function required(xml: XmlElement, tag: string, allowBlank = false): string {
  const value = textOf(xml, tag)
  if (value === undefined || (!allowBlank && value.trim() === '')) {
    throw new MalformedPushError(`missing ${tag}`)
  }
  return value
}

function seconds(xml: XmlElement, tag: string): number {
  const value = required(xml, tag).trim()
  if (!/^\d{1,12}$/.test(value)) throw new MalformedPushError(`${tag} must be seconds`)
  return Number(value)
}

function msgId(xml: XmlElement): string {
  const value = required(xml, 'MsgId').trim()
  if (!/^\d{1,20}$/.test(value)) throw new MalformedPushError('MsgId must be digits')
  return value
}

function jobId(xml: XmlElement): string {
  // Job results spell it MsgID; accept either spelling.
  const value = (textOf(xml, 'MsgID') ?? textOf(xml, 'MsgId') ?? '').trim()
  if (!/^\d{1,20}$/.test(value)) throw new MalformedPushError('MsgID must be digits')
  return value
}

function digits(xml: XmlElement, tag: string): string {
  const value = required(xml, tag).trim()
  if (!/^\d{1,20}$/.test(value)) throw new MalformedPushError(`${tag} must be digits`)
  return value
}

function decimal(xml: XmlElement, tag: string, min: number, max: number): number {
  const value = required(xml, tag).trim()
  if (!/^[-+]?\d{1,12}(\.\d{1,15})?$/.test(value)) {
    throw new MalformedPushError(`${tag} must be a decimal number`)
  }
  const number = Number(value)
  if (number < min || number > max) throw new MalformedPushError(`${tag} is out of range`)
  return number
}

function count(xml: XmlElement, tag: string): number {
  const value = required(xml, tag).trim()
  if (!/^\d{1,9}$/.test(value)) throw new MalformedPushError(`${tag} must be a count`)
  return Number(value)
}

function child(xml: XmlElement, tag: string): XmlElement {
  const node = Object.hasOwn(xml, tag) ? xml[tag] : undefined
  if (!isElement(node)) throw new MalformedPushError(`missing ${tag}`)
  return node
}

/** Every `tag` child as an array, whether it appears once or many times. */
function occurrences(xml: XmlElement, tag: string): XmlNode[] {
  const node = Object.hasOwn(xml, tag) ? xml[tag] : undefined
  return node === undefined ? [] : Array.isArray(node) ? node : [node]
}

/** Repeated child elements (`<item>`, `<List>`): one or many, always an array of elements. */
function repeated(xml: XmlElement, tag: string): XmlElement[] {
  return occurrences(xml, tag).map((node) => {
    if (!isElement(node)) throw new MalformedPushError(`${tag} must hold fields`)
    return node
  })
}

function repeatedText(xml: XmlElement, tag: string): string[] {
  return occurrences(xml, tag).map((node) => {
    if (typeof node !== 'string') throw new MalformedPushError(`${tag} must be text`)
    return node
  })
}

function picList(info: XmlElement): string[] {
  const list: XmlNode | undefined = Object.hasOwn(info, 'PicList') ? info.PicList : undefined
  if (list === undefined || typeof list === 'string') return []
  if (!isElement(list)) throw new MalformedPushError('PicList appears more than once')
  return repeated(list, 'item').map((item) => required(item, 'PicMd5Sum'))
}
