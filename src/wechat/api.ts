/**
 * WeChat's server API, as far as talking back needs it: the stable access token, customer-
 * service messages, the typing indicator and notifications (notification.ts). Pure: requests
 * are built and answers classified here; the caller supplies `fetch`, the base URL and the token.
 *
 * https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
 */

import { NOTIFICATION_PATHS, type Notification, notificationBody } from './notification.ts'
import type { Reply } from './reply.ts'

/** A customer-service message, as `cgi-bin/message/custom/send` takes it (without `touser`). */
export type CustomMessage =
  | { readonly msgtype: 'text'; readonly text: { readonly content: string } }
  | { readonly msgtype: 'image'; readonly image: { readonly media_id: string } }
  | { readonly msgtype: 'voice'; readonly voice: { readonly media_id: string } }
  | {
      readonly msgtype: 'video'
      readonly video: {
        readonly media_id: string
        readonly thumb_media_id?: string
        readonly title?: string
        readonly description?: string
      }
    }
  | {
      readonly msgtype: 'music'
      readonly music: {
        readonly title?: string
        readonly description?: string
        readonly musicurl: string
        readonly hqmusicurl?: string
        readonly thumb_media_id: string
      }
    }
  /** A link card: one article that opens `url`. */
  | {
      readonly msgtype: 'news'
      readonly news: {
        readonly articles: readonly [
          {
            readonly title: string
            readonly description?: string
            readonly url: string
            readonly picurl?: string
          },
        ]
      }
    }
  | { readonly msgtype: 'mpnews'; readonly mpnews: { readonly media_id: string } }
  | { readonly msgtype: 'mpnewsarticle'; readonly mpnewsarticle: { readonly article_id: string } }
  | {
      readonly msgtype: 'msgmenu'
      readonly msgmenu: {
        readonly head_content: string
        readonly list: readonly { readonly id: string; readonly content: string }[]
        readonly tail_content: string
      }
    }
  | {
      readonly msgtype: 'miniprogrampage'
      readonly miniprogrampage: {
        readonly title: string
        readonly appid: string
        readonly pagepath: string
        readonly thumb_media_id: string
      }
    }

export const CUSTOM_MESSAGE_TYPES = [
  'text',
  'image',
  'voice',
  'video',
  'music',
  'news',
  'mpnews',
  'mpnewsarticle',
  'msgmenu',
  'miniprogrampage',
] as const satisfies readonly CustomMessage['msgtype'][]

/**
 * Builders for customer-service messages.
 *
 * @example
 * await send(message.text('Your answer is ready.'))
 */
export const message = {
  text: (content: string): CustomMessage => ({ msgtype: 'text', text: { content } }),
  image: (mediaId: string): CustomMessage => ({ msgtype: 'image', image: { media_id: mediaId } }),
  voice: (mediaId: string): CustomMessage => ({ msgtype: 'voice', voice: { media_id: mediaId } }),
  link: (article: {
    title: string
    description?: string
    url: string
    picurl?: string
  }): CustomMessage => ({
    msgtype: 'news',
    news: { articles: [article] },
  }),
  mpnews: (mediaId: string): CustomMessage => ({
    msgtype: 'mpnews',
    mpnews: { media_id: mediaId },
  }),
  menu: (head: string, choices: { id: string; content: string }[], tail = ''): CustomMessage => ({
    msgtype: 'msgmenu',
    msgmenu: { head_content: head, list: choices, tail_content: tail },
  }),
  miniProgram: (page: {
    title: string
    appid: string
    pagepath: string
    thumbMediaId: string
  }): CustomMessage => ({
    msgtype: 'miniprogrampage',
    miniprogrampage: {
      title: page.title,
      appid: page.appid,
      pagepath: page.pagepath,
      thumb_media_id: page.thumbMediaId,
    },
  }),
} as const

