/**
 * The rules WeChat's API enforces, as the fake WeChat API applies them. Each is cited to the
 * WeChat page that states it, or marked community-measured where WeChat states none. Written
 * apart from the Worker's own rules (src/wechat/windows.ts): a fake that reused them would agree
 * with the Worker's mistakes. Pure: the state is the caller's.
 */

/** getStableAccessToken and Get_access_token (URLs in the fake's module comment). */
export const TOKEN_RULES = {
  /** "valid for 7,200 seconds". */
  lifetimeMs: 7200 * 1000,
  /**
   * Get_access_token: while a token is renewed "both new and old access_token values are
   * available within five minutes". The fake hands out a new token to an unforced call in the
   * held one's last five minutes, and keeps the old one valid five minutes more.
   */
  rotateWithinMs: 5 * 60 * 1000,
  oldValidMs: 5 * 60 * 1000,
  /** getStableAccessToken: forced refreshes "20 times a day", "at least 30 seconds apart". */
  forcedPerDay: 20,
  forcedSpacingMs: 30 * 1000,
} as const

/**
 * Customer-service messages, Service_Center_messages.html
 * (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html).
 */
export const MESSAGE_RULES = {
  /**
   * Community-measured: WeChat states no byte limit for a text message; sends past about 2,048
   * bytes of UTF-8 are refused with 45002 ("content size out of limit", Global_Return_Code).
   */
  textLimitBytes: 2048,
} as const

/**
 * The typing indicator. The mini program's customer-service typing page
 * (https://developers.weixin.qq.com/miniprogram/dev/api/custommsg/callback_help.html) states
 * 45080 (no message interaction within the previous 30 s), 45081 (already typing) and 45072 (a
 * bad command); the 15 s a Typing shows is from its guide to customer-service typing. The
 * account's typing page names the same call; the fake assumes the same rules.
 */
export const TYPING_RULES = { shownMs: 15 * 1000, interactionWithinMs: 30 * 1000 } as const

/**
 * Parametric QR codes, Generating_a_Parametric_QR_Code.html
 * (https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html):
 * a temporary code lives `expire_seconds` (60 when absent, at most 2,592,000); `scene_str` is 1
 * to 64 characters; at most 100,000 permanent codes.
 */
export const QR_RULES = {
  defaultExpireSeconds: 60,
  maxExpireSeconds: 2_592_000,
  sceneLength: 64,
  permanentCodes: 100_000,
} as const

/**
 * The custom menu, Creating_Custom-Defined_Menu.html
 * (https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html):
 * 1 to 3 buttons of up to 5 sub-buttons; names at most 16 bytes (sub-buttons 60), keys 128,
 * URLs 1,024.
 */
export const MENU_RULES = {
  buttons: 3,
  subButtons: 5,
  nameBytes: 16,
  subNameBytes: 60,
  keyBytes: 128,
  urlBytes: 1024,
} as const

/**
 * Web authorization, Wechat_webpage_authorization.html
 * (https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html):
 * `scope` is snsapi_base or snsapi_userinfo; `state` "可以填写a-zA-Z0-9的参数值，最多128字节";
 * `response_type` "请填写code"; "code只能使用一次，5分钟未被使用自动过期" (a used code is 40163,
 * an unknown or stale one 40029); the web access token's example `expires_in` is 7200; `unionid`
 * comes "只有当scope为snsapi_userinfo时"; `sns/userinfo` needs a token of snsapi_userinfo
 * (a snsapi_base one is refused as unauthorized, 48001).
 */
export const OAUTH_RULES = {
  codeLifetimeMs: 5 * 60 * 1000,
  webTokenLifetimeMs: 7200 * 1000,
  stateMaxBytes: 128,
  scopes: ['snsapi_base', 'snsapi_userinfo'],
} as const

/**
 * The jsapi_ticket, JS-SDK.html 附录1
 * (https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html): "有效期为7200秒，
 * 通过access_token来获取" with `type=jsapi` (wx_card for card tickets). The page says nothing of
 * a ticket being retired when another is fetched: the fake hands out a new one per call and
 * keeps each valid to its own end.
 */
export const TICKET_RULES = {
  lifetimeMs: 7200 * 1000,
  types: ['jsapi', 'wx_card'],
} as const

