/**
 * The account's notification templates as code: each template's id, whether it is a
 * subscription notification (订阅通知, `cgi-bin/message/subscribe/bizsend`) or a template message
 * (`cgi-bin/message/template/send`), and its keywords, declared once (as the menu is), so that a
 * `notify` call naming an unknown template or leaving a keyword out does not compile, and a
 * value WeChat would refuse for its keyword's kind is refused before any call. Pure.
 *
 * A keyword's name is its kind and a number, as WeChat names them in a template's content
 * (`{{thing1.DATA}}`, `{{character_string2.DATA}}`); the kinds and their limits are those of the
 * bizsend page ("Body.data"), the same table as the mini program's subscription messages:
 * https://developers.weixin.qq.com/doc/service/api/notify/notify/api_sendnewsubscribemsg.html
 * https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
 *
 * | kind             | WeChat's limit                                                           |
 * | ---------------- | ------------------------------------------------------------------------ |
 * | thing            | 20 characters or fewer: Chinese characters, digits, letters or symbols   |
 * | number           | 32 or fewer digits, a decimal point allowed                              |
 * | letter           | 32 or fewer letters                                                      |
 * | symbol           | 5 or fewer symbols (no Chinese, letters or digits, no control characters) |
 * | character_string | 32 or fewer digits, letters or symbols                                   |
 * | time, date       | a 24-hour time or a date (a range joined by `~`): the format is WeChat's |
 * | amount           | one currency sign, 10 or fewer digits, a decimal part, `元` at the end    |
 * | phone_number     | 17 or fewer digits and symbols                                           |
 * | car_number       | 8 or fewer: letters or digits, the first and last may be Chinese         |
 * | name             | 10 or fewer Chinese characters, or 20 or fewer letters or symbols        |
 * | phrase           | 5 or fewer Chinese characters, nothing else                              |
 *
 * Every value must be non-empty: WeChat answers 47003 ("模板参数不准确，可能为空或者不满足规则").
 * Characters are counted as code points. Formats WeChat states loosely (time, date) are left to
 * WeChat; a template message's keywords that carry no kind in their name (the old `keyword1`,
 * `first`, `remark`) are checked for being non-empty only.
 */

/** The keyword kinds of a subscription notification (and of today's template messages). */
export const KEYWORD_KINDS = [
  'thing',
  'number',
  'letter',
  'symbol',
  'character_string',
  'time',
  'date',
  'amount',
  'phone_number',
  'car_number',
  'name',
  'phrase',
] as const

export type KeywordKind = (typeof KEYWORD_KINDS)[number]

/**
 * How a user's acceptance of a subscription template is spent
 * (https://developers.weixin.qq.com/doc/service/Subscription_Messages/intro.html): `one_time`,
 * "用户订阅一次，认证服务号可不限时间地下发一条对应的订阅通知" (each acceptance allows one
 * notification, whenever it is sent); `long_term`, "用户订阅一次，认证服务号可长期多次下发通知"
 * (one acceptance, many notifications: open to public services only, 政务民生、医疗等).
 */
export type SubscriptionKind = 'one_time' | 'long_term'

/** A subscription notification's template (订阅通知), sent with `bizsend`. */
export interface SubscriptionTemplate {
  readonly type: 'subscription'
  /** The template id the account chose in WeChat's template library. */
  readonly id: string
  /** `one_time` unless the account's category was granted long-term templates. */
  readonly subscription?: SubscriptionKind
  /** WeChat's keyword names, each a kind and a number: `thing1`, `time2`. */
  readonly keywords: readonly string[]
}

/** A template message's template (模板消息), sent with `template/send` to followers. */
export interface MessageTemplate {
  readonly type: 'template'
  readonly id: string
  readonly keywords: readonly string[]
}

export type TemplateDefinition = SubscriptionTemplate | MessageTemplate

/** The account's templates by the name the code calls them. */
export type Templates = Readonly<Record<string, TemplateDefinition>>

/** A keyword's value as a caller gives it: numbers are sent as their decimal text. */
export type KeywordValue = string | number

/** The data a template takes: every keyword it declares, and no other. */
export type TemplateData<D extends TemplateDefinition> = {
  readonly [K in D['keywords'][number]]: KeywordValue
}

/** A template or its data WeChat would refuse: thrown where it is declared, or before a call. */
export class TemplateDefinitionError extends Error {
  override readonly name = 'TemplateDefinitionError'
}

