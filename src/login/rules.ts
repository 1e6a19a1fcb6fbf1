/**
 * Scan to log in's limits and tokens, apart from the objects that enforce them. Pure.
 */

/** A login waits at most this long for its scan (WeChat's code lives as long). */
export const MAX_LOGIN_SECONDS = 600
/** After the scan, the website has this long to exchange the code. */
export const CODE_SECONDS = 60
/** Logins each client may start per minute, and the account in all. */
export const LOGINS_PER_CLIENT_PER_MINUTE = 10
export const LOGINS_PER_MINUTE = 600

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