/** Why a call failed, as the code that handles it needs to know. */
export type ApiFailure =
  /** 40001, 40014, 42001: refresh the token once and call again. */
  | 'token_invalid'
  /** 40164: the caller's IP is not on the account's whitelist (Workers have no fixed one). */
  | 'ip_not_whitelisted'
  /** 89503: the call waits for an administrator's confirmation of the IP. */
  | 'ip_needs_confirmation'
  /** 45009: the API's daily quota; 45011: its per-minute frequency. */
  | 'api_quota'
  /** 48001: the account has no permission for this API. */
  | 'not_permitted'
  /** 45015: the user's reply window has passed. */
  | 'window_closed'
  /** 45047: the window's quota of messages is used up. */
  | 'quota_used'
  /** 43004: the user does not follow the account. */
  | 'not_a_follower'
  /** 40003: not an OpenID of this account. */
  | 'bad_openid'
  /** 45002: the content is too long. */
  | 'too_long'
  /** -1, a network error, a timeout, a 5xx. */
  | 'busy'
  /**
   * 43108: "Cannot make concurrent calls to the same OpenID, please try again": another call to
   * the same user (a typing renewal beside a send) was under way; nothing was taken.
   */
  | 'concurrent_call'
  /** A message tried twice without an answer: WeChat may have it; not tried a third time. */
  | 'unconfirmed'
  /** 45080: no interaction within 30 s; 45081: "typing…" is already shown. */
  | 'typing_refused'
  /**
   * 43101: "用户拒绝接受消息，如果用户之前曾经订阅过，则表示用户取消了订阅关系" (the user has not
   * accepted the template, or no acceptance is left); also the local refusal of a notification
   * the user's consent ledger does not allow, made without calling WeChat.
   */
  | 'not_subscribed'
  /** 40037: "订阅模板id为空不正确" (a template id the account does not have). */
  | 'bad_template'
  /** 47003: "模板参数不准确，可能为空或者不满足规则" (a keyword missing, empty or over its limit). */
  | 'bad_data'
  /** 41030: "page路径不正确" (a mini program page that does not exist). */
  | 'bad_page'
  /**
   * Another attempt at the same notification (the same key) is under way, or died moments ago:
   * nothing was sent now; try again later (src/user/sends.ts).
   */
  | 'in_progress'
  /** Anything else WeChat refused (bad media id, bad request…), or an errcode not listed here. */
  | 'refused'

/**
 * What to do about a failure: `soon`, retry with the Queue's backoff; `late`, retry minutes
 * later (a quota, a whitelist an operator must fix), then dead-letter; `final`, dead-letter at
 * once with the reason. Nothing a job meant to send is dropped without a dead letter.
 */
export type FailureClass = 'soon' | 'late' | 'final'

/**
 * WeChat's errcodes for customer-service sends, notifications and tokens, in one table: global
 * return codes (https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html),
 * the customer-service page's own, and bizsend's (43101, 47003, 40037, 41030, 40003:
 * https://developers.weixin.qq.com/doc/service/api/notify/notify/api_sendnewsubscribemsg.html,
 * the same as the mini program's subscription messages' table:
 * https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html).
 */
const FAILURES: ReadonlyMap<number, ApiFailure> = new Map<number, ApiFailure>([
  [-1, 'busy'],
  [40001, 'token_invalid'],
  [40014, 'token_invalid'],
  [42001, 'token_invalid'],
  [40164, 'ip_not_whitelisted'],
  [89503, 'ip_needs_confirmation'],
  [45009, 'api_quota'],
  [45011, 'api_quota'],
  [48001, 'not_permitted'],
  [45015, 'window_closed'],
  [45047, 'quota_used'],
  [43004, 'not_a_follower'],
  [40003, 'bad_openid'],
  [45002, 'too_long'],
  [45080, 'typing_refused'],
  [45081, 'typing_refused'],
  [43101, 'not_subscribed'],
  [40037, 'bad_template'],
  [47003, 'bad_data'],
  [41030, 'bad_page'],
  // In none of WeChat's tables; its errmsg says what it is, as does WeChat's answer in the developer
  // community: https://developers.weixin.qq.com/community/minihome/doc/000c4ebfe045a8cf994ce994d51c00
  [43108, 'concurrent_call'],
])

