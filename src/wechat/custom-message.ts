/**
 * A customer-service message as an operator posts it (`POST /admin/users/:openid/messages`),
 * checked field by field and rebuilt from an allow-list per `msgtype`, so that nothing but a
 * message reaches WeChat: no `touser` (the URL names the user), no `customservice` (which would
 * send as another agent), no value that is not a string. Pure.
 */

import { CUSTOM_MESSAGE_TYPES, type CustomMessage } from './api.ts'

type Fields = { readonly required: readonly string[]; readonly optional?: readonly string[] }

/** Each type's own object, field by field, as the customer-service page lists them. */
const FIELDS: { readonly [K in CustomMessage['msgtype']]: Fields | 'special' } = {
  text: { required: ['content'] },
  image: { required: ['media_id'] },
  voice: { required: ['media_id'] },
  video: { required: ['media_id'], optional: ['thumb_media_id', 'title', 'description'] },
  music: {
    required: ['musicurl', 'thumb_media_id'],
    optional: ['title', 'description', 'hqmusicurl'],
  },
  news: 'special',
  mpnews: { required: ['media_id'] },
  mpnewsarticle: { required: ['article_id'] },
  msgmenu: 'special',
  miniprogrampage: { required: ['title', 'appid', 'pagepath', 'thumb_media_id'] },
}

const ARTICLE: Fields = { required: ['title', 'url'], optional: ['description', 'picurl'] }
const MENU_ITEM: Fields = { required: ['id', 'content'] }

/** What was wrong with the input, naming the field: the admin API's 400. */
export class MessageFieldError extends Error {
  override readonly name = 'MessageFieldError'
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MessageFieldError(`${where} must be an object`)
  }
  return value as Record<string, unknown>
}

/** The object's string fields, required and optional ones only. */
function strings(value: unknown, fields: Fields, where: string): Record<string, string> {
  const input = record(value, where)
  const allowed = [...fields.required, ...(fields.optional ?? [])]
  const unknown = Object.keys(input).find((name) => !allowed.includes(name))
  if (unknown !== undefined) throw new MessageFieldError(`${where}.${unknown} is not allowed`)
  const out: Record<string, string> = {}
  for (const name of allowed) {
    const field = input[name]
    if (field === undefined && !fields.required.includes(name)) continue
    if (typeof field !== 'string' || field === '') {
      throw new MessageFieldError(`${where}.${name} must be a non-empty string`)
    }
    out[name] = field
  }
  return out
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new MessageFieldError(`${where} must be an array`)
  return value
}

/**
 * @example
 * customMessageFrom({ msgtype: 'text', text: { content: 'Hi' } }) // the message, rebuilt
 * customMessageFrom({ msgtype: 'text', touser: 'o…', text: { content: 'Hi' } }) // throws: touser
 */
export function customMessageFrom(input: unknown): CustomMessage {
  const top = record(input, 'the message')
  const type = CUSTOM_MESSAGE_TYPES.find((known) => known === top.msgtype)
  if (!type) {
    throw new MessageFieldError(`msgtype must be one of ${CUSTOM_MESSAGE_TYPES.join(', ')}`)
  }
  const extra = Object.keys(top).find((name) => name !== 'msgtype' && name !== type)
  if (extra === 'touser')
    throw new MessageFieldError('touser is not allowed: the URL names the user')
  if (extra !== undefined) throw new MessageFieldError(`${extra} is not allowed`)
  const fields = FIELDS[type]
  if (fields !== 'special') {
    return { msgtype: type, [type]: strings(top[type], fields, type) } as CustomMessage
  }
  const body = record(top[type], type)
  if (type === 'news') {
    const articles = list(body.articles, 'news.articles')
    if (Object.keys(body).some((name) => name !== 'articles')) {
      throw new MessageFieldError('news takes articles only')
    }
    // WeChat's customer-service news carries one article (45008 otherwise).
    if (articles.length !== 1) throw new MessageFieldError('news.articles must hold one article')
    const article = strings(articles[0], ARTICLE, 'news.articles[0]')
    return { msgtype: 'news', news: { articles: [article] } } as unknown as CustomMessage
  }
  const { list: items, ...texts } = body
  const menu = strings(texts, { required: ['head_content', 'tail_content'] }, 'msgmenu')
  const entries = list(items, 'msgmenu.list').map((item, index) =>
    strings(item, MENU_ITEM, `msgmenu.list[${index}]`),
  )
  return { msgtype: 'msgmenu', msgmenu: { ...menu, list: entries } } as unknown as CustomMessage
}
