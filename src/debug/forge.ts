/**
 * A stand-in for WeChat's servers: pushes of every kind as WeChat would write, sign and encrypt
 * them, and the reading of a reply as WeChat would check it. The debugging console, the
 * simulator and the tests all send their pushes through this. Pure: no bindings.
 */

import { decryptMessage, encryptMessage, importEncodingAesKey } from '../wechat/crypto.ts'
import type { PushKind } from '../wechat/push.ts'
import { cdata } from '../wechat/reply.ts'
import { constantTimeEqual, wechatSignature } from '../wechat/signature.ts'
import { parseXmlRoot, textOf } from '../wechat/xml.ts'

export type ForgeMode = 'plaintext' | 'compatible' | 'safe'
export const FORGE_MODES: readonly ForgeMode[] = ['plaintext', 'compatible', 'safe']

/** The fields a forged push may set; each kind reads the ones it has. */
export interface ForgeFields {
  openid?: string
  account?: string
  createTime?: number
  msgId?: string
  scene?: string
  ticket?: string
  menuKey?: string
  url?: string
  latitude?: number
  longitude?: number
  precision?: number
  content?: string
  label?: string
  status?: string
  /** Subscription-message events: the template ids, one `List` item each. */
  templateIds?: readonly string[]
  /**
   * A popup's choice for each template (`accept` unless said): the templates named here are
   * answered so. A change from the user's settings is a `reject`, all WeChat pushes from there.
   */
  choices?: Readonly<Record<string, 'accept' | 'reject'>>
  /** A notification's result (`subscribe_msg_sent_event`): its ErrorCode, 0 when delivered. */
  errorCode?: number
  /** Customer-service session events: the agent (and the one it moved from, for a switch). */
  kfAccount?: string
  fromKfAccount?: string
  revokeInfo?: string
  /** An unknown push: its Event name. */
  event?: string
  /** A text that is a tap on a menu message: the item's id (`bizmsgmenuid`). */
  menuId?: string
}

export const FORGE_DEFAULTS = {
  openid: 'oDEBUGuser0000000000000000001',
  account: 'gh_wechat_edge',
  scene: '123123',
  ticket: 'TICKET',
  menuKey: 'V1001_TODAY_MUSIC',
  url: 'https://www.qq.com/',
  latitude: 23.137466,
  longitude: 113.352425,
  precision: 119.38504,
  content: 'Hello, wechat-edge',
  label: 'Guangzhou Tower',
  status: 'success',
  templateIds: ['uzFjHOOsXXgrXl0YHhyNV7jkOKy3Eotj3MhvnTkGA9o'],
  kfAccount: 'agent1@gh_wechat_edge',
  fromKfAccount: 'agent2@gh_wechat_edge',
  revokeInfo: '301',
  event: 'debug_unknown_event',
} as const

/** FromUserName of authorization-change events: WeChat's push service, not a follower. */
export const WECHAT_PUSH_SERVICE = 'owAqB1v0ahK_Xlc7GshIDdf2yf7E'

function element(name: string, value: string | number): string {
  return typeof value === 'number'
    ? `<${name}>${value}</${name}>`
    : `<${name}>${cdata(value)}</${name}>`
}

/** A fresh 64-bit-looking MsgId, as a string. */
export function freshMsgId(): string {
  const [high = 0, low = 0] = crypto.getRandomValues(new Uint32Array(2))
  return ((BigInt(high & 0x7fffffff) << 32n) | BigInt(low)).toString()
}

/**
 * The XML WeChat would push for `kind`, with defaults for every field not given.
 *
 * @example
 * forgePushXml('subscribe', { scene: 'spring' }) // a QR follow with EventKey qrscene_spring
 */