/** Data that WeChat would refuse (47003): named by keyword, never quoting the value. */
export class TemplateDataError extends Error {
  override readonly name = 'TemplateDataError'
}

/** A template id's shape: WeChat's are 43 characters of base64url; 1 to 128 is a wide margin. */
const TEMPLATE_ID = /^[A-Za-z0-9_-]{1,128}$/
/** A keyword's name: a kind (or any word, for an old template message) and a number. */
const KEYWORD_NAME = /^([a-z_]+?)(\d+)$/
const LEGACY_KEYWORD = /^[A-Za-z][A-Za-z0-9_]{0,31}$/

/** Whether a string has the shape of a template id WeChat issues. */
export function isTemplateId(value: string): boolean {
  return TEMPLATE_ID.test(value)
}

/** The kind a keyword's name carries (`thing1` → `thing`), or null when it names none. */
export function keywordKindOf(name: string): KeywordKind | null {
  const match = KEYWORD_NAME.exec(name)
  const kind = match?.[1]
  return kind !== undefined && (KEYWORD_KINDS as readonly string[]).includes(kind)
    ? (kind as KeywordKind)
    : null
}

const HAN = /^\p{Script=Han}$/u
const LETTER = /^[A-Za-z]$/
const DIGIT = /^[0-9]$/
/** A control character (a line break, a tab…): WeChat's symbols exclude them. */
const CONTROL = /\p{Cc}/u

/** What a character is, as WeChat's table sorts them. */
function classOf(char: string): 'han' | 'letter' | 'digit' | 'symbol' {
  if (HAN.test(char)) return 'han'
  if (LETTER.test(char)) return 'letter'
  if (DIGIT.test(char)) return 'digit'
  return 'symbol'
}

/** At most `limit` characters, each of the classes allowed. */
function within(chars: readonly string[], limit: number, allowed: readonly string[]): boolean {
  return chars.length <= limit && chars.every((char) => allowed.includes(classOf(char)))
}

/**
 * Why WeChat would refuse this value for its kind, or null when it would take it. Linear in the
 * value's length.
 *
 * @example
 * valueProblem('thing', '一二三四五六七八九十一二三四五六七八九十一') // 'over 20 characters'
 */
export function valueProblem(kind: KeywordKind | null, value: string): string | null {
  const chars = [...value]
  if (chars.length === 0 || value.trim() === '') return 'empty'
  switch (kind) {
    case null:
    case 'time':
    case 'date':
      return null
    case 'thing':
      return chars.length <= 20 ? null : 'over 20 characters'
    case 'number':
      return chars.length <= 32 && /^\d+(\.\d+)?$/.test(value)
        ? null
        : 'not 32 or fewer digits (a decimal point allowed)'
    case 'letter':
      return within(chars, 32, ['letter']) ? null : 'not 32 or fewer letters'
    case 'symbol':
      return within(chars, 5, ['symbol']) && !CONTROL.test(value) ? null : 'not 5 or fewer symbols'
    case 'character_string':
      return within(chars, 32, ['letter', 'digit', 'symbol']) && !CONTROL.test(value)
        ? null
        : 'not 32 or fewer digits, letters or symbols'
    case 'amount': {
      const body = value.endsWith('元') ? value.slice(0, -1) : value
      const digits = /^[^\d\s.]?(\d{1,10})(\.\d+)?$/.exec(body)
      return digits ? null : 'not a currency sign and 10 or fewer digits'
    }
    case 'phone_number':
      return within(chars, 17, ['digit', 'symbol']) && !CONTROL.test(value)
        ? null
        : 'not 17 or fewer digits and symbols'
    case 'car_number': {
      const inner = chars.slice(1, -1)
      const ends = [chars[0], chars.at(-1)].filter((char) => char !== undefined)
      const fits =
        chars.length <= 8 &&
        within(inner, 8, ['letter', 'digit']) &&
        ends.every((char) => ['han', 'letter', 'digit'].includes(classOf(char)))
      return fits ? null : 'not a plate of 8 or fewer letters and digits'
    }
    case 'name': {
      // "中文和字母混合按中文名算，10个字内".
      const hasHan = chars.some((char) => classOf(char) === 'han')
      if (hasHan) return chars.length <= 10 ? null : 'over 10 characters'
      return within(chars, 20, ['letter', 'symbol']) && !CONTROL.test(value)
        ? null
        : 'not 20 or fewer letters or symbols'
    }
    case 'phrase':
      return within(chars, 5, ['han']) ? null : 'not 5 or fewer Chinese characters'
    default:
      return kind satisfies never
  }
}

