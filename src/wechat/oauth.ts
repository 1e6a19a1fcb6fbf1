/**
 * WeChat's web authorization (网页授权): the authorize link a browser is sent to, the code's trade
 * for the user's OpenID, and the user's profile for `snsapi_userinfo`. Pure: the caller supplies
 * the call and the secrets.
 *
 * https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
 * (now also https://developers.weixin.qq.com/doc/service/guide/h5/auth.html):
 * - the link is `https://open.weixin.qq.com/connect/oauth2/authorize?appid=APPID&redirect_uri=
 *   REDIRECT_URI&response_type=code&scope=SCOPE&state=STATE#wechat_redirect`, `redirect_uri`
 *   url-encoded, `#wechat_redirect` required "无论直接打开还是做页面302重定向时候";
 * - `scope` is `snsapi_base` (silent, the OpenID only) or `snsapi_userinfo` (asks the user);
 * - `state` "可以填写a-zA-Z0-9的参数值，最多128字节", and comes back as it went;
 * - agreed, the browser lands on `redirect_uri?code=CODE&state=STATE`; refused, "重定向后不会带上
 *   code参数，仅会带上state参数";
 * - "code作为换取access_token的票据，每次用户授权带上的code将不一样，code只能使用一次，5分钟未被使用
 *   自动过期": a second trade is refused (40163, "code been used"), a bad or stale one 40029.
 *
 * The trade: https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken.html
 * (`unionid` "只有当scope为snsapi_userinfo时返回"; `is_snapshotuser` is 1 for a visitor of a
 * page shown in snapshot mode, whose OpenID is a placeholder). The profile:
 * https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsuserinfo.html.
 */

import { type ApiCall, requestJson, WechatApiError } from './api.ts'
import { isWechatId } from './push.ts'

export const OAUTH_SCOPES = ['snsapi_base', 'snsapi_userinfo'] as const
export type OAuthScope = (typeof OAUTH_SCOPES)[number]

export function isOAuthScope(value: unknown): value is OAuthScope {
  return OAUTH_SCOPES.includes(value as OAuthScope)
}

/** What WeChat takes as a `state`: letters and digits, at most 128 bytes. */
export const STATE_PATTERN = /^[A-Za-z0-9]{1,128}$/

/** The code was used already (a reload of the callback, the back button). */
export const CODE_USED = 40163
/** The code is not one WeChat issued to this AppID, or it is older than 5 minutes. */
export const CODE_INVALID = 40029

/**
 * Where WeChat's authorize page is: open.weixin.qq.com for WeChat's API, or the same path of
 * the API base for a stand-in of it (the fake WeChat API serves the page too).
 *
 * @example
 * authorizeBaseOf('https://api.weixin.qq.com/') // 'https://open.weixin.qq.com/'
 */
export function authorizeBaseOf(apiBase: string): string {
  const base = new URL(apiBase)
  return base.hostname === 'api.weixin.qq.com' ? 'https://open.weixin.qq.com/' : base.toString()
}

/**
 * The link that asks WeChat for a code, its parameters in the page's order, `#wechat_redirect`
 * last.
 *
 * @example
 * authorizeUrl('https://open.weixin.qq.com/', { appId, redirectUri, scope: 'snsapi_base', state })
 */
export function authorizeUrl(
  authorizeBase: string,
  request: {
    readonly appId: string
    readonly redirectUri: string
    readonly scope: OAuthScope
    readonly state: string
  },
): string {
  if (!STATE_PATTERN.test(request.state)) {
    throw new TypeError('a state is 1 to 128 letters and digits')
  }
  const url = new URL('connect/oauth2/authorize', authorizeBase)
  url.search = new URLSearchParams({
    appid: request.appId,
    redirect_uri: request.redirectUri,
    response_type: 'code',
    scope: request.scope,
    state: request.state,
  }).toString()
  url.hash = 'wechat_redirect'
  return url.toString()
}

/** What a trade of the code tells. The user's web access token is not part of it: it is used once, here. */
export interface Authorized {
  readonly openid: string
  readonly scope: OAuthScope
  readonly unionid?: string
  /** A visitor of a page in snapshot mode: the OpenID is a placeholder, no real user. */
  readonly snapshotUser?: true
}

/** The profile `sns/userinfo` gives for `snsapi_userinfo` (WeChat blanks sex and places since 2021). */
export interface WebUserinfo {
  readonly nickname: string
  readonly headimgurl: string
  readonly sex: number
  readonly province: string
  readonly city: string
  readonly country: string
  readonly privilege: readonly string[]
}

const text = (value: unknown, limit = 512): string =>
  typeof value === 'string' ? value.slice(0, limit) : ''

/**
 * `sns/oauth2/access_token`: the code for the user's OpenID and a web access token, which only
 * `use` sees (to read the profile, say) and nobody keeps. A used or bad code is WeChat's 40163
 * or 40029, thrown as a {@link WechatApiError}.
 *
 * @example
 * const user = await tradeCode(api, { appId, secret }, code, (token, who) => readUserinfo(api, token, who.openid))
 */
export async function tradeCode<T>(
  call: ApiCall,
  client: { readonly appId: string; readonly secret: string },
  code: string,
  use: (webToken: string, authorized: Authorized) => Promise<T>,
): Promise<{ readonly authorized: Authorized; readonly used: T }> {
  const answer = await requestJson<Record<string, unknown>>(call, 'sns/oauth2/access_token', {
    query: {
      appid: client.appId,
      secret: client.secret,
      code,
      grant_type: 'authorization_code',
    },
  })
  const { access_token: webToken, openid, scope, unionid, is_snapshotuser: snapshot } = answer
  if (typeof webToken !== 'string' || typeof openid !== 'string' || !isWechatId(openid)) {
    throw new WechatApiError('busy', null, 'the code’s answer lacks an OpenID or a token')
  }
  // WeChat answers the scopes granted, comma-separated; userinfo includes base.
  const granted = typeof scope === 'string' ? scope.split(',') : []
  const authorized: Authorized = {
    openid,
    scope: granted.includes('snsapi_userinfo') ? 'snsapi_userinfo' : 'snsapi_base',
    ...(typeof unionid === 'string' && isWechatId(unionid) && { unionid }),
    ...(snapshot === 1 && { snapshotUser: true as const }),
  }
  return { authorized, used: await use(webToken, authorized) }
}

/** `sns/userinfo` with the user's web access token, for `snsapi_userinfo`. */
export async function readUserinfo(
  call: ApiCall,
  webToken: string,
  openid: string,
): Promise<WebUserinfo> {
  const answer = await requestJson<Record<string, unknown>>(
    call,
    'sns/userinfo',
    { query: { openid, lang: 'zh_CN' } },
    webToken,
  )
  if (answer.openid !== openid) {
    throw new WechatApiError('busy', null, 'the profile is not the authorized user’s')
  }
  const privilege = Array.isArray(answer.privilege) ? answer.privilege : []
  return {
    nickname: text(answer.nickname, 128),
    headimgurl: text(answer.headimgurl, 1024),
    sex: typeof answer.sex === 'number' ? answer.sex : 0,
    province: text(answer.province, 64),
    city: text(answer.city, 64),
    country: text(answer.country, 64),
    privilege: privilege.filter((entry) => typeof entry === 'string').slice(0, 16),
  }
}