/**
 * Why WeChat's authorize page would not ask the user, or null when it would. The fake cannot
 * know the domain the account registered for web authorization (WeChat refuses another), so any
 * absolute http(s) `redirect_uri` is taken.
 */
export function authorizeProblem(query: Record<string, string | undefined>): string | null {
  const { appid, redirect_uri: redirectUri, response_type: responseType, scope, state } = query
  if (!appid) return 'appid is missing'
  if (!redirectUri) return 'redirect_uri is missing'
  let target: URL
  try {
    target = new URL(redirectUri)
  } catch {
    return 'redirect_uri is not a URL'
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:')
    return 'redirect_uri is not http(s)'
  if (responseType !== 'code') return 'response_type must be code'
  if (!OAUTH_RULES.scopes.includes(scope as (typeof OAUTH_RULES.scopes)[number])) {
    return 'scope must be snsapi_base or snsapi_userinfo'
  }
  const stateValue = state ?? ''
  if (stateValue.length > OAUTH_RULES.stateMaxBytes) return 'state is over 128 bytes'
  for (const char of stateValue) {
    const code = char.charCodeAt(0)
    const alphanumeric =
      (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122)
    if (!alphanumeric) return 'state takes a-zA-Z0-9 only'
  }
  return null
}

/**
 * Subscription notifications (订阅通知) and template messages (模板消息), as WeChat states them:
 * - bizsend (https://developers.weixin.qq.com/doc/service/api/notify/notify/api_sendnewsubscribemsg.html):
 *   40003 for a bad `touser`, 40037 for a bad `template_id`, 43101 when the user has not accepted
 *   the template ("用户拒绝接受消息"), 47003 for data "可能为空或者不满足规则"; each keyword's limit
 *   by its kind (`thing` "20个以内字符", `number`, `letter`, `character_string` 32, `symbol` 5,
 *   `phone_number` 17, `car_number` 8, `name` 10 Chinese characters or 20 letters, `phrase` 5
 *   Chinese characters; `time`, `date` and `amount` by format, which the fake does not check).
 * - Consent (https://developers.weixin.qq.com/doc/service/Subscription_Messages/intro.html): a
 *   one-time template allows one notification per acceptance ("用户订阅一次…下发一条"), a
 *   long-term one any number; a reject in a popup or the user's settings
 *   (https://developers.weixin.qq.com/doc/service/guide/product/subscription_messages/push.html)
 *   ends it. Each notification taken is reported back in a `subscribe_msg_sent_event`.
 * - template/send (https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.html):
 *   to followers only (43004 otherwise, Global_Return_Code "需要接收者关注"); one message per OpenID
 *   and `client_msg_id` within 10 minutes ("防重入id…10分钟有效": the fake answers a repeat with
 *   the first msgid and sends nothing more, as WeChat does not say what it answers); a `msgid` in
 *   the answer, reported back in a TEMPLATESENDJOBFINISH.
 */
export const NOTIFY_RULES = {
  clientMsgIdMs: 10 * 60 * 1000,
  /** Characters per keyword kind; `name` allows 20 without a Chinese character. */
  keywordLimits: {
    thing: 20,
    number: 32,
    letter: 32,
    symbol: 5,
    character_string: 32,
    phone_number: 17,
    car_number: 8,
    name: 10,
    phrase: 5,
  } as Readonly<Record<string, number>>,
} as const

/** One user's consent to a template, as WeChat keeps it. */
export interface FakeConsent {
  /** One-time acceptances left. */
  acceptances: number
  /** A long-term template's acceptance, until a reject. */
  accepted: boolean
}

/** What bizsend and template/send refuse in the data; 0 when every keyword is within its kind. */
export function notificationDataErrcode(data: unknown, keywords: readonly string[] | null): number {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return ERRCODES.argumentInvalid
  }
  const entries = Object.entries(data as Record<string, unknown>)
  if (entries.length === 0) return ERRCODES.argumentInvalid
  if (keywords?.some((keyword) => !Object.hasOwn(data, keyword))) {
    return ERRCODES.argumentInvalid
  }
  for (const [name, entry] of entries) {
    const value =
      typeof entry === 'object' && entry !== null ? (entry as { value?: unknown }).value : undefined
    if (typeof value !== 'string' || value.trim() === '') return ERRCODES.argumentInvalid
    let kind = name
    while (
      kind.length > 0 &&
      kind.charCodeAt(kind.length - 1) >= 48 &&
      kind.charCodeAt(kind.length - 1) <= 57
    ) {
      kind = kind.slice(0, -1)
    }
    const chars = Array.from(value)
    const han = chars.filter((char) => /\p{Script=Han}/u.test(char)).length
    const limit =
      kind === 'name' && han === 0
        ? 20
        : (NOTIFY_RULES.keywordLimits[kind] ?? Number.POSITIVE_INFINITY)
    if (chars.length > limit) return ERRCODES.argumentInvalid
    if (kind === 'phrase' && han !== chars.length) return ERRCODES.argumentInvalid
    if (kind === 'number' && !/^[0-9.]+$/.test(value)) return ERRCODES.argumentInvalid
  }
  return ERRCODES.ok
}