const CLASSES: { readonly [F in ApiFailure]: FailureClass } = {
  busy: 'soon',
  concurrent_call: 'soon',
  token_invalid: 'soon',
  ip_not_whitelisted: 'late',
  ip_needs_confirmation: 'late',
  api_quota: 'late',
  not_permitted: 'late',
  window_closed: 'final',
  quota_used: 'final',
  not_a_follower: 'final',
  bad_openid: 'final',
  too_long: 'final',
  unconfirmed: 'final',
  typing_refused: 'final',
  not_subscribed: 'final',
  bad_template: 'final',
  bad_data: 'final',
  bad_page: 'final',
  in_progress: 'late',
  refused: 'final',
}

/** A failed call: WeChat's `errcode` (or none, for a network failure) and what it means. */
export class WechatApiError extends Error {
  readonly code: number | null
  readonly failure: ApiFailure
  /**
   * The request may have reached WeChat and no answer came back (a timeout, a connection lost):
   * WeChat may have taken the message. Any answer, even a 5xx, says it did not.
   */
  readonly unanswered: boolean

  constructor(failure: ApiFailure, code: number | null, message: string, unanswered = false) {
    super(message)
    this.name = 'WechatApiError'
    this.failure = failure
    this.code = code
    this.unanswered = unanswered
  }

  /** Worth calling again soon (with the Queue's backoff). */
  get retryable(): boolean {
    return CLASSES[this.failure] === 'soon'
  }

  /**
   * WeChat said the user's window is gone (45015) or spent (45047): the caller closes its own
   * record of the window too, until the user's next interaction. A local refusal (no errcode)
   * already follows that record.
   */
  get closesWindow(): boolean {
    return this.code !== null && (this.failure === 'window_closed' || this.failure === 'quota_used')
  }

  /** What to do about it: see {@link FailureClass}. */
  get failureClass(): FailureClass {
    return CLASSES[this.failure]
  }
}

/** What an `errcode` means; one not in WeChat's table is a final refusal. */
export function failureOf(code: number): ApiFailure {
  return FAILURES.get(code) ?? 'refused'
}

/** No call to WeChat waits longer than this. */
export const API_TIMEOUT_MS = 5_000

export interface ApiCall {
  readonly fetch: typeof fetch
  readonly base: string
}

/** Query values of a call, passed as data: each is encoded, none can end the query early. */
export type QueryValues = Readonly<Record<string, string | number | boolean>>

/** What a call sends besides its path: a JSON body (then it is a POST) and query values. */
export interface CallOptions {
  readonly body?: unknown
  readonly query?: QueryValues
}

/**
 * A path of WeChat's API, relative to the base: segments of letters, digits, `_` and `-`. Nothing
 * that could leave the base (`https:`, `//`, `\`, `..`) or carry a query or fragment of its own.
 */
const API_PATH = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/

/**
 * The URL of a call: always under the configured base, its origin and its path prefix, or a
 * {@link WechatApiError} before any request. The access token is the caller's to add, never a
 * query value's: a call that names `access_token` is refused.
 *
 * @example
 * apiUrl('https://api.weixin.qq.com/', 'cgi-bin/user/info', { openid, lang: 'zh_CN' })
 */
export function apiUrl(base: string, path: string, query: QueryValues = {}): URL {
  const root = new URL(base.endsWith('/') ? base : `${base}/`)
  const url = API_PATH.test(path) ? new URL(path, root) : null
  if (url === null || url.origin !== root.origin || !url.pathname.startsWith(root.pathname)) {
    throw new WechatApiError('refused', null, 'not a path of WeChat’s API: nothing was sent')
  }
  for (const [name, value] of Object.entries(query)) {
    if (name === 'access_token') {
      throw new WechatApiError('refused', null, 'the access token is added by the client itself')
    }
    url.searchParams.set(name, String(value))
  }
  return url
}

/**
 * POSTs JSON to WeChat and returns the answer, or throws a {@link WechatApiError}. The access
 * token goes in the query, as WeChat wants it; it is never part of an error's message.
 */