export function forgePushXml(kind: PushKind, fields: ForgeFields = {}): string {
  const f = { ...FORGE_DEFAULTS, ...fields }
  const createTime = fields.createTime ?? Math.floor(Date.now() / 1000)
  const msgId = fields.msgId ?? freshMsgId()
  const head =
    element('ToUserName', f.account) +
    element('FromUserName', f.openid) +
    element('CreateTime', createTime)
  const event = (name: string, rest = '') =>
    `<xml>${head}${element('MsgType', 'event')}${element('Event', name)}${rest}</xml>`
  const message = (type: string, rest: string) =>
    `<xml>${head}${element('MsgType', type)}${rest}${element('MsgId', msgId)}</xml>`
  const key = element('EventKey', f.menuKey)
  switch (kind) {
    case 'subscribe':
      return fields.scene === undefined
        ? event('subscribe')
        : event(
            'subscribe',
            element('EventKey', `qrscene_${f.scene}`) + element('Ticket', f.ticket),
          )
    case 'scan':
      return event('SCAN', element('EventKey', f.scene) + element('Ticket', f.ticket))
    case 'unsubscribe':
      return event('unsubscribe')
    case 'location_report':
      return event(
        'LOCATION',
        element('Latitude', f.latitude) +
          element('Longitude', f.longitude) +
          element('Precision', f.precision),
      )
    case 'click':
      return event('CLICK', key)
    case 'view':
      return event('VIEW', element('EventKey', f.url))
    case 'text':
      return message(
        'text',
        element('Content', f.content) +
          (fields.menuId === undefined ? '' : element('bizmsgmenuid', fields.menuId)),
      )
    case 'image':
      return message(
        'image',
        element('PicUrl', 'https://mmbiz.qpic.cn/debug.jpg') + element('MediaId', 'MEDIA_ID'),
      )
    case 'voice':
      return message(
        'voice',
        element('MediaId', 'MEDIA_ID') +
          element('Format', 'amr') +
          element('Recognition', f.content),
      )
    case 'video':
    case 'shortvideo':
      return message(
        kind,
        element('MediaId', 'MEDIA_ID') + element('ThumbMediaId', 'THUMB_MEDIA_ID'),
      )
    case 'location':
      return message(
        'location',
        element('Location_X', f.latitude) +
          element('Location_Y', f.longitude) +
          element('Scale', 20) +
          element('Label', f.label),
      )
    case 'link':
      return message(
        'link',
        element('Title', 'wechat-edge') + element('Description', f.content) + element('Url', f.url),
      )
    case 'scancode_push':
    case 'scancode_waitmsg':
      return event(
        kind,
        key +
          `<ScanCodeInfo>${element('ScanType', 'qrcode')}${element('ScanResult', f.content)}</ScanCodeInfo>`,
      )
    case 'pic_sysphoto':
    case 'pic_photo_or_album':
    case 'pic_weixin':
      return event(
        kind,
        key +
          `<SendPicsInfo>${element('Count', 1)}<PicList><item>${element('PicMd5Sum', '1b5f7c23b5bf75682a53e7b6d163e185')}</item></PicList></SendPicsInfo>`,
      )
    case 'location_select':
      return event(
        'location_select',
        key +
          `<SendLocationInfo>${element('Location_X', f.latitude)}${element('Location_Y', f.longitude)}` +
          `${element('Scale', 15)}${element('Label', f.label)}${element('Poiname', f.label)}</SendLocationInfo>`,
      )
    case 'view_miniprogram':
      return event(
        'view_miniprogram',
        element('EventKey', 'pages/index/index') + element('MenuId', '1'),
      )
    case 'template_send_job_finish':
      return event('TEMPLATESENDJOBFINISH', element('MsgID', msgId) + element('Status', f.status))
    case 'mass_send_job_finish':
      return event(
        'MASSSENDJOBFINISH',
        element('MsgID', msgId) +
          element('Status', 'send success') +
          element('TotalCount', 100) +
          element('FilterCount', 80) +
          element('SentCount', 75) +
          element('ErrorCount', 5),
      )
    case 'publish_job_finish':
      return event(
        'PUBLISHJOBFINISH',
        `<PublishEventInfo>${element('publish_id', 2247503051)}${element('publish_status', 0)}` +
          `${element('article_id', 'b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvyWP4Hq4')}` +
          `<article_detail>${element('count', 1)}<item>${element('idx', 1)}` +
          `${element('article_url', f.url)}</item></article_detail></PublishEventInfo>`,
      )
    case 'subscribe_msg_popup_event':
    case 'subscribe_msg_change_event':
    case 'subscribe_msg_sent_event': {
      const tag =
        kind === 'subscribe_msg_popup_event'
          ? 'SubscribeMsgPopupEvent'
          : kind === 'subscribe_msg_change_event'
            ? 'SubscribeMsgChangeEvent'
            : 'SubscribeMsgSentEvent'
      const items = f.templateIds.map((templateId) => {
        const choice =
          kind === 'subscribe_msg_change_event'
            ? 'reject'
            : (fields.choices?.[templateId] ?? 'accept')
        const listFields =
          kind === 'subscribe_msg_sent_event'
            ? element('MsgID', msgId) +
              element('ErrorCode', fields.errorCode ?? 0) +
              element('ErrorStatus', f.status)
            : element('SubscribeStatusString', choice) +
              (kind === 'subscribe_msg_popup_event' ? element('PopupScene', 0) : '')
        return `<List>${element('TemplateId', templateId)}${listFields}</List>`
      })
      return event(kind, `<${tag}>${items.join('')}</${tag}>`)
    }
    case 'kf_create_session':
    case 'kf_close_session':
      return event(kind, element('KfAccount', f.kfAccount))
    case 'kf_switch_session':
      return event(
        kind,
        element('FromKfAccount', f.fromKfAccount) + element('ToKfAccount', f.kfAccount),
      )
    case 'user_info_modified':
    case 'user_authorization_revoke':
    case 'user_authorization_cancellation': {
      // The user is in OpenID; FromUserName is WeChat's push service.
      const serviceHead =
        element('ToUserName', f.account) +
        element('FromUserName', WECHAT_PUSH_SERVICE) +
        element('CreateTime', createTime)
      return (
        `<xml>${serviceHead}${element('MsgType', 'event')}${element('Event', kind)}` +
        `${element('OpenID', f.openid)}${element('AppID', 'wx2c2769f8efd9abc2')}` +
        `${kind === 'user_info_modified' ? '' : element('RevokeInfo', f.revokeInfo)}</xml>`
      )
    }
    case 'unknown':
      return event(f.event, element('EventKey', f.menuKey))
  }
}