/** A template id as WeChat issues them: base64url characters, read without a pattern. */
export function isFakeTemplateId(value: unknown): value is string {
  if (typeof value !== 'string' || value.length < 1 || value.length > 128) return false
  for (const char of value) {
    const code = char.charCodeAt(0)
    const ok =
      (code >= 48 && code <= 57) ||
      (code >= 65 && code <= 90) ||
      (code >= 97 && code <= 122) ||
      char === '_' ||
      char === '-'
    if (!ok) return false
  }
  return true
}

/** Errcodes the fake answers, as Global_Return_Code.html and the pages above name them. */
export const ERRCODES = {
  ok: 0,
  invalidButtonCount: 40016,
  invalidButtonType: 40017,
  invalidButtonName: 40018,
  invalidButtonKey: 40019,
  invalidButtonUrl: 40020,
  invalidSubButtonCount: 40023,
  invalidSubButtonName: 40025,
  invalidSubButtonKey: 40026,
  invalidSubButtonUrl: 40027,
  invalidActionName: 40052,
  invalidArgs: 40097,
  permanentCodesUsed: 45029,
  invalidToken: 40001,
  invalidGrantType: 40002,
  invalidCode: 40029,
  codeUsed: 40163,
  apiUnauthorized: 48001,
  invalidOpenid: 40003,
  invalidMessageType: 40008,
  invalidAppid: 40013,
  invalidSecret: 40125,
  emptyContent: 44004,
  contentTooLong: 45002,
  articlesOverLimit: 45008,
  dailyQuota: 45009,
  frequency: 45011,
  windowPassed: 45015,
  windowQuotaUsed: 45047,
  badTypingCommand: 45072,
  noRecentInteraction: 45080,
  alreadyTyping: 45081,
  clientIpNotRegistered: 61004,
  componentTicketExpired: 61005,
  componentTicketInvalid: 61006,
  notAuthorized: 61003,
  authCodeInvalid: 61009,
  authCodeExpired: 61010,
  invalidComponent: 61011,
  refreshTokenInvalid: 61023,
  requireSubscribe: 43004,
  notSubscribed: 43101,
  invalidTemplateId: 40037,
  argumentInvalid: 47003,
} as const

/**
 * The third-party platform's component API (Third-party_Platforms/2.0, pages by URL below).
 * - component_verify_ticket.html: a ticket comes every 10 minutes "有效时间为12小时"; a stale
 *   one is 61005, one never issued 61006 (component_access_token.html's errcodes).
 * - component_access_token.html: "每个令牌的有效期为 2 小时"; WeChat's community staff: after a
 *   new one "旧的component_access_token还有5分钟的过渡期".
 * - pre_auth_code.html: "每个预授权码有效期为 1800秒"; staff: "预授权码有效期内只能使用一次".
 * - Authorization_Process_Technical_Description.html: the redirect carries `auth_code` and
 *   `expires_in`; the code of a real authorization lives 3,600 s (`AuthorizationCodeExpiredTime`
 *   is CreateTime + 3600 in WeChat's pushes), a stale one is 61010, a used or unknown one 61009.
 * - api_authorizer_token.html: the token "有效期为 2 小时"; staff: a new refresh token leaves
 *   the old one "5分钟的过渡期"; after that, or a wrong one, 61023; an account that revoked
 *   the platform 61003.
 * - creat_token.html: every call checks the caller's IP against the platform's whitelist (61004).
 */