export function postJson<T>(
  call: ApiCall,
  path: string,
  body: unknown,
  accessToken?: string,
): Promise<T> {
  return requestJson<T>(call, path, { body }, accessToken)
}

/**
 * Calls WeChat: a POST of `body` as JSON, or a GET without one, with `query` as data. Answers and
 * failures as {@link postJson}. A redirect is a failure, never followed: it would take the token
 * (or the AppSecret in a body) to whatever host it names.
 */
export async function requestJson<T>(
  call: ApiCall,
  path: string,
  options: CallOptions = {},
  accessToken?: string,
): Promise<T> {
  return (await requestAnswer<T>(call, path, options, accessToken)).answer
}

/** {@link requestJson}, with the answer's text as WeChat wrote it (its 64-bit ids intact). */
async function requestAnswer<T>(
  call: ApiCall,
  path: string,
  { body, query }: CallOptions,
  accessToken?: string,
): Promise<{ readonly answer: T; readonly text: string }> {
  const url = apiUrl(call.base, path, query)
  if (accessToken !== undefined) url.searchParams.set('access_token', accessToken)
  let response: Response
  try {
    response = await call.fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body !== undefined && {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      }),
      redirect: 'manual',
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    })
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError'
    // fetch cannot tell a connection never made from one lost after the request left.
    throw new WechatApiError(
      'busy',
      null,
      timedOut ? 'WeChat did not answer in time' : 'WeChat could not be reached',
      true,
    )
  }
  refuseRedirect(response, 'WeChat’s API')
  if (response.status >= 500)
    throw new WechatApiError('busy', null, `WeChat answered ${response.status}`)
  let answer: { errcode?: number; errmsg?: string } & T
  let text: string
  try {
    text = await response.text()
    answer = JSON.parse(text)
  } catch {
    throw new WechatApiError('busy', null, 'WeChat answered something that is not JSON')
  }
  if (typeof answer !== 'object' || answer === null) {
    throw new WechatApiError('busy', null, 'WeChat answered something that is not an object')
  }
  const code = typeof answer.errcode === 'number' ? answer.errcode : 0
  if (code !== 0) throw new WechatApiError(failureOf(code), code, `WeChat refused: errcode ${code}`)
  return { answer, text }
}

/**
 * A 3xx from WeChat's API or a token service is a failure: fetched with `redirect: 'manual'`,
 * so that nothing (a token in the query, the AppSecret in a body) follows it to another host.
 */
export function refuseRedirect(response: Response, from: string): void {
  if (response.status >= 300 && response.status < 400) {
    throw new WechatApiError('refused', null, `${from} answered a redirect: not followed`)
  }
}

export interface IssuedToken {
  readonly accessToken: string
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
}

/** `cgi-bin/stable_token`: the account's token, the same one until it nears expiry. */
export async function fetchStableToken(
  call: ApiCall,
  appId: string,
  secret: string,
  forceRefresh: boolean,
  now = Date.now(),
): Promise<IssuedToken> {
  const answer = await postJson<{ access_token?: unknown; expires_in?: unknown }>(
    call,
    'cgi-bin/stable_token',
    {
      grant_type: 'client_credential',
      appid: appId,
      secret,
      force_refresh: forceRefresh,
    },
  )
  return issuedToken(answer, now)
}

/**
 * WeChat's access tokens live 7,200 s (getStableAccessToken): no token, whoever hands it in, is
 * held longer. Also a bound on what a token service or the operator can claim.
 */
export const MAX_TOKEN_SECONDS = 7_200

/** What is wrong with `{ access_token, expires_in }`, or null when it is a token as WeChat issues. */
export function tokenProblem(answer: unknown): string | null {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
    return 'expected an object { access_token, expires_in }'
  }
  const { access_token: accessToken, expires_in: expiresIn } = answer as Record<string, unknown>
  if (typeof accessToken !== 'string' || accessToken === '' || accessToken.length > 2048) {
    return 'access_token must be a non-empty string (at most 2,048 characters)'
  }
  if (
    typeof expiresIn !== 'number' ||
    !Number.isInteger(expiresIn) ||
    expiresIn < 1 ||
    expiresIn > MAX_TOKEN_SECONDS
  ) {
    return `expires_in must be whole seconds from 1 to ${MAX_TOKEN_SECONDS}`
  }
  return null
}