export interface ForgeAccount {
  readonly token: string
  readonly appId?: string | null
  readonly encodingAesKey?: string | null
}

export interface SignedPush {
  /** The query string WeChat would append to the callback URL (no leading `?`). */
  readonly query: string
  readonly body: string
}

/**
 * Signs, and in compatible and safe mode encrypts, a push exactly as WeChat does.
 *
 * @example
 * const { query, body } = await signPush(xml, account, 'safe')
 * await fetch(`${callbackUrl}?${query}`, { method: 'POST', body })
 */
export async function signPush(
  xml: string,
  account: ForgeAccount,
  mode: ForgeMode,
  timestamp = String(Math.floor(Date.now() / 1000)),
  nonce = String(crypto.getRandomValues(new Uint32Array(1))[0]),
): Promise<SignedPush> {
  const signature = await wechatSignature([account.token, timestamp, nonce])
  const params = new URLSearchParams({ signature, timestamp, nonce })
  if (mode === 'plaintext') return { query: params.toString(), body: xml }
  if (!account.appId || !account.encodingAesKey) {
    throw new TypeError(`${mode} mode needs an AppID and an EncodingAESKey`)
  }
  const aes = await importEncodingAesKey(account.encodingAesKey)
  const encrypted = await encryptMessage(aes, xml, account.appId)
  params.set('encrypt_type', 'aes')
  params.set('msg_signature', await wechatSignature([account.token, timestamp, nonce, encrypted]))
  const root = parseXmlRoot(xml)
  const toUser = textOf(root, 'ToUserName')
  // A platform's authorization event names the platform's AppId where a push has ToUserName.
  const addressee =
    toUser === undefined && textOf(root, 'AppId') !== undefined
      ? element('AppId', textOf(root, 'AppId') ?? '')
      : element('ToUserName', toUser ?? '')
  // Compatible mode carries the plaintext fields beside the Encrypt element; safe mode does not.
  const body =
    mode === 'safe'
      ? `<xml>${addressee}${element('Encrypt', encrypted)}</xml>`
      : beforeRootEnd(xml, element('Encrypt', encrypted))
  return { query: params.toString(), body }
}

