/**
 * The third-party platform's HTTP surface beside its two push URLs (src/http/app.ts): the page
 * WeChat redirects an administrator to after authorizing (`/platform/authorized`), and the
 * admin API under ADMIN_TOKEN (`/admin/platform/…`): authorization links, the authorizers, a
 * revoke. All of it is 404 without the platform's four settings. An authorizer's own users,
 * sends, dead letters, QR codes and menu are under `/admin/accounts/<appid>/…`, as a configured
 * account's are.
 *
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/operation/thirdparty/Authorization_Process_Technical_Description.html
 */

import type { MiddlewareHandler } from 'hono'
import { Hono } from 'hono/tiny'
import { isAppId } from '../accounts/served.ts'
import { type PlatformSettings, readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { refusalAnswer } from '../http/api-failure.ts'
import { carriesBearer } from '../http/bearer.ts'
import { logProblem } from '../log.ts'
import { tokenHolderName, withAccessToken } from '../talk/talk.ts'
import { selfOrigin } from '../web/link.ts'
import { authorizationPage, clearPage } from '../web/pages.ts'
import { WechatApiError } from '../wechat/api.ts'
import { authorizationHostsOf, authorizationLinks, createPreAuthCode } from '../wechat/platform.ts'
import { platformOf } from './platform.ts'
import { openFor, sealFor } from './seal.ts'

type PlatformEnv = { Bindings: Env; Variables: { platform: PlatformSettings } }

/** The page's `link`: a link made here, sealed with its expiry, so that a stranger's code is never traded. */
const LINK_PURPOSE = 'authorization link'
/** WeChat redirects right after the authorization; a link is taken this long after its code's life. */
const LINK_GRACE_MS = 10 * 60 * 1000
/** WeChat's codes are opaque strings (`queryauthcode@@@…`), bounded. */
const AUTH_CODE = /^[\w@.=+/-]{1,512}$/

const PAGE_TITLE = 'Authorization'
/** The authorization page's links, sealed into its own URL: nothing is stored for it. */
const PAGE_PURPOSE = 'authorization page'

export const platformRoutes = new Hono<PlatformEnv>()

const platformOn: MiddlewareHandler<PlatformEnv> = async (c, next) => {
  const platform = readConfig(c.env).platform
  if (!platform) return c.text('not found', 404)
  c.set('platform', platform)
  await next()
}

/** ADMIN_TOKEN alone: the platform is the deployment's, not one account's. */
const operator: MiddlewareHandler<PlatformEnv> = async (c, next) => {
  const { adminToken } = readConfig(c.env)
  if (adminToken === null) return c.text('not found', 404)
  if (!(await carriesBearer(c.req.header('Authorization'), adminToken))) {
    return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
  }
  await next()
}

platformRoutes.use('/platform/*', platformOn)
platformRoutes.use('/admin/platform/*', platformOn, operator)

/**
 * The page an account's administrator opens to authorize: the two links, from this Worker's
 * domain (WeChat refuses a browser that did not come from the 授权发起页域名, so the page
 * sends its origin as the Referer, and nothing more).
 */
platformRoutes.get('/platform/authorize', async (c) => {
  const sealed = c.req.query('links')
  const opened = sealed ? await openFor(c.var.platform.appSecret, PAGE_PURPOSE, sealed) : null
  const links = opened
    ? (JSON.parse(opened) as { desktop: string; mobile: string; expiresAt: number })
    : null
  if (!links || links.expiresAt <= Date.now()) {
    return clearPage(
      400,
      'This authorization page has expired: ask for a new one.',
      null,
      PAGE_TITLE,
    )
  }
  return authorizationPage(links.desktop, links.mobile)
})

/**
 * Where WeChat sends the administrator back: `auth_code` traded once (a reload shows the same
 * authorizer, traded no second time), and only from a link this platform made.
 */
platformRoutes.get('/platform/authorized', async (c) => {
  const platform = c.var.platform
  const link = c.req.query('link')
  const opened = link ? await openFor(platform.appSecret, LINK_PURPOSE, link) : null
  const [expires, nonce] = opened?.split('.') ?? []
  const linkExpiresAt = Number(expires)
  if (!nonce || !(linkExpiresAt > Date.now())) {
    return clearPage(
      400,
      'This page opens from an authorization link of this platform, for a while: make a new link and authorize again.',
      null,
      PAGE_TITLE,
    )
  }
  const code = c.req.query('auth_code') ?? ''
  if (!AUTH_CODE.test(code)) {
    return clearPage(400, 'WeChat sent no authorization code: authorize again.', null, PAGE_TITLE)
  }
  const traded = await platformOf(c.env, platform).trade(code, {
    via: 'link',
    link: nonce,
    linkExpiresAt,
  })
  if (traded.ok) {
    const { appId, permissions } = traded.authorizer
    return clearPage(
      200,
      `The account ${appId} authorized this platform (${permissions.length} permission sets). You can close this page.`,
      null,
      PAGE_TITLE,
    )
  }
  logProblem('platform_trade_failed', { failure: traded.failure, code: traded.code })
  const { status } = refusalAnswer(new WechatApiError(traded.failure, traded.code, ''))
  return status === 503
    ? clearPage(
        503,
        'WeChat could not be reached just now. Reload this page to try again.',
        null,
        PAGE_TITLE,
      )
    : clearPage(
        400,
        'WeChat no longer takes this authorization code (it is used or expired): if the authorization went through, the platform receives it from WeChat too.',
        null,
        PAGE_TITLE,
      )
})

/** A pre-auth code and the two links WeChat documents, desktop and mobile, back to this Worker. */
platformRoutes.post('/admin/platform/authorize-link', async (c) => {
  const platform = c.var.platform
  const api = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
    base: platform.apiBase,
  }
  let preAuth: Awaited<ReturnType<typeof createPreAuthCode>>
  try {
    preAuth = await withAccessToken(c.env, tokenHolderName('platform', platform.appId), (token) =>
      createPreAuthCode(api, token, platform.appId),
    )
  } catch (error) {
    if (!(error instanceof WechatApiError)) throw error
    logProblem('platform_link_failed', { failure: error.failure, code: error.code })
    const { status, body } = refusalAnswer(error)
    return c.json({ ...body, message: error.message }, status)
  }
  // The link's own id and expiry, sealed: the page takes a few codes back through it, no more.
  const nonce = crypto.randomUUID().replaceAll('-', '')
  const sealed = await sealFor(
    platform.appSecret,
    LINK_PURPOSE,
    `${preAuth.expiresAt + LINK_GRACE_MS}.${nonce}`,
  )

  const redirect = new URL('/platform/authorized', selfOrigin(c.req.url))
  redirect.searchParams.set('link', sealed)
  const links = authorizationLinks(
    platform.appId,
    preAuth.token,
    redirect.toString(),
    authorizationHostsOf(platform.apiBase),
  )
  // WeChat opens its page only for a browser that comes from the platform's 授权发起页域名:
  // this Worker's own page, which links to both.
  const sealedPage = await sealFor(
    platform.appSecret,
    PAGE_PURPOSE,
    JSON.stringify({ ...links, expiresAt: preAuth.expiresAt }),
  )
  const page = new URL('/platform/authorize', selfOrigin(c.req.url))
  page.searchParams.set('links', sealedPage)
  return c.json({ page: page.toString(), ...links, expiresAt: preAuth.expiresAt }, 200, {
    'Cache-Control': 'no-store',
  })
})

platformRoutes.get('/admin/platform/authorizers', async (c) => {
  const object = platformOf(c.env, c.var.platform)
  return c.json({ authorizers: await object.authorizers(), ...(await object.status()) })
})

const validAppId: MiddlewareHandler<PlatformEnv> = async (c, next) => {
  if (!isAppId(c.req.param('appid') ?? '')) return c.text('malformed appid', 400)
  await next()
}

platformRoutes.get('/admin/platform/authorizers/:appid', validAppId, async (c) => {
  const view = await platformOf(c.env, c.var.platform).authorizer(c.req.param('appid'))
  return view ? c.json(view) : c.text('not found', 404)
})

/**
 * Drops an authorizer here (WeChat has no call for it: the account's administrator revokes in
 * WeChat, which pushes `unauthorized`): its tokens at once, its users' state in batches.
 */
platformRoutes.delete('/admin/platform/authorizers/:appid', validAppId, async (c) => {
  const object = platformOf(c.env, c.var.platform)
  const appId = c.req.param('appid')
  if (!(await object.drop(appId))) return c.text('not found', 404)
  return c.json(await object.authorizer(appId))
})
