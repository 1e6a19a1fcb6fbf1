/**
 * The web side's lifetimes, bounds and random values, apart from the routes and objects that
 * apply them. Pure.
 */

/**
 * How long a sign-in's state (and its cookie) waits for WeChat's callback: the user reads the
 * consent page, then WeChat's code lives 5 minutes ("5分钟未被使用自动过期").
 */
export const STATE_SECONDS = 600

/** After the callback, the website's backend has this long to trade the ticket, once. */
export const TICKET_SECONDS = 120

/** A website URL we redirect to or sign for is at most this long (a cookie carries it). */
export const MAX_URL_CHARS = 2048

/**
 * 128 random bits as 32 lowercase hexadecimal characters: a state (WeChat takes a-zA-Z0-9
 * only), a ticket's secret, a browser's binding.
 */
export function randomHex(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) =>
    byte.toString(16).padStart(2, '0'),
  ).join('')
}

/** What {@link randomHex} makes. */
export const HEX_ID = /^[0-9a-f]{32}$/

/**
 * The website's URL with our parameters set (a ticket, `error=denied`), replacing any of the
 * same name it carried; its own query and fragment kept.
 *
 * @example
 * withQuery('https://shop.example.com/in?next=%2Fcart#top', { ticket }) // 'https://shop.example.com/in?next=%2Fcart&ticket=…#top'
 */
export function withQuery(url: string, params: Readonly<Record<string, string>>): string {
  const target = new URL(url)
  for (const [name, value] of Object.entries(params)) target.searchParams.set(name, value)
  return target.toString()
}