/** `xml` with `inserted` just before its closing `</xml>` (trailing whitespace dropped). */
function beforeRootEnd(xml: string, inserted: string): string {
  const trimmed = xml.trimEnd()
  return trimmed.endsWith('</xml>') ? `${trimmed.slice(0, -'</xml>'.length)}${inserted}</xml>` : xml
}

export interface OpenedReply {
  /** The reply as WeChat reads it: `success`, empty, or reply XML. */
  readonly plaintext: string
  /** Whether the reply was encrypted. */
  readonly encrypted: boolean
  /** For encrypted replies: whether MsgSignature holds. */
  readonly signatureValid: boolean
}

/** Reads a reply the way WeChat does: decrypting and checking an encrypted one. */
export async function openReply(body: string, account: ForgeAccount): Promise<OpenedReply> {
  if (!body.includes('<Encrypt>')) {
    return { plaintext: body, encrypted: false, signatureValid: true }
  }
  if (!account.appId || !account.encodingAesKey) {
    throw new TypeError('an encrypted reply needs an AppID and an EncodingAESKey to read')
  }
  const envelope = parseXmlRoot(body)
  const encrypted = textOf(envelope, 'Encrypt') ?? ''
  const expected = await wechatSignature([
    account.token,
    textOf(envelope, 'TimeStamp') ?? '',
    textOf(envelope, 'Nonce') ?? '',
    encrypted,
  ])
  const aes = await importEncodingAesKey(account.encodingAesKey)
  return {
    plaintext: await decryptMessage(aes, encrypted, account.appId),
    encrypted: true,
    signatureValid: constantTimeEqual(expected, textOf(envelope, 'MsgSignature') ?? ''),
  }
}

/** An authorization event of the third-party platform, as WeChat writes it (its fields by InfoType). */
export type PlatformEventFields =
  | { readonly infoType: 'component_verify_ticket'; readonly ticket: string }
  | {
      readonly infoType: 'authorized' | 'updateauthorized'
      readonly authorizerAppId: string
      readonly authorizationCode: string
      readonly preAuthCode: string
      /** Seconds since the epoch, as WeChat's pushes carry it. */
      readonly codeExpiredTime: number
    }
  | { readonly infoType: 'unauthorized'; readonly authorizerAppId: string }

/**
 * The XML WeChat pushes to a platform's authorization event URL: `AppId` where an account's
 * pushes have `ToUserName` (authorize_event.html, component_verify_ticket.html).
 *
 * @example
 * forgePlatformEventXml('wx…', { infoType: 'component_verify_ticket', ticket: 'ticket@@@…' })
 */
export function forgePlatformEventXml(
  componentAppId: string,
  fields: PlatformEventFields,
  createTime = Math.floor(Date.now() / 1000),
): string {
  const head = `${element('AppId', componentAppId)}${element('CreateTime', createTime)}${element('InfoType', fields.infoType)}`
  switch (fields.infoType) {
    case 'component_verify_ticket':
      return `<xml>${head}${element('ComponentVerifyTicket', fields.ticket)}</xml>`
    case 'authorized':
    case 'updateauthorized':
      return `<xml>${head}${element('AuthorizerAppid', fields.authorizerAppId)}${element('AuthorizationCode', fields.authorizationCode)}${element('AuthorizationCodeExpiredTime', fields.codeExpiredTime)}${element('PreAuthCode', fields.preAuthCode)}</xml>`
    case 'unauthorized':
      return `<xml>${head}${element('AuthorizerAppid', fields.authorizerAppId)}</xml>`
  }
}
