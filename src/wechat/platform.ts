/**
 * WeChat Open Platform's third-party platform (第三方平台), as far as serving Service Accounts
 * that authorize it needs: the authorization events pushed to the platform's own URL, the
 * component API (the platform's token, pre-auth codes, trading an authorization code, the
 * authorizers' tokens), the authorization links, and the full-network release test's cases.
 * Pure: requests are built and answers read here; the caller supplies `fetch` and the base.
 *
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/Before_Develop/component_verify_ticket.html
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/ThirdParty/token/authorize_event.html
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/operation/thirdparty/releases_instructions.html
 */

import { type ApiCall, requestJson, WechatApiError } from './api.ts'
import { MalformedPushError } from './errors.ts'
import { isWechatId } from './push.ts'
import { textOf, type XmlElement } from './xml.ts'

/** What WeChat pushes to the platform's authorization event URL (授权事件接收URL). */
export type PlatformEvent =
  /** Every 10 minutes; a ticket lives 12 hours (component_verify_ticket). */
  | {
      readonly kind: 'component_verify_ticket'
      readonly createTime: number
      readonly ticket: string
    }
  /** An account authorized the platform, or changed what it granted. */
  | {
      readonly kind: 'authorized' | 'updateauthorized'
      readonly createTime: number
      readonly authorizerAppId: string
      readonly authorizationCode: string
      /** Milliseconds; WeChat sends an absolute Unix time, though its page calls it seconds. */
      readonly codeExpiresAt: number | null
      readonly preAuthCode: string | null
    }
  | { readonly kind: 'unauthorized'; readonly createTime: number; readonly authorizerAppId: string }
  /** Any other InfoType (notify_third_fasteregister …): answered `success`, nothing done. */
  | { readonly kind: 'unknown'; readonly createTime: number; readonly infoType: string }

/** Codes and tickets are opaque WeChat strings (`queryauthcode@@@…`), bounded. */
const MAX_CODE_CHARS = 512

function field(xml: XmlElement, tag: string): string {
  const value = textOf(xml, tag)?.trim()
  if (!value) throw new MalformedPushError(`missing ${tag}`)
  if (value.length > MAX_CODE_CHARS) throw new MalformedPushError(`${tag} is too long`)
  return value
}

function seconds(xml: XmlElement, tag: string): number {
  const value = field(xml, tag)
  if (!/^\d{1,12}$/.test(value)) throw new MalformedPushError(`${tag} must be seconds`)
  return Number(value)
}

function appIdOf(xml: XmlElement, tag: string): string {
  const value = field(xml, tag)
  if (!isWechatId(value)) throw new MalformedPushError(`${tag} is not an AppID`)
  return value
}

/**
 * An authorization event, decrypted, and checked to be for this platform (its `AppId`).
 *
 * @example
 * parsePlatformEvent(parseXmlRoot(inner), platform.appId)
 */
export function parsePlatformEvent(xml: XmlElement, platformAppId: string): PlatformEvent {
  if (field(xml, 'AppId') !== platformAppId) {
    throw new MalformedPushError('AppId is another platform’s')
  }
  const createTime = seconds(xml, 'CreateTime')
  const infoType = field(xml, 'InfoType')
  switch (infoType) {
    case 'component_verify_ticket':
      return { kind: infoType, createTime, ticket: field(xml, 'ComponentVerifyTicket') }
    case 'authorized':
    case 'updateauthorized': {
      const expired = textOf(xml, 'AuthorizationCodeExpiredTime')?.trim()
      return {
        kind: infoType,
        createTime,
        authorizerAppId: appIdOf(xml, 'AuthorizerAppid'),
        authorizationCode: field(xml, 'AuthorizationCode'),
        codeExpiresAt: expired && /^\d{1,12}$/.test(expired) ? Number(expired) * 1000 : null,
        preAuthCode: textOf(xml, 'PreAuthCode')?.trim() || null,
      }
    }
    case 'unauthorized':
      return { kind: infoType, createTime, authorizerAppId: appIdOf(xml, 'AuthorizerAppid') }
    default:
      return { kind: 'unknown', createTime, infoType: infoType.slice(0, 64) }
  }
}

/** The platform's own settings, as the component API needs them. */
export interface Component {
  readonly appId: string
  readonly appSecret: string
}

/** A credential WeChat issued, with when it stops being taken (milliseconds). */
export interface Issued {
  readonly token: string
  readonly expiresAt: number
}

function issued(token: unknown, expiresIn: unknown, what: string, now: number): Issued {
  if (
    typeof token !== 'string' ||
    token === '' ||
    typeof expiresIn !== 'number' ||
    !(expiresIn > 0)
  ) {
    throw new WechatApiError('busy', null, `the ${what} answer lacks its token or expires_in`)
  }
  return { token, expiresAt: now + Math.min(expiresIn, 7_200) * 1000 }
}

