/**
 * The web side's settings (src/web/): WEB_ORIGINS, the website origins allowed to use OAuth and
 * the JS-SDK, and WEB_SECRET, the website backend's bearer. Read once with the rest of the
 * configuration (src/config.ts); pure. Origins are parsed and compared whole, never by prefix:
 * `https://shop.example.com.evil.test` is not `https://shop.example.com`.
 */

/** The web side, on or off; `off` says why, for GET / (never a secret's value). */
export type WebConfig =
  | {
      readonly on: true
      /** Parsed origins (`https://shop.example.com`), compared exactly. */
      readonly origins: readonly string[]
      readonly secret: string
      /** Why web authorization is off while the JS-SDK is on; null when both are. */
      readonly oauthOff: string | null
    }
  | { readonly on: false; readonly why: string }

/** What the web side needs of the account. */
export interface WebAccountSettings {
  readonly appId: string | null
  readonly appSecret: string | null
}

/** What the account's settings are called where they are set (WEB_ORIGINS, or an entry's webOrigins). */
export interface WebSettingNames {
  readonly origins: string
  readonly secret: string
  readonly appId: string
  readonly appSecret: string
}

/**
 * @example
 * webConfig('https://shop.example.com', '…', { appId, appSecret }, warnings, names)
 */
export function webConfig(
  listedOrigins: string | null,
  webSecret: string | null,
  account: WebAccountSettings,
  warnings: string[],
  names: WebSettingNames,
): WebConfig {
  const listed = listedOrigins?.trim() || ''
  const secret = webSecret?.trim() || ''
  if (!listed && !secret) {
    return { on: false, why: `${names.origins} and ${names.secret} are not set` }
  }
  if (!listed || !secret) {
    const missing = listed ? names.secret : names.origins
    warnings.push(`the web side (OAuth, JS-SDK) is off: ${missing} is not set`)
    return { on: false, why: `${missing} is not set` }
  }
  const { origins, refused } = parseOrigins(listed)
  for (const entry of refused) {
    warnings.push(
      `${names.origins}: ignored ${JSON.stringify(entry.slice(0, 80))}: an origin is https://host[:port] (http only on this machine), no path`,
    )
  }
  if (origins.length === 0) return { on: false, why: `${names.origins} lists no usable origin` }
  if (account.appId === null) return { on: false, why: `no ${names.appId}` }
  let oauthOff: string | null = null
  if (account.appSecret === null) {
    oauthOff = `web authorization needs ${names.appSecret} (WeChat trades codes for it only)`
    warnings.push(`the /oauth routes are off: ${oauthOff}`)
  }
  return { on: true, origins, secret, oauthOff }
}

/** The origins listed (comma-separated), and the entries that are not one. */
export function parseOrigins(listed: string): { origins: string[]; refused: string[] } {
  const origins: string[] = []
  const refused: string[] = []
  for (const part of listed.split(',')) {
    const entry = part.trim()
    if (entry === '') continue
    const origin = originOf(entry)
    if (origin === null) refused.push(entry)
    else if (!origins.includes(origin)) origins.push(origin)
  }
  return { origins, refused }
}

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]']

/**
 * An entry of WEB_ORIGINS as an origin, normalized as a browser sends it (lowercase host, no
 * default port): https, or http on this machine only (a ticket in a URL over http would travel
 * in clear); nothing but a scheme, a host and a port.
 */
function originOf(entry: string): string | null {
  let url: URL
  try {
    url = new URL(entry)
  } catch {
    return null
  }
  const secure =
    url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.includes(url.hostname))
  // `https://host/` is an origin too; a path, a query, a fragment or a user is not.
  const bare =
    url.pathname === '/' &&
    !entry.includes('?') &&
    !entry.includes('#') &&
    !url.username &&
    !url.password
  return secure && bare ? url.origin : null
}

/**
 * The origin of `url` if it is one of `origins`, else null: parsed, then compared whole.
 *
 * @example
 * allowedOrigin('https://shop.example.com/welcome?x=1', ['https://shop.example.com']) // 'https://shop.example.com'
 * allowedOrigin('https://shop.example.com.evil.test/', ['https://shop.example.com']) // null
 */
export function allowedOrigin(url: string, origins: readonly string[]): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return null
  }
  if (parsed.username || parsed.password) return null
  return origins.includes(parsed.origin) ? parsed.origin : null
}
