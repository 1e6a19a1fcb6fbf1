/**
 * Scan to log in's limits, tokens and the few facts it reads off a request, apart from the
 * objects that enforce them. Pure.
 */

/** A login waits at most this long for its scan and the user's consent (WeChat's code lives as long). */
export const MAX_LOGIN_SECONDS = 600
/** After the user agreed, the website has this long to exchange the code. */
export const CODE_SECONDS = 60
/** Logins each client (an IPv4 address, an IPv6 /64) may start per minute. */
export const LOGINS_PER_CLIENT_PER_MINUTE = 10
/** Logins the account starts per minute in all (WeChat's QR quota and the objects are its own). */
export const LOGINS_PER_MINUTE = 600
/**
 * What strangers' pages may start of {@link LOGINS_PER_MINUTE}, however many addresses they use:
 * the rest is kept for the website's backend (it starts logins with LOGIN_SECRET), so no party
 * without the secret can lock every login out.
 */
export const ANONYMOUS_LOGINS_PER_MINUTE = LOGINS_PER_MINUTE / 2

/** 128 random bits, base64url: a login's id or its code's secret, which nobody can guess. */
export function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
}

/** What {@link randomToken} makes. */
export const LOGIN_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/

/**
 * The network a client is counted by: an IPv4 address whole, an IPv6 address by its /64 (one
 * subscriber gets a /64 or more, so any number of addresses in it are one party). Anything that
 * is not an address is its own, bounded, bucket.
 *
 * @example
 * networkOf('2001:db8:1:2::7') // '2001:db8:1:2::/64'
 */
export function networkOf(address: string): string {
  const text = address.trim().toLowerCase().slice(0, 64)
  const mapped = text.startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text
  if (!mapped.includes(':')) return mapped
  const [head = '', tail, ...more] = mapped.split('::')
  if (more.length > 0) return mapped
  const groups = (part: string | undefined) => (part ? part.split(':') : [])
  const front = groups(head)
  const back = groups(tail)
  const missing = 8 - front.length - back.length
  const zeros = Array.from({ length: Math.max(0, missing) }, () => '0')
  const all = tail === undefined ? front : [...front, ...zeros, ...back]
  const prefix = all.slice(0, 4).map((group) => Number.parseInt(group || '0', 16).toString(16))
  return `${prefix.join(':')}::/64`
}

/** What the website tells the user of who asked to sign in: a browser, a place. */
export interface Requester {
  readonly browser?: string
  readonly place?: string
}

/** At most this many characters of a browser's or a place's name reach the user. */
const REQUESTER_FIELD_CHARS = 40

/**
 * A name fit for the user's WeChat: printable characters only (no line breaks that could make
 * the question look like something else), bounded; undefined when nothing is left.
 */
export function requesterField(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  let clean = ''
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0
    if (code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code < 0xa0)) clean += char
    if (clean.length >= REQUESTER_FIELD_CHARS) break
  }
  clean = clean.trim()
  return clean === '' ? undefined : clean
}

/** A requester from what was told of it, each field cleaned; null when nothing is left. */
export function requesterOf(browser: unknown, place: unknown): Requester | null {
  const told = { browser: requesterField(browser), place: requesterField(place) }
  if (told.browser === undefined && told.place === undefined) return null
  return {
    ...(told.browser !== undefined && { browser: told.browser }),
    ...(told.place !== undefined && { place: told.place }),
  }
}

const BROWSERS: readonly [mark: string, name: string][] = [
  ['MicroMessenger/', 'WeChat'],
  ['Edg/', 'Edge'],
  ['OPR/', 'Opera'],
  ['Firefox/', 'Firefox'],
  ['Chrome/', 'Chrome'],
  ['Safari/', 'Safari'],
]
const SYSTEMS: readonly [mark: string, name: string][] = [
  ['Windows', 'Windows'],
  ['Android', 'Android'],
  ['iPhone', 'iOS'],
  ['iPad', 'iPadOS'],
  ['Mac OS X', 'macOS'],
  ['CrOS', 'ChromeOS'],
  ['Linux', 'Linux'],
]

/**
 * A browser as a user recognises it, read off a User-Agent with plain substring tests (no
 * pattern to backtrack on a hostile header): "Chrome on Windows".
 */
export function browserOf(userAgent: string | null): string | undefined {
  if (!userAgent) return undefined
  const agent = userAgent.slice(0, 512)
  const browser = BROWSERS.find(([mark]) => agent.includes(mark))?.[1]
  const system = SYSTEMS.find(([mark]) => agent.includes(mark))?.[1]
  if (browser && system) return `${browser} on ${system}`
  return browser ?? system
}