export const PLATFORM_RULES = {
  ticketLifeMs: 12 * 60 * 60 * 1000,
  componentTokenLifeMs: 7200 * 1000,
  oldValidMs: 5 * 60 * 1000,
  preAuthCodeLifeSeconds: 1800,
  authCodeLifeSeconds: 3600,
  authorizerTokenLifeSeconds: 7200,
  /** The permission sets a fake authorization grants (funcscope_category ids: 1 messages, 2 users, 3 accounts…). */
  grantedPermissions: [1, 2, 3, 4, 7, 11, 15],
} as const

/** A window WeChat opens for customer-service messages when the user interacts. */
export type FakeWindowKind = 'message' | 'event'

/**
 * Service_Center_messages.html, the rule since June 2023: a message from the user allows 5
 * messages within 48 hours; a menu click (CLICK, scancode_push, scancode_waitmsg), a follow, a
 * scan, or a tap on a menu message allows 3 within 1 minute. The page does not say windows of
 * different triggers add up: the fake counts every send against every open window, and allows
 * it while one of them has room.
 */
const WINDOWS: { readonly [K in FakeWindowKind]: { quota: number; lengthMs: number } } = {
  message: { quota: 5, lengthMs: 48 * 60 * 60 * 1000 },
  event: { quota: 3, lengthMs: 60 * 1000 },
}

const MESSAGE_TYPES = new Set(['text', 'image', 'voice', 'video', 'shortvideo', 'location', 'link'])
const EVENT_TYPES = new Set(['CLICK', 'scancode_push', 'scancode_waitmsg', 'subscribe', 'SCAN'])

/** What a push tells the fake: whose interaction, when, and which window it opens. */
export interface Interaction {
  readonly openid: string
  readonly at: number
  readonly opens: FakeWindowKind | null
  /** The user follows (they follow, message, click or scan) or stopped; null: nothing said. */
  readonly follows: boolean | null
  /** A popup's or a settings change's choices: each template accepted or rejected. */
  readonly choices: readonly { readonly templateId: string; readonly accepts: boolean }[]
}

/** Each `<List>` item's template and choice, read with `indexOf` alone. */
function choicesOf(xml: string, event: string): Interaction['choices'] {
  if (event !== 'subscribe_msg_popup_event' && event !== 'subscribe_msg_change_event') return []
  const choices: { templateId: string; accepts: boolean }[] = []
  let from = 0
  for (;;) {
    const open = xml.indexOf('<List>', from)
    if (open === -1) break
    const close = xml.indexOf('</List>', open)
    if (close === -1) break
    const item = xml.slice(open, close)
    const templateId = elementText(item, 'TemplateId')
    const status = elementText(item, 'SubscribeStatusString')
    // Only a popup grants; the settings page pushes rejects only.
    if (templateId && (status === 'reject' || (status === 'accept' && event.includes('popup')))) {
      choices.push({ templateId, accepts: status === 'accept' })
    }
    from = close + 7
  }
  return choices
}

/**
 * The text of the first `<name>` element, CDATA or not, found with `indexOf` alone: the fake
 * reads what anyone posts to it, so no pattern here may backtrack.
 */
function elementText(xml: string, name: string): string | null {
  const open = xml.indexOf(`<${name}>`)
  if (open === -1) return null
  const start = open + name.length + 2
  const end = xml.indexOf(`</${name}>`, start)
  if (end === -1) return null
  const text = xml.slice(start, end).trim()
  return text.startsWith('<![CDATA[') && text.endsWith(']]>') ? text.slice(9, -3).trim() : text
}

/** Reads a push's XML as WeChat knows the interaction; null when it is not a user's push. */
export function interactionOf(xml: string): Interaction | null {
  const openid = elementText(xml, 'FromUserName')
  const createTime = Number(elementText(xml, 'CreateTime'))
  const type = elementText(xml, 'MsgType')
  if (!openid || !Number.isFinite(createTime) || !type) return null
  let opens: FakeWindowKind | null = null
  const event = type === 'event' ? (elementText(xml, 'Event') ?? '') : ''
  if (type === 'event') opens = EVENT_TYPES.has(event) ? 'event' : null
  else if (type === 'text' && elementText(xml, 'bizmsgmenuid')) opens = 'event'
  else if (MESSAGE_TYPES.has(type)) opens = 'message'
  // Only a follower sends messages, clicks or scans; an unfollow ends it.
  const follows = event === 'unsubscribe' ? false : opens !== null ? true : null
  return { openid, at: createTime * 1000, opens, follows, choices: choicesOf(xml, event) }
}

