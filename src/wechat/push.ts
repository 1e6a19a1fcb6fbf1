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
/** Anything this version does not know: answered `success`, its text fields kept as they came. */
export interface UnknownPush extends PushBase {
  readonly kind: 'unknown'
  readonly msgType: string
  readonly event: string | null
  readonly fields: Readonly<Record<string, string>>
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
  | UnknownPush

export type PushKind = Push['kind']

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
  'template_send_job_finish',
  'mass_send_job_finish',
  'unknown',
] as const satisfies readonly PushKind[]

const MESSAGE_KINDS: ReadonlySet<PushKind> = new Set(MESSAGE_KIND_LIST)
const KEYED_MENU_KINDS: ReadonlySet<PushKind> = new Set<KeyedMenuEvent['kind']>([
  'click',
  ...OTHER_MENU_KIND_LIST,
])

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
    toUserName: required(xml, 'ToUserName'),
    fromUserName: required(xml, 'FromUserName'),
    createTime: seconds(xml, 'CreateTime'),
  }
  const msgType = required(xml, 'MsgType')
  switch (msgType) {
    case 'event':
      return parseEvent(xml, base, required(xml, 'Event'))
    case 'text':
      return { ...base, kind: 'text', msgId: msgId(xml), content: required(xml, 'Content', true) }
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
    default:
      return unknown(xml, base, 'event', event)
  }
}

function unknown(
  xml: XmlElement,
  base: PushBase,
  msgType: string,
  event: string | null,
): UnknownPush {
  const fields: Record<string, string> = {}
  for (const [tag, node] of Object.entries(xml)) {
    if (typeof node === 'string' && tag !== '#text') fields[tag] = node
  }
  return { ...base, kind: 'unknown', msgType, event, fields }
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

function picList(info: XmlElement): string[] {
  const list: XmlNode | undefined = Object.hasOwn(info, 'PicList') ? info.PicList : undefined
  if (list === undefined || typeof list === 'string') return []
  if (!isElement(list)) throw new MalformedPushError('PicList appears more than once')
  const items = Object.hasOwn(list, 'item') ? list.item : undefined
  const all = items === undefined ? [] : Array.isArray(items) ? items : [items]
  return all.map((item) => {
    if (!isElement(item)) throw new MalformedPushError('PicList item must hold a PicMd5Sum')
    return required(item, 'PicMd5Sum')
  })
}