/** The component API's token goes in its own query parameter, as WeChat's pages spell it. */
const withComponentToken = (token: string) => ({ component_access_token: token })

/** `api_component_token`: the platform's token, with the newest component_verify_ticket. */
export async function fetchComponentToken(
  call: ApiCall,
  component: Component,
  ticket: string,
  now = Date.now(),
): Promise<Issued> {
  const answer = await requestJson<{ component_access_token?: unknown; expires_in?: unknown }>(
    call,
    'cgi-bin/component/api_component_token',
    {
      body: {
        component_appid: component.appId,
        component_appsecret: component.appSecret,
        component_verify_ticket: ticket,
      },
    },
  )
  return issued(answer.component_access_token, answer.expires_in, 'component token', now)
}

/** `api_create_preauthcode`: single use, for one authorization link. */
export async function createPreAuthCode(
  call: ApiCall,
  componentToken: string,
  componentAppId: string,
  now = Date.now(),
): Promise<Issued> {
  const answer = await requestJson<{ pre_auth_code?: unknown; expires_in?: unknown }>(
    call,
    'cgi-bin/component/api_create_preauthcode',
    { body: { component_appid: componentAppId }, query: withComponentToken(componentToken) },
  )
  return issued(answer.pre_auth_code, answer.expires_in, 'pre-auth code', now)
}

/** What an authorizer granted: the permission sets' ids (funcscope_category). */
export interface Authorization {
  readonly authorizerAppId: string
  readonly permissions: readonly number[]
  /** Absent when the account granted no API permission (WeChat's page says so). */
  readonly accessToken: Issued | null
  readonly refreshToken: string | null
}

/** `api_query_auth`: trades an authorization code for the authorizer's grant and tokens. */
export async function queryAuth(
  call: ApiCall,
  componentToken: string,
  componentAppId: string,
  code: string,
  now = Date.now(),
): Promise<Authorization> {
  const answer = await requestJson<{
    authorization_info?: {
      authorizer_appid?: unknown
      authorizer_access_token?: unknown
      expires_in?: unknown
      authorizer_refresh_token?: unknown
      func_info?: unknown
    }
  }>(call, 'cgi-bin/component/api_query_auth', {
    body: { component_appid: componentAppId, authorization_code: code },
    query: withComponentToken(componentToken),
  })
  const info = answer.authorization_info
  const appId = info?.authorizer_appid
  if (typeof appId !== 'string' || !isWechatId(appId)) {
    throw new WechatApiError('busy', null, 'the authorization answer lacks authorizer_appid')
  }
  const permissions = Array.isArray(info?.func_info)
    ? info.func_info.flatMap((entry: { funcscope_category?: { id?: unknown } }) =>
        typeof entry?.funcscope_category?.id === 'number' ? [entry.funcscope_category.id] : [],
      )
    : []
  return {
    authorizerAppId: appId,
    permissions,
    accessToken:
      typeof info?.authorizer_access_token === 'string'
        ? issued(info.authorizer_access_token, info.expires_in, 'authorizer token', now)
        : null,
    refreshToken:
      typeof info?.authorizer_refresh_token === 'string' && info.authorizer_refresh_token !== ''
        ? info.authorizer_refresh_token
        : null,
  }
}

/**
 * `api_authorizer_token`: an authorizer's fresh token, and the refresh token to keep from now
 * on (WeChat may hand back a new one; the old then works five minutes more).
 */
export async function refreshAuthorizerToken(
  call: ApiCall,
  componentToken: string,
  componentAppId: string,
  authorizerAppId: string,
  refreshToken: string,
  now = Date.now(),
): Promise<{ readonly accessToken: Issued; readonly refreshToken: string }> {
  const answer = await requestJson<{
    authorizer_access_token?: unknown
    expires_in?: unknown
    authorizer_refresh_token?: unknown
  }>(call, 'cgi-bin/component/api_authorizer_token', {
    body: {
      component_appid: componentAppId,
      authorizer_appid: authorizerAppId,
      authorizer_refresh_token: refreshToken,
    },
    query: withComponentToken(componentToken),
  })
  return {
    accessToken: issued(answer.authorizer_access_token, answer.expires_in, 'authorizer token', now),
    refreshToken:
      typeof answer.authorizer_refresh_token === 'string' && answer.authorizer_refresh_token !== ''
        ? answer.authorizer_refresh_token
        : refreshToken,
  }
}