/**
 * A user as the fake knows them: open windows, the last interaction, "typing…" shown until, and
 * whether they follow, as `cgi-bin/user/info` answers it (`subscribe`, 0 when "此用户没有关注该
 * 公众号": https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html).
 */
export interface FakeUser {
  windows: Partial<Record<FakeWindowKind, { openedAt: number; used: number }>>
  lastInteraction: number
  typingUntil: number
  subscribed: boolean
  /** Subscription templates the user answered, by template id. */
  consents: Map<string, FakeConsent>
}

export function newFakeUser(): FakeUser {
  return { windows: {}, lastInteraction: 0, typingUntil: 0, subscribed: false, consents: new Map() }
}

/** At most this many templates' consents per user. */
const MAX_CONSENTS = 100

/** Notes an interaction; a newer one of the same kind opens its window afresh. */
export function interact(user: FakeUser, interaction: Interaction): void {
  for (const { templateId, accepts } of interaction.choices) {
    const held = user.consents.get(templateId) ?? { acceptances: 0, accepted: false }
    if (!user.consents.has(templateId) && user.consents.size >= MAX_CONSENTS) continue
    user.consents.set(
      templateId,
      accepts
        ? { acceptances: held.acceptances + 1, accepted: true }
        : { acceptances: 0, accepted: false },
    )
  }
  user.lastInteraction = Math.max(user.lastInteraction, interaction.at)
  if (interaction.follows !== null) user.subscribed = interaction.follows
  const kind = interaction.opens
  if (kind === null) return
  const held = user.windows[kind]
  if (!held || interaction.at > held.openedAt)
    user.windows[kind] = { openedAt: interaction.at, used: 0 }
}

/** Takes one message out of the user's windows, or the errcode WeChat answers. */
export function chargeWindow(user: FakeUser, now: number): number {
  const open = (Object.keys(user.windows) as FakeWindowKind[]).filter((kind) => {
    const held = user.windows[kind]
    return held !== undefined && now < held.openedAt + WINDOWS[kind].lengthMs
  })
  if (open.length === 0) return ERRCODES.windowPassed
  const room = open.some((kind) => (user.windows[kind]?.used ?? 0) < WINDOWS[kind].quota)
  if (!room) return ERRCODES.windowQuotaUsed
  for (const kind of open) {
    const held = user.windows[kind]
    if (held) held.used++
  }
  return ERRCODES.ok
}

/**
 * Takes the user's consent to one notification of a template, or answers 43101: a one-time
 * template spends an acceptance, a long-term one needs its acceptance to stand.
 */
export function spendConsent(user: FakeUser, templateId: string, longTerm: boolean): number {
  const held = user.consents.get(templateId)
  if (!held) return ERRCODES.notSubscribed
  if (longTerm) return held.accepted ? ERRCODES.ok : ERRCODES.notSubscribed
  if (held.acceptances <= 0) return ERRCODES.notSubscribed
  held.acceptances--
  return ERRCODES.ok
}

/** What WeChat refuses in a message itself, before any window is charged; 0 when it is taken. */
export function contentErrcode(body: Record<string, unknown>): number {
  const part = (name: string): Record<string, unknown> | null => {
    const value = body[name]
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null
  }
  switch (body.msgtype) {
    case 'text': {
      const content = part('text')?.content
      if (typeof content !== 'string' || content === '') return ERRCODES.emptyContent
      const bytes = new TextEncoder().encode(content).length
      return bytes > MESSAGE_RULES.textLimitBytes ? ERRCODES.contentTooLong : ERRCODES.ok
    }
    case 'news': {
      // "图文消息条数限制在1条以内，注意，如果图文数超过1，则将会返回错误码45008"
      const articles = part('news')?.articles
      return Array.isArray(articles) && articles.length === 1
        ? ERRCODES.ok
        : ERRCODES.articlesOverLimit
    }
    case 'image':
    case 'voice':
    case 'video':
    case 'music':
    case 'mpnews':
    case 'mpnewsarticle':
    case 'msgmenu':
    case 'miniprogrampage':
      return part(body.msgtype) ? ERRCODES.ok : ERRCODES.emptyContent
    default:
      return ERRCODES.invalidMessageType
  }
}

