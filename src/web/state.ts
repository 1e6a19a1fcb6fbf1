/**
 * A sign-in's state, bound to the browser that started it: `GET /oauth/start` writes nothing to
 * storage, it sets a cookie of our origin (Secure, HttpOnly, SameSite=Lax, Path=/oauth, for the
 * state's minutes) named after the state and sealed with an HMAC under WEB_SECRET. It carries
 * the website's redirect, the scope, the AppID and the state's end. Only a browser holding the
 * cookie of the state WeChat sends back completes the sign-in: a callback whose state this
 * browser did not start is refused (login CSRF, fixation), and nothing a sibling site could
 * write forges a redirect. An abandoned start costs nothing but the cookie, which expires.
 */

import type { OAuthScope } from '../wechat/oauth.ts'
import { STATE_SECONDS } from './rules.ts'

/** What a started sign-in is, as its cookie carries it. */
export interface Grant {
  readonly state: string
  readonly appId: string
  /** The website's URL to land on, parsed and on an allowed origin when started. */
  readonly redirect: string
  readonly scope: OAuthScope
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
}

const COOKIE_PREFIX = 'wechat_oauth_'
/** Separates the MAC's input from any other use of WEB_SECRET. */
const MAC_LABEL = 'wechat-edge oauth state v1\n'
const encoder = new TextEncoder()

/** The cookie a state's grant rides in. */
export function cookieName(state: string): string {
  return `${COOKIE_PREFIX}${state}`
}

function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
    return Uint8Array.from(binary, (char) => char.charCodeAt(0))
  } catch {
    return null
  }
}

function macKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  )
}

/**
 * The cookie's value: the grant, and its MAC under `secret`.
 *
 * @example
 * const value = await sealGrant(grant, account.secret)
 */
export async function sealGrant(grant: Grant, secret: string): Promise<string> {
  const payload = base64url(encoder.encode(JSON.stringify(grant)))
  const mac = await crypto.subtle.sign(
    'HMAC',
    await macKey(secret),
    encoder.encode(MAC_LABEL + payload),
  )
  return `${payload}.${base64url(new Uint8Array(mac))}`
}

/**
 * The grant a cookie value seals, if its MAC holds under `secret` and it is the grant of
 * `state` for `appId`, not yet expired; null otherwise.
 */
export async function openGrant(
  value: string,
  expected: { readonly state: string; readonly appId: string },
  secret: string,
  now = Date.now(),
): Promise<Grant | null> {
  const dot = value.indexOf('.')
  if (dot === -1) return null
  const payload = value.slice(0, dot)
  const mac = fromBase64url(value.slice(dot + 1))
  if (mac === null) return null
  const holds = await crypto.subtle.verify(
    'HMAC',
    await macKey(secret),
    mac,
    encoder.encode(MAC_LABEL + payload),
  )
  if (!holds) return null
  const bytes = fromBase64url(payload)
  if (bytes === null) return null
  let grant: Grant
  try {
    grant = JSON.parse(new TextDecoder().decode(bytes)) as Grant
  } catch {
    return null
  }
  if (grant.state !== expected.state || grant.appId !== expected.appId) return null
  return now < grant.expiresAt ? grant : null
}

/** The Set-Cookie header that binds a started state to this browser. */
export function stateCookie(state: string, value: string): string {
  return `${cookieName(state)}=${value}; Max-Age=${STATE_SECONDS}; Path=/oauth; Secure; HttpOnly; SameSite=Lax`
}

/**
 * A cookie's value from a Cookie header, read with `indexOf` and `split` only (no pattern to
 * backtrack on a hostile header); null when absent.
 */
export function cookieValue(header: string | null, name: string): string | null {
  if (!header) return null
  for (const part of header.split(';')) {
    const pair = part.trim()
    const equals = pair.indexOf('=')
    if (equals !== -1 && pair.slice(0, equals) === name) return pair.slice(equals + 1)
  }
  return null
}