/** What is wrong with a template as declared; empty when WeChat would take it. */
export function templateProblems(name: string, template: TemplateDefinition): string[] {
  const problems: string[] = []
  const where = `template ${name}`
  if (template.type !== 'subscription' && template.type !== 'template') {
    problems.push(`${where}: type is subscription or template`)
  }
  if (!isTemplateId(template.id)) problems.push(`${where}: the id is not a WeChat template id`)
  if (
    template.type === 'subscription' &&
    template.subscription !== undefined &&
    template.subscription !== 'one_time' &&
    template.subscription !== 'long_term'
  ) {
    problems.push(`${where}: subscription is one_time or long_term`)
  }
  if (template.keywords.length === 0) problems.push(`${where}: no keywords`)
  const seen = new Set<string>()
  for (const keyword of template.keywords) {
    if (seen.has(keyword)) problems.push(`${where}: the keyword ${keyword} is declared twice`)
    seen.add(keyword)
    const kind = keywordKindOf(keyword)
    if (template.type === 'subscription' && kind === null) {
      problems.push(`${where}: ${keyword} is no kind and number (thing1, time2, phrase3…)`)
    } else if (kind === null && !LEGACY_KEYWORD.test(keyword)) {
      problems.push(`${where}: ${keyword} is not a keyword name`)
    }
  }
  return problems
}

/**
 * Declares the account's templates, checked now (a bad one throws at start-up). Pass them to
 * `Router.withTemplates`, and `notify` takes only these names, with exactly their keywords.
 *
 * @example
 * export const templates = defineTemplates({
 *   shipped: {
 *     type: 'subscription',
 *     id: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc',
 *     keywords: ['thing1', 'character_string2', 'time3'],
 *   },
 * } as const)
 */
export function defineTemplates<const T extends Templates>(templates: T): T {
  const problems = Object.entries(templates).flatMap(([name, template]) =>
    templateProblems(name, template),
  )
  if (problems.length > 0) throw new TemplateDefinitionError(problems.join('; '))
  return templates
}

/** WeChat's data shape: `{ "thing1": { "value": "…" } }`. */
export type WechatData = Readonly<Record<string, { readonly value: string }>>

/** At most this many keywords in one notification: WeChat's templates hold a handful. */
export const MAX_KEYWORDS = 32

/**
 * A template's data, checked keyword by keyword against the names declared (every one, and no
 * other) and their kinds, in WeChat's shape; a {@link TemplateDataError} names the first
 * problem. Undeclared data (an operator's ad-hoc send) is checked by its names' kinds alone.
 *
 * @example
 * wechatDataOf({ thing1: 'Your parcel', time2: '15:01' }, ['thing1', 'time2'])
 * // { thing1: { value: 'Your parcel' }, time2: { value: '15:01' } }
 */
export function wechatDataOf(
  data: Readonly<Record<string, unknown>>,
  declared: readonly string[] | null,
): WechatData {
  const names = Object.keys(data)
  if (names.length === 0) throw new TemplateDataError('data has no keywords')
  if (names.length > MAX_KEYWORDS) {
    throw new TemplateDataError(`data has over ${MAX_KEYWORDS} keywords`)
  }
  if (declared !== null) {
    const missing = declared.find((name) => !Object.hasOwn(data, name))
    if (missing !== undefined) throw new TemplateDataError(`data.${missing} is missing`)
  }
  const out: Record<string, { value: string }> = {}
  for (const name of names) {
    if (declared !== null && !declared.includes(name)) {
      throw new TemplateDataError(`data.${name} is not a keyword of this template`)
    }
    if (declared === null && keywordKindOf(name) === null && !LEGACY_KEYWORD.test(name)) {
      throw new TemplateDataError(`data.${name} is not a keyword name`)
    }
    const given = data[name]
    if (typeof given !== 'string' && !(typeof given === 'number' && Number.isFinite(given))) {
      throw new TemplateDataError(`data.${name} must be a string or a number`)
    }
    const value = String(given)
    const problem = valueProblem(keywordKindOf(name), value)
    if (problem !== null) throw new TemplateDataError(`data.${name} is ${problem}`)
    out[name] = { value }
  }
  return out
}
