/**
 * The tests' third-party platform (vitest.config.ts's WECHAT_PLATFORM_*): WeChat's side of it,
 * played against the Worker as WeChat does (events to /wechat/platform, pushes to
 * /wechat/platform/<appid>, signed and sealed with the platform's secrets) and against the fake
 * WeChat API (tickets, authorizations).
 */

import { env, exports } from 'cloudflare:workers'
import {
  forgePlatformEventXml,
  openReply,
  type PlatformEventFields,
  signPush,
} from '../../src/debug/forge.ts'
import { ADMIN_HEADERS } from './admin.ts'

export const platform = {
  appId: env.WECHAT_PLATFORM_APPID,
  token: env.WECHAT_PLATFORM_TOKEN,
  encodingAesKey: env.WECHAT_PLATFORM_ENCODING_AES_KEY,
} as const

const BASE = env.WECHAT_API_BASE

async function fakeCall<T>(path: string, body: object): Promise<T> {
  const response = await fetch(new URL(path, BASE), { method: 'POST', body: JSON.stringify(body) })
  if (!response.ok)
    throw new Error(`fake WeChat answered ${response.status}: ${await response.text()}`)
  return response.json()
}

/** A fresh AppID: tests that authorize never meet in the fake, which they share. */
export function newAppId(): string {
  return `wx${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`
}

/** An authorization event to /wechat/platform, as WeChat sends it. */
export async function sendEvent(fields: PlatformEventFields, createTime?: number) {
  const xml = forgePlatformEventXml(platform.appId, fields, createTime)
  const { query, body } = await signPush(xml, platform, 'safe')
  return exports.default.fetch(`https://edge.test/wechat/platform?${query}`, {
    method: 'POST',
    body,
  })
}

/** WeChat issues a new ticket (the fake remembers it) and pushes it. */
export async function pushNewTicket(): Promise<string> {
  const { ticket } = await fakeCall<{ ticket: string }>('fake/platform/ticket', {
    component_appid: platform.appId,
  })
  const response = await sendEvent({ infoType: 'component_verify_ticket', ticket })
  if ((await response.text()) !== 'success') throw new Error('the ticket was not taken')
  return ticket
}

/** `POST /admin/platform/authorize-link`, as the operator calls it. */
export function authorizeLink() {
  return exports.default.fetch('https://edge.test/admin/platform/authorize-link', {
    method: 'POST',
    headers: ADMIN_HEADERS,
  })
}

export interface Granted {
  readonly code: string
  readonly preAuthCode: string
  /** Where WeChat sends the administrator's browser back: /platform/authorized?…&auth_code=… */
  readonly redirect: string
}

/** An account's administrator authorizes the platform through a link the Worker made. */
export async function authorizeAs(appId: string): Promise<Granted> {
  const response = await authorizeLink()
  if (response.status !== 200) throw new Error(`authorize-link answered ${response.status}`)
  const { desktop } = (await response.json()) as { desktop: string }
  const link = new URL(desktop)
  const preAuthCode = link.searchParams.get('pre_auth_code') ?? ''
  const granted = await fakeCall<{ auth_code: string; expires_in: number }>(
    'fake/platform/authorize',
    { component_appid: platform.appId, pre_auth_code: preAuthCode, authorizer_appid: appId },
  )
  const redirect = new URL(link.searchParams.get('redirect_uri') ?? '')
  redirect.searchParams.set('auth_code', granted.auth_code)
  redirect.searchParams.set('expires_in', String(granted.expires_in))
  return { code: granted.auth_code, preAuthCode, redirect: redirect.toString() }
}

/** The `authorized` event WeChat pushes with the code. */
export function sendAuthorized(
  appId: string,
  granted: Granted,
  kind: 'authorized' | 'updateauthorized' = 'authorized',
) {
  return sendEvent({
    infoType: kind,
    authorizerAppId: appId,
    authorizationCode: granted.code,
    preAuthCode: granted.preAuthCode,
    codeExpiredTime: Math.floor(Date.now() / 1000) + 3600,
  })
}

/** WeChat's administrator revokes in WeChat: the fake refuses its tokens from now on. */
export function revokeInFake(appId: string) {
  return fakeCall('fake/platform/unauthorize', {
    component_appid: platform.appId,
    authorizer_appid: appId,
  })
}

/** An authorizer fully set up: a ticket, an authorization, its code traded by the redirect. */
export async function authorizedAccount(appId = newAppId()): Promise<string> {
  await pushNewTicket()
  const granted = await authorizeAs(appId)
  const page = await exports.default.fetch(granted.redirect)
  if (page.status !== 200) throw new Error(`/platform/authorized answered ${page.status}`)
  return appId
}

/** A push to an authorizer's `$APPID$` URL, and its reply read as WeChat reads it. */
export async function sendAs(appId: string, xml: string) {
  const { query, body } = await signPush(xml, platform, 'safe')
  const response = await exports.default.fetch(
    `https://edge.test/wechat/platform/${appId}?${query}`,
    {
      method: 'POST',
      body,
    },
  )
  const text = await response.text()
  if (response.status !== 200) return { status: response.status, reply: text }
  const opened = await openReply(text, platform)
  return { status: 200, reply: opened.plaintext, signatureValid: opened.signatureValid }
}

/** How often the fake traded a code and refreshed a token for one authorizer. */
export async function platformStats(appId: string) {
  const query = `component_appid=${platform.appId}&authorizer_appid=${appId}`
  const response = await fetch(new URL(`fake/platform/stats?${query}`, BASE))
  return (await response.json()) as {
    componentTokens: number
    preAuthCodes: number
    queryAuth: number
    authorizerTokens: number
  }
}

/** The admin API's view of one authorizer. */
export async function authorizerView(appId: string) {
  const response = await exports.default.fetch(
    `https://edge.test/admin/platform/authorizers/${appId}`,
    { headers: ADMIN_HEADERS },
  )
  return response.status === 200 ? ((await response.json()) as Record<string, unknown>) : null
}

/** A push to an authorizer's `$APPID$` URL, as a request (for a test's own bot). */
export async function signedAs(appId: string, xml: string): Promise<Request> {
  const { query, body } = await signPush(xml, platform, 'safe')
  return new Request(`https://edge.test/wechat/platform/${appId}?${query}`, {
    method: 'POST',
    body,
  })
}
