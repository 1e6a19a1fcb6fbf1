/**
 * Passive replies: the seven kinds WeChat accepts inline, their builders, and the XML they
 * render to. Any text is carried safely: characters XML forbids are dropped and a `]]>` is split
 * across two CDATA sections.
 */

export interface Article {
  readonly title: string
  readonly description?: string
  readonly picUrl?: string
  readonly url?: string
}

export type Reply =
  | { readonly type: 'text'; readonly content: string }
  | { readonly type: 'image'; readonly mediaId: string }
  | { readonly type: 'voice'; readonly mediaId: string }
  | {
      readonly type: 'video'
      readonly mediaId: string
      readonly title?: string
      readonly description?: string
    }
  | {
      readonly type: 'music'
      readonly thumbMediaId: string
      readonly title?: string
      readonly description?: string
      readonly musicUrl?: string
      readonly hqMusicUrl?: string
    }
  | { readonly type: 'news'; readonly articles: readonly Article[] }
  | { readonly type: 'transfer_customer_service'; readonly kfAccount?: string }

export type ReplyType = Reply['type']

/** WeChat shows at most eight articles in one news reply. */
export const MAX_NEWS_ARTICLES = 8

/** The body that tells WeChat "no reply", and not to retry (an empty body means the same). */
export const NO_REPLY = 'success'

// XML 1.0 allows tab, LF, CR and U+0020 onward, minus surrogates (paired ones are fine in a JS
// string and encode as one character) and U+FFFE/U+FFFF.
const XML_FORBIDDEN =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters XML 1.0 forbids
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

function nonEmpty(value: string, what: string): string {
  if (value.length === 0) throw new RangeError(`${what} must not be empty`)
  return value
}

/**
 * Builders for every passive reply. A handler returns one of these, or nothing for `success`.
 *
 * @example
 * router.on('subscribe', () => reply.text('Welcome!'))
 */
export const reply = {
  /** A text bubble. Empty content is refused: WeChat shows the user an error for it. */
  text: (content: string): Reply => {
    nonEmpty(content.replace(XML_FORBIDDEN, ''), 'text')
    return { type: 'text', content }
  },
  image: (mediaId: string): Reply => ({ type: 'image', mediaId: nonEmpty(mediaId, 'mediaId') }),
  voice: (mediaId: string): Reply => ({ type: 'voice', mediaId: nonEmpty(mediaId, 'mediaId') }),
  video: (mediaId: string, details: { title?: string; description?: string } = {}): Reply => ({
    type: 'video',
    mediaId: nonEmpty(mediaId, 'mediaId'),
    ...details,
  }),
  music: (
    thumbMediaId: string,
    details: { title?: string; description?: string; musicUrl?: string; hqMusicUrl?: string } = {},
  ): Reply => ({ type: 'music', thumbMediaId: nonEmpty(thumbMediaId, 'thumbMediaId'), ...details }),
  news: (articles: readonly Article[]): Reply => {
    if (articles.length < 1 || articles.length > MAX_NEWS_ARTICLES) {
      throw new RangeError(`news takes 1 to ${MAX_NEWS_ARTICLES} articles`)
    }
    return { type: 'news', articles }
  },
  /** Hands the conversation to the customer service desk, optionally to one agent. */
  transferCustomerService: (kfAccount?: string): Reply =>
    kfAccount === undefined
      ? { type: 'transfer_customer_service' }
      : { type: 'transfer_customer_service', kfAccount },
} as const

/**
 * Wraps text in CDATA so that any string round-trips: forbidden characters are dropped and
 * `]]>` is split across two sections.
 *
 * @example
 * cdata('a]]>b') // '<![CDATA[a]]]]><![CDATA[>b]]>'
 */
export function cdata(text: string): string {
  return `<![CDATA[${text.replace(XML_FORBIDDEN, '').replaceAll(']]>', ']]]]><![CDATA[>')}]]>`
}

export interface ReplyAddress {
  /** The user's OpenID: the push's FromUserName. */
  readonly toUser: string
  /** The account: the push's ToUserName. */
  readonly fromUser: string
  /** Seconds since the epoch. */
  readonly createTime: number
}

/**
 * Renders a reply as the XML WeChat expects.
 *
 * @example
 * renderReply(reply.text('hi'), { toUser: 'oUser', fromUser: 'gh_account', createTime: 1700000000 })
 */
export function renderReply(reply: Reply, address: ReplyAddress): string {
  const head =
    `<ToUserName>${cdata(address.toUser)}</ToUserName>` +
    `<FromUserName>${cdata(address.fromUser)}</FromUserName>` +
    `<CreateTime>${Math.floor(address.createTime)}</CreateTime>`
  return `<xml>${head}${renderBody(reply)}</xml>`
}

function tag(name: string, value: string | undefined): string {
  return value === undefined ? '' : `<${name}>${cdata(value)}</${name}>`
}

function renderBody(reply: Reply): string {
  switch (reply.type) {
    case 'text':
      return `${tag('MsgType', 'text')}${tag('Content', reply.content)}`
    case 'image':
      return `${tag('MsgType', 'image')}<Image>${tag('MediaId', reply.mediaId)}</Image>`
    case 'voice':
      return `${tag('MsgType', 'voice')}<Voice>${tag('MediaId', reply.mediaId)}</Voice>`
    case 'video':
      return (
        `${tag('MsgType', 'video')}<Video>${tag('MediaId', reply.mediaId)}` +
        `${tag('Title', reply.title)}${tag('Description', reply.description)}</Video>`
      )
    case 'music':
      return (
        `${tag('MsgType', 'music')}<Music>${tag('Title', reply.title)}` +
        `${tag('Description', reply.description)}${tag('MusicUrl', reply.musicUrl)}` +
        `${tag('HQMusicUrl', reply.hqMusicUrl)}${tag('ThumbMediaId', reply.thumbMediaId)}</Music>`
      )
    case 'news': {
      const items = reply.articles
        .map(
          (article) =>
            `<item>${tag('Title', article.title)}${tag('Description', article.description)}` +
            `${tag('PicUrl', article.picUrl)}${tag('Url', article.url)}</item>`,
        )
        .join('')
      return `${tag('MsgType', 'news')}<ArticleCount>${reply.articles.length}</ArticleCount><Articles>${items}</Articles>`
    }
    case 'transfer_customer_service':
      return (
        tag('MsgType', 'transfer_customer_service') +
        (reply.kfAccount === undefined
          ? ''
          : `<TransInfo>${tag('KfAccount', reply.kfAccount)}</TransInfo>`)
      )
  }
}

/**
 * Safe mode's reply envelope around an already encrypted reply.
 */
export function renderEncryptedEnvelope(
  encrypted: string,
  msgSignature: string,
  timestamp: string,
  nonce: string,
): string {
  return (
    `<xml><Encrypt>${cdata(encrypted)}</Encrypt><MsgSignature>${cdata(msgSignature)}</MsgSignature>` +
    `<TimeStamp>${timestamp}</TimeStamp><Nonce>${cdata(nonce)}</Nonce></xml>`
  )
}
