/**
 * The console plays the third-party platform's WeChat side (`/debug/api/platform/…`, behind the
 * console's admin token): a new ticket, an account authorizing (through the Worker's own admin
 * link and the fake's consent, then WeChat's redirect), an account revoking, and the
 * full-network release test as WeChat runs it, case by case, with what came back. Events reach
 * `/wechat/platform` signed and sealed with the platform's secrets, as WeChat sends them: the
 * fake pushes them itself (src/debug/fake-platform.ts) through {@link pushPlatformEvent}.
 */

import type { ExecutionContext } from 'hono'
import { Hono } from 'hono/tiny'
import { type PlatformSettings, readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import type { AccountScoped } from '../http/account-scope.ts'
import { platformOf } from '../platform/platform.ts'
import {
  QUERY_AUTH_CODE_PREFIX,
  RELEASE_TEST_ACCOUNTS,
  RELEASE_TEST_TEXT,
} from '../wechat/platform.ts'
import { parseXmlRoot, textOf } from '../wechat/xml.ts'
import type { Dispatch } from './console.ts'
import { forgePushXml, openReply, signPush } from './forge.ts'

/** The platform's secrets as WeChat signs and seals with them. */
function signerOf(platform: PlatformSettings) {
  return {
    token: platform.envelope.token,
    appId: platform.appId,
    encodingAesKey: platform.envelope.aes?.encodingAesKey ?? null,
  }
}

/**
 * Sends an authorization event to this Worker's `/wechat/platform` as WeChat would: for this
 * platform only (another platform's events go to its own URL).
 *
 * @example
 * fakeWechat({ platformPush: (component, xml) => pushPlatformEvent(dispatch, env, origin, component, xml) })
 */
export async function pushPlatformEvent(
  dispatch: Dispatch,
  env: Env,
  origin: string,
  componentAppId: string,
  xml: string,
): Promise<void> {
  const platform = readConfig(env).platform
  if (!platform || platform.appId !== componentAppId) return
  const { query, body } = await signPush(xml, signerOf(platform), 'safe')
  const url = new URL(`/wechat/platform?${query}`, origin)
  await dispatch(new Request(url, { method: 'POST', body }))
}

/** A control route of the fake WeChat API the platform's base points at, or null for WeChat's. */
function fakeUrl(platform: PlatformSettings, path: string): URL | null {
  const base = new URL(platform.apiBase)
  if (base.hostname === 'qq.com' || base.hostname.endsWith('.qq.com')) return null
  return new URL(path, base)
}

interface Step {
  readonly case: string
  readonly expected: string
  readonly got: string
  readonly pass: boolean
}

/**
 * @example
 * consoleApp.route('/api/platform', platformConsole(dispatchFor))
 */
export function platformConsole(dispatchFor: (env: Env, ctx: ExecutionContext) => Dispatch) {
  const app = new Hono<AccountScoped & { Variables: { platform: PlatformSettings } }>()

  app.use('*', async (c, next) => {
    const platform = readConfig(c.env).platform
    if (!platform) return c.text('the third-party platform is off: set WECHAT_PLATFORM_*', 404)
    c.set('platform', platform)
    await next()
  })

  /** Calls the fake WeChat API's control route, with the console's own admin token. */
  const fake = async (
    platform: PlatformSettings,
    path: string,
    body: Record<string, unknown>,
    authorization: string,
  ) => {
    const url = fakeUrl(platform, path)
    if (!url)
      throw new Error('WeChat’s own API plays no platform: point WECHAT_API_BASE at the fake')
    const response = await fetch(url, {
      method: 'POST',
      headers: { Authorization: authorization, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (!response.ok) throw new Error(`the fake WeChat API said: ${await response.text()}`)
    return (await response.json()) as Record<string, unknown>
  }

  /** An account authorizes: the Worker's own link, the fake's consent, WeChat's redirect. */
  const authorize = async (
    dispatch: Dispatch,
    platform: PlatformSettings,
    origin: string,
    authorization: string,
    authorizerAppId: string,
  ) => {
    const linkResponse = await dispatch(
      new Request(new URL('/admin/platform/authorize-link', origin), {
        method: 'POST',
        headers: { Authorization: authorization },
      }),
    )
    if (!linkResponse.ok) throw new Error(`authorize-link: ${await linkResponse.text()}`)
    const { desktop } = (await linkResponse.json()) as { desktop: string }
    const link = new URL(desktop)
    const granted = await fake(
      platform,
      'fake/platform/authorize',
      {
        component_appid: platform.appId,
        pre_auth_code: link.searchParams.get('pre_auth_code'),
        authorizer_appid: authorizerAppId,
      },
      authorization,
    )
    const back = new URL(link.searchParams.get('redirect_uri') ?? '', origin)
    back.searchParams.set('auth_code', String(granted.auth_code))
    back.searchParams.set('expires_in', String(granted.expires_in))
    const page = await dispatch(new Request(back))
    return { code: String(granted.auth_code), page: page.status }
  }

  /** A push as an authorizer, to its `$APPID$` URL, and its reply opened as WeChat reads it. */
  const sendAs = async (
    dispatch: Dispatch,
    platform: PlatformSettings,
    origin: string,
    appId: string,
    xml: string,
  ) => {
    const signer = signerOf(platform)
    const { query, body } = await signPush(xml, signer, 'safe')
    const response = await dispatch(
      new Request(new URL(`/wechat/platform/${appId}?${query}`, origin), { method: 'POST', body }),
    )
    const answer = await response.text()
    if (response.status !== 200) return `HTTP ${response.status}`
    const { plaintext } = await openReply(answer, signer)
    if (!plaintext.startsWith('<')) return plaintext
    return textOf(parseXmlRoot(plaintext), 'Content') ?? plaintext
  }

  app.get('/', async (c) => {
    const object = platformOf(c.env, c.var.platform)
    const [status, authorizers] = await Promise.all([object.status(), object.authorizers()])
    return c.json({ appId: c.var.platform.appId, ...status, authorizers })
  })

  app.post('/ticket', async (c) => {
    const authorization = c.req.header('Authorization') ?? ''
    await fake(
      c.var.platform,
      'fake/platform/ticket',
      { component_appid: c.var.platform.appId },
      authorization,
    )
    return c.json(await platformOf(c.env, c.var.platform).status())
  })

  app.post('/authorize', async (c) => {
    const { appid } = (await c.req.json().catch(() => ({}))) as { appid?: unknown }
    if (typeof appid !== 'string' || !/^wx[0-9a-f]{16}$/.test(appid)) {
      return c.text('an AppID is wx and 16 hex digits', 400)
    }
    const dispatch = dispatchFor(c.env, c.executionCtx)
    const origin = new URL(c.req.url).origin
    const done = await authorize(
      dispatch,
      c.var.platform,
      origin,
      c.req.header('Authorization') ?? '',
      appid,
    )
    return c.json({
      page: done.page,
      authorizer: await platformOf(c.env, c.var.platform).authorizer(appid),
    })
  })

  app.post('/unauthorize', async (c) => {
    const { appid } = (await c.req.json().catch(() => ({}))) as { appid?: unknown }
    if (typeof appid !== 'string') return c.text('appid', 400)
    await fake(
      c.var.platform,
      'fake/platform/unauthorize',
      { component_appid: c.var.platform.appId, authorizer_appid: appid },
      c.req.header('Authorization') ?? '',
    )
    return c.json({ authorizer: await platformOf(c.env, c.var.platform).authorizer(appid) })
  })

  /**
   * The full-network release test, as WeChat runs it against one of its five groups (`group`,
   * 0 to 4; WeChat picks one at random): the account authorizes, then an event, the text, and
   * the QUERY_AUTH_CODE text whose answer comes as a customer-service message.
   */
  app.post('/release-test', async (c) => {
    const { group } = (await c.req.json().catch(() => ({}))) as { group?: unknown }
    const index =
      typeof group === 'number' ? group : Math.floor(Math.random() * RELEASE_TEST_ACCOUNTS.length)
    const account = RELEASE_TEST_ACCOUNTS[index]
    if (!account) return c.text('group is 0 to 4', 400)
    const { platform } = c.var
    const dispatch = dispatchFor(c.env, c.executionCtx)
    const origin = new URL(c.req.url).origin
    const authorization = c.req.header('Authorization') ?? ''
    const openid = `ozy4qt${crypto.randomUUID().replaceAll('-', '').slice(0, 22)}`
    const steps: Step[] = []
    const step = (name: string, expected: string, got: string) =>
      steps.push({ case: name, expected, got, pass: got === expected })

    await fake(platform, 'fake/platform/ticket', { component_appid: platform.appId }, authorization)
    await authorize(dispatch, platform, origin, authorization, account.appId)
    const fields = { openid, account: account.user }
    const interact = (xml: string) =>
      fetch(fakeUrl(platform, 'fake/interact') ?? '', {
        method: 'POST',
        headers: { Authorization: authorization },
        body: xml,
      })

    const eventXml = forgePushXml('location_report', fields)
    step(
      'event',
      'LOCATIONfrom_callback',
      await sendAs(dispatch, platform, origin, account.appId, eventXml),
    )

    const textXml = forgePushXml('text', { ...fields, content: RELEASE_TEST_TEXT })
    await interact(textXml)
    step(
      'text',
      `${RELEASE_TEST_TEXT}_callback`,
      await sendAs(dispatch, platform, origin, account.appId, textXml),
    )

    // WeChat's test makes the account authorize again and sends the new code in the text.
    const { code } = await authorize(dispatch, platform, origin, authorization, account.appId)
    const apiXml = forgePushXml('text', { ...fields, content: `${QUERY_AUTH_CODE_PREFIX}${code}` })
    await interact(apiXml)
    step(
      'api: answered at once',
      '',
      await sendAs(dispatch, platform, origin, account.appId, apiXml),
    )
    let sent = ''
    for (let attempt = 0; attempt < 50 && sent === ''; attempt++) {
      const url = fakeUrl(platform, `fake/sent?touser=${openid}`)
      const response = url ? await fetch(url, { headers: { Authorization: authorization } }) : null
      const list = response?.ok
        ? ((await response.json()) as { body: { text?: { content?: string } } }[])
        : []
      sent = list.at(-1)?.body.text?.content ?? ''
      if (sent === '') await new Promise((resolve) => setTimeout(resolve, 100))
    }
    step('api: customer-service message', `${code}_from_api`, sent)
    return c.json({ group: index, appId: account.appId, pass: steps.every((s) => s.pass), steps })
  })

  return app
}