/** Reads `{ access_token, expires_in }`, as WeChat and a token service of your own answer. */
export function issuedToken(answer: unknown, now = Date.now()): IssuedToken {
  const problem = tokenProblem(answer)
  if (problem !== null) throw new WechatApiError('busy', null, `the token answer: ${problem}`)
  const { access_token: accessToken, expires_in: expiresIn } = answer as {
    access_token: string
    expires_in: number
  }
  return { accessToken, expiresAt: now + expiresIn * 1000 }
}

/** `cgi-bin/message/custom/send`. */
export async function sendCustomMessage(
  call: ApiCall,
  accessToken: string,
  openid: string,
  message: CustomMessage,
): Promise<void> {
  // The addressee is this call's: nothing in the message can name another.
  await postJson(call, 'cgi-bin/message/custom/send', { ...message, touser: openid }, accessToken)
}

/**
 * Sends a notification to `openid` (notification.ts): bizsend for a subscription, template/send
 * for a template message. Returns WeChat's msgid, read from the answer's text (a 64-bit id, which
 * a JS number would round), or null when WeChat answers none (bizsend never does).
 */
export async function sendNotification(
  call: ApiCall,
  accessToken: string,
  openid: string,
  notification: Notification,
  clientMsgId: string,
): Promise<string | null> {
  const { text } = await requestAnswer(
    call,
    NOTIFICATION_PATHS[notification.channel],
    { body: notificationBody(openid, notification, clientMsgId) },
    accessToken,
  )
  return /"msgid"\s*:\s*"?(\d{1,20})/.exec(text)?.[1] ?? null
}

/** `cgi-bin/message/custom/typing`: shows (or cancels) "typing…" to the user for 15 s. */
export async function sendTyping(
  call: ApiCall,
  accessToken: string,
  openid: string,
  typing: boolean,
): Promise<void> {
  await postJson(
    call,
    'cgi-bin/message/custom/typing',
    { touser: openid, command: typing ? 'Typing' : 'CancelTyping' },
    accessToken,
  )
}

/**
 * A passive reply as a customer-service message, so that a deferred handler can `send` what it
 * would have replied. A news reply becomes a link card of its first article.
 */
export function customMessageOf(reply: Reply | CustomMessage): CustomMessage {
  if ('msgtype' in reply) return reply
  switch (reply.type) {
    case 'text':
      return message.text(reply.content)
    case 'image':
      return message.image(reply.mediaId)
    case 'voice':
      return message.voice(reply.mediaId)
    case 'video':
      return {
        msgtype: 'video',
        video: {
          media_id: reply.mediaId,
          ...(reply.title !== undefined && { title: reply.title }),
          ...(reply.description !== undefined && { description: reply.description }),
        },
      }
    case 'music':
      return {
        msgtype: 'music',
        music: {
          musicurl: reply.musicUrl ?? '',
          thumb_media_id: reply.thumbMediaId,
          ...(reply.hqMusicUrl !== undefined && { hqmusicurl: reply.hqMusicUrl }),
          ...(reply.title !== undefined && { title: reply.title }),
          ...(reply.description !== undefined && { description: reply.description }),
        },
      }
    case 'news': {
      const [first] = reply.articles
      if (!first?.url) throw new TypeError('a news message needs an article with a url')
      return message.link({
        title: first.title,
        url: first.url,
        ...(first.description !== undefined && { description: first.description }),
        ...(first.picUrl !== undefined && { picurl: first.picUrl }),
      })
    }
    case 'transfer_customer_service':
      throw new TypeError('transfer_customer_service is a passive reply only')
    default:
      return reply satisfies never
  }
}