/**
 * `api_get_authorizer_info`: the authorizer's original id (`user_name`, gh_…), which its pushes
 * carry as ToUserName: a push at one authorizer's URL that names another is refused.
 *
 * https://developers.weixin.qq.com/doc/oplatform/openApi/authorization-management/api_getauthorizerinfo.html
 */
export async function authorizerUserName(
  call: ApiCall,
  componentToken: string,
  componentAppId: string,
  authorizerAppId: string,
): Promise<string> {
  const answer = await requestJson<{ authorizer_info?: { user_name?: unknown } }>(
    call,
    'cgi-bin/component/api_get_authorizer_info',
    {
      body: { component_appid: componentAppId, authorizer_appid: authorizerAppId },
      query: withComponentToken(componentToken),
    },
  )
  const name = answer.authorizer_info?.user_name
  if (typeof name !== 'string' || !isWechatId(name)) {
    throw new WechatApiError('busy', null, 'the authorizer info lacks user_name')
  }
  return name
}

/**
 * The two authorization links WeChat documents (Authorization_Process_Technical_Description):
 * the desktop page (scanned with the account's administrator's WeChat) and the mobile one
 * (opened in WeChat). `auth_type=1`: Service Accounts only. WeChat redirects back to
 * `redirectUri` with `auth_code` and `expires_in`.
 *
 * @example
 * authorizationLinks('wx…', preAuthCode, 'https://wechat.example.com/platform/authorized')
 */
export function authorizationLinks(
  componentAppId: string,
  preAuthCode: string,
  redirectUri: string,
  hosts: { readonly desktop: string; readonly mobile: string } = WECHAT_AUTHORIZATION_HOSTS,
): { readonly desktop: string; readonly mobile: string } {
  const desktop = new URL('cgi-bin/componentloginpage', hosts.desktop)
  const mobile = new URL('wxaopen/safe/bindcomponent', hosts.mobile)
  mobile.searchParams.set('action', 'bindcomponent')
  mobile.searchParams.set('no_scan', '1')
  for (const url of [desktop, mobile]) {
    url.searchParams.set('component_appid', componentAppId)
    url.searchParams.set('pre_auth_code', preAuthCode)
    url.searchParams.set('redirect_uri', redirectUri)
    url.searchParams.set('auth_type', '1')
  }
  mobile.hash = 'wechat_redirect'
  return { desktop: desktop.toString(), mobile: mobile.toString() }
}

/** Where WeChat's authorization pages are. */
export const WECHAT_AUTHORIZATION_HOSTS = {
  desktop: 'https://mp.weixin.qq.com/',
  mobile: 'https://open.weixin.qq.com/',
} as const

/**
 * The authorization pages' hosts for an API base: WeChat's for WeChat's API, the base itself for
 * a stand-in of it (the fake serves both pages), as the OAuth page's host is found.
 *
 * @example
 * authorizationHostsOf('https://api.weixin.qq.com/') // WECHAT_AUTHORIZATION_HOSTS
 */
export function authorizationHostsOf(apiBase: string): {
  readonly desktop: string
  readonly mobile: string
} {
  const base = new URL(apiBase)
  if (base.hostname === 'api.weixin.qq.com') return WECHAT_AUTHORIZATION_HOSTS
  return { desktop: base.toString(), mobile: base.toString() }
}

/**
 * The full-network release test's Service Accounts (全网发布检测, five groups): WeChat picks
 * one at random, so all five are matched, by AppID (the URL's `$APPID$`) or original id.
 */
export const RELEASE_TEST_ACCOUNTS: readonly { readonly appId: string; readonly user: string }[] = [
  { appId: 'wx570bc396a51b8ff8', user: 'gh_3c884a361561' },
  { appId: 'wx9252c5e0bb1836fc', user: 'gh_c0f28a78b318' },
  { appId: 'wx8e1097c5bc82cde9', user: 'gh_3f222ed8d140' },
  { appId: 'wx14550af28c71a144', user: 'gh_26128078e9ab' },
  { appId: 'wxa35b9c23cfe664eb', user: 'gh_2b3713f184a6' },
]

/** Whether a push is the release test's: to one of its accounts. */
export function isReleaseTestAccount(appId: string, toUserName: string): boolean {
  return RELEASE_TEST_ACCOUNTS.some(
    (account) => account.appId === appId || account.user === toUserName,
  )
}

/** The release test's text that asks for a customer-service answer with the code's trade. */
export const QUERY_AUTH_CODE_PREFIX = 'QUERY_AUTH_CODE:'
/** The release test's text to answer passively. */
export const RELEASE_TEST_TEXT = 'TESTCOMPONENT_MSG_TYPE_TEXT'