/** A Typing or CancelTyping command, or the errcode WeChat answers. */
export function typingErrcode(user: FakeUser, command: unknown, now: number): number {
  if (command === 'CancelTyping') {
    user.typingUntil = 0
    return ERRCODES.ok
  }
  if (command !== 'Typing') return ERRCODES.badTypingCommand
  if (now - user.lastInteraction > TYPING_RULES.interactionWithinMs) {
    return ERRCODES.noRecentInteraction
  }
  if (now < user.typingUntil) return ERRCODES.alreadyTyping
  user.typingUntil = now + TYPING_RULES.shownMs
  return ERRCODES.ok
}

const KEYED = new Set([
  'click',
  'scancode_push',
  'scancode_waitmsg',
  'pic_sysphoto',
  'pic_photo_or_album',
  'pic_weixin',
  'location_select',
])
const OTHER_TYPES = new Set(['view', 'miniprogram', 'article_id', 'article_view_limited'])

/** What `menu/create` answers for these buttons; 0 when WeChat would take them. */
export function menuErrcode(buttons: unknown): number {
  if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > MENU_RULES.buttons) {
    return ERRCODES.invalidButtonCount
  }
  const size = (value: unknown) =>
    typeof value === 'string' ? new TextEncoder().encode(value).length : -1
  const check = (button: Record<string, unknown>, sub: boolean): number => {
    const nameLimit = sub ? MENU_RULES.subNameBytes : MENU_RULES.nameBytes
    const name = size(button.name)
    if (name < 1 || name > nameLimit) {
      return sub ? ERRCODES.invalidSubButtonName : ERRCODES.invalidButtonName
    }
    const type = String(button.type)
    if (KEYED.has(type)) {
      const key = size(button.key)
      if (key < 1 || key > MENU_RULES.keyBytes) {
        return sub ? ERRCODES.invalidSubButtonKey : ERRCODES.invalidButtonKey
      }
    } else if (!OTHER_TYPES.has(type)) {
      return ERRCODES.invalidButtonType
    }
    if (type === 'view' || type === 'miniprogram') {
      const url = size(button.url)
      if (url < 1 || url > MENU_RULES.urlBytes) {
        return sub ? ERRCODES.invalidSubButtonUrl : ERRCODES.invalidButtonUrl
      }
    }
    return ERRCODES.ok
  }
  for (const entry of buttons as Record<string, unknown>[]) {
    const subs = entry.sub_button
    if (subs === undefined) {
      const code = check(entry, false)
      if (code !== 0) return code
      continue
    }
    const name = size(entry.name)
    if (name < 1 || name > MENU_RULES.nameBytes) return ERRCODES.invalidButtonName
    if (!Array.isArray(subs) || subs.length < 1 || subs.length > MENU_RULES.subButtons) {
      return ERRCODES.invalidSubButtonCount
    }
    for (const sub of subs as Record<string, unknown>[]) {
      const code = check(sub, true)
      if (code !== 0) return code
    }
  }
  return ERRCODES.ok
}

/** What `qrcode/create` answers for this body: an errcode, or the code's scene and lifetime. */
export function qrCodeRequestOf(
  body: Record<string, unknown>,
): { errcode: number } | { scene: string; expireSeconds: number | null } {
  const action = body.action_name
  const info = body.action_info as { scene?: { scene_str?: unknown } } | undefined
  const scene = info?.scene?.scene_str
  if (action !== 'QR_STR_SCENE' && action !== 'QR_LIMIT_STR_SCENE') {
    return { errcode: ERRCODES.invalidActionName }
  }
  if (typeof scene !== 'string' || scene.length < 1 || scene.length > QR_RULES.sceneLength) {
    return { errcode: ERRCODES.invalidArgs }
  }
  if (action === 'QR_LIMIT_STR_SCENE') return { scene, expireSeconds: null }
  const asked = body.expire_seconds
  const seconds = typeof asked === 'number' ? asked : QR_RULES.defaultExpireSeconds
  if (!Number.isInteger(seconds) || seconds < 1) return { errcode: ERRCODES.invalidArgs }
  return { scene, expireSeconds: Math.min(seconds, QR_RULES.maxExpireSeconds) }
}
