/**
 * The third-party platform's authorization side: its events at /wechat/platform (the ticket
 * kept, newest first, retries deduped), the platform's token from the newest ticket, the
 * authorization links, and each authorization code traded once whichever of the redirect and
 * the `authorized` event brings it first.
 */

import { runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePlatformEventXml, signPush } from '../../src/debug/forge.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import {
  authorizeAs,
  authorizedAccount,
  authorizeLink,
  authorizerView,
  newAppId,
  platform,
  platformStats,
  pushNewTicket,
  sendAuthorized,
  sendEvent,
} from '../helpers/platform.ts'
import { fetchWith } from '../helpers/worker.ts'

const PLATFORM_OFF = {
  WECHAT_PLATFORM_APPID: '',
  WECHAT_PLATFORM_APPSECRET: '',
  WECHAT_PLATFORM_TOKEN: '',
  WECHAT_PLATFORM_ENCODING_AES_KEY: '',
}

describe('without the platform’s settings', () => {
  it('answers 404 on every platform route', async () => {
    const paths: [string, string][] = [
      ['POST', '/wechat/platform'],
      ['POST', `/wechat/platform/${newAppId()}?signature=x&timestamp=1&nonce=1`],
      ['GET', '/platform/authorized?auth_code=x'],
      ['GET', '/admin/platform/authorizers'],
      ['POST', '/admin/platform/authorize-link'],
    ]
    for (const [method, path] of paths) {
      const request = new Request(`https://edge.test${path}`, { method, headers: ADMIN_HEADERS })
      expect((await fetchWith(request, PLATFORM_OFF)).status, path).toBe(404)
    }
  })

  it('names the settings missing when only some are set, and shows none of their values', async () => {
    const request = new Request('https://edge.test/', { headers: ADMIN_HEADERS })
    const response = await fetchWith(request, {
      ...PLATFORM_OFF,
      WECHAT_PLATFORM_APPID: platform.appId,
    })
    const health = (await response.json()) as { problems: string[] }
    expect(health.problems.join('\n')).toContain('WECHAT_PLATFORM_APPSECRET')
    expect(JSON.stringify(health)).not.toContain(platform.appId)
  })
})

describe('authorization events at /wechat/platform', () => {
  it('answers exactly `success`, unencrypted, and refuses a plaintext or foreign-signed event', async () => {
    const ticket = await pushNewTicket()
    expect(ticket).toMatch(/^ticket@@@/)
    const xml = forgePlatformEventXml(platform.appId, {
      infoType: 'component_verify_ticket',
      ticket,
    })
    const plaintext = await signPush(xml, platform, 'plaintext')
    const refused = await exports.default.fetch(
      `https://edge.test/wechat/platform?${plaintext.query}`,
      {
        method: 'POST',
        body: plaintext.body,
      },
    )
    expect(refused.status).toBe(401)
    const foreign = await signPush(xml, { ...platform, token: 'another-platforms-token' }, 'safe')
    const forged = await exports.default.fetch(
      `https://edge.test/wechat/platform?${foreign.query}`,
      {
        method: 'POST',
        body: foreign.body,
      },
    )
    expect(forged.status).toBe(401)
  })

  it('refuses an event sealed for another platform’s AppId', async () => {
    const xml = forgePlatformEventXml('wx0000000000000bad', {
      infoType: 'component_verify_ticket',
      ticket: 'ticket@@@other',
    })
    const { query, body } = await signPush(xml, platform, 'safe')
    const response = await exports.default.fetch(`https://edge.test/wechat/platform?${query}`, {
      method: 'POST',
      body,
    })
    expect(response.status).toBe(400)
  })

  it('keeps the newest ticket durably: an older one arriving late does not replace it', async () => {
    const now = Math.floor(Date.now() / 1000)
    const newest = await pushNewTicket()
    // One the fake never issued, stamped earlier: were it kept, the next token would fail 61006.
    const late = await sendEvent(
      { infoType: 'component_verify_ticket', ticket: 'ticket@@@stale' },
      now - 600,
    )
    expect(await late.text()).toBe('success')
    const stub = env.PLATFORM.getByName(platform.appId)
    const kept = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ ticket: string }>('SELECT ticket FROM ticket').one(),
    )
    expect(kept.ticket).toBe(newest)
    expect((await authorizeLink()).status).toBe(200)
  })

  it('takes a retried event once', async () => {
    const appId = newAppId()
    await pushNewTicket()
    const granted = await authorizeAs(appId)
    const createTime = Math.floor(Date.now() / 1000)
    const fields = {
      infoType: 'authorized' as const,
      authorizerAppId: appId,
      authorizationCode: granted.code,
      preAuthCode: granted.preAuthCode,
      codeExpiredTime: createTime + 3600,
    }
    for (let attempt = 0; attempt < 4; attempt++) {
      expect(await (await sendEvent(fields, createTime)).text()).toBe('success')
    }
    expect((await platformStats(appId)).queryAuth).toBe(1)
  })

  it('answers `success` to an InfoType it does not know, doing nothing', async () => {
    const xml = `<xml><AppId><![CDATA[${platform.appId}]]></AppId><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><InfoType><![CDATA[notify_third_fasteregister]]></InfoType></xml>`
    const { query, body } = await signPush(xml, platform, 'safe')
    const response = await exports.default.fetch(`https://edge.test/wechat/platform?${query}`, {
      method: 'POST',
      body,
    })
    expect(await response.text()).toBe('success')
  })
})

describe('the platform’s token', () => {
  it('is fetched once for many calls, and held by its own object', async () => {
    await pushNewTicket()
    const before = await fetch(
      new URL(`fake/platform/stats?component_appid=${platform.appId}`, env.WECHAT_API_BASE),
    )
    const { componentTokens: first } = (await before.json()) as { componentTokens: number }
    await Promise.all(Array.from({ length: 5 }, () => authorizeLink()))
    const after = await fetch(
      new URL(`fake/platform/stats?component_appid=${platform.appId}`, env.WECHAT_API_BASE),
    )
    const { componentTokens } = (await after.json()) as { componentTokens: number }
    expect(componentTokens - first).toBeLessThanOrEqual(1)
  })
})

describe('authorizing an account', () => {
  it('returns both links WeChat documents, each with a fresh pre-auth code, back to /platform/authorized', async () => {
    await pushNewTicket()
    const [one, two] = await Promise.all([authorizeLink(), authorizeLink()])
    const a = (await one?.json()) as { desktop: string; mobile: string }
    const b = (await two?.json()) as { desktop: string }
    const desktop = new URL(a.desktop)
    const mobile = new URL(a.mobile)
    expect(desktop.pathname).toBe('/cgi-bin/componentloginpage')
    expect(mobile.pathname).toBe('/wxaopen/safe/bindcomponent')
    expect(mobile.searchParams.get('action')).toBe('bindcomponent')
    expect(mobile.hash).toBe('#wechat_redirect')
    for (const url of [desktop, mobile]) {
      expect(url.searchParams.get('component_appid')).toBe(platform.appId)
      expect(url.searchParams.get('auth_type')).toBe('1')
      expect(url.searchParams.get('redirect_uri')).toMatch(
        /^https:\/\/edge\.test\/platform\/authorized\?link=/,
      )
    }
    expect(desktop.searchParams.get('pre_auth_code')).not.toBe(
      new URL(b.desktop).searchParams.get('pre_auth_code'),
    )
  })

  it('asks for ADMIN_TOKEN', async () => {
    const response = await exports.default.fetch(
      'https://edge.test/admin/platform/authorize-link',
      {
        method: 'POST',
        headers: { Authorization: 'Bearer news-admin-token' },
      },
    )
    expect(response.status).toBe(401)
  })

  it('trades the code once: the redirect, a reload and the event make one authorizer', async () => {
    const appId = newAppId()
    await pushNewTicket()
    const granted = await authorizeAs(appId)
    const page = await exports.default.fetch(granted.redirect)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain(appId)
    expect((await exports.default.fetch(granted.redirect)).status).toBe(200)
    expect(await (await sendAuthorized(appId, granted)).text()).toBe('success')
    expect((await platformStats(appId)).queryAuth).toBe(1)
    const view = await authorizerView(appId)
    expect(view).toMatchObject({ appId, state: 'authorized', permissions: [1, 2, 3, 4, 7, 11, 15] })
  })

  it('takes the event first as well, and the redirect after it calls WeChat no second time', async () => {
    const appId = newAppId()
    await pushNewTicket()
    const granted = await authorizeAs(appId)
    await sendAuthorized(appId, granted)
    expect((await exports.default.fetch(granted.redirect)).status).toBe(200)
    expect((await platformStats(appId)).queryAuth).toBe(1)
  })

  it('trades no code that did not come back through a link it made', async () => {
    const response = await exports.default.fetch(
      'https://edge.test/platform/authorized?auth_code=queryauthcode@@@guess&expires_in=3600',
    )
    expect(response.status).toBe(400)
    const tampered = await exports.default.fetch(
      'https://edge.test/platform/authorized?link=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&auth_code=queryauthcode@@@guess',
    )
    expect(tampered.status).toBe(400)
  })

  it('takes at most three codes back through one link', async () => {
    await pushNewTicket()
    const first = await authorizeAs(newAppId())
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const other = await authorizeAs(newAppId())
      // The first link's redirect, with another authorization's code.
      const through = new URL(first.redirect)
      through.searchParams.set('auth_code', other.code)
      statuses.push((await exports.default.fetch(through.toString())).status)
    }
    expect(statuses).toEqual([200, 200, 200, 400])
  })

  it('links both of WeChat’s pages from its own page, which WeChat opens them from', async () => {
    await pushNewTicket()
    const { page, desktop, mobile } = (await (await authorizeLink()).json()) as Record<
      string,
      string
    >
    expect(page).toMatch(/^https:\/\/edge\.test\/platform\/authorize\?links=/)
    const shown = await exports.default.fetch(page ?? '')
    expect(shown.status).toBe(200)
    // WeChat checks the page's domain: its origin goes as the Referer, nothing more.
    expect(shown.headers.get('Referrer-Policy')).toBe('origin')
    const html = await shown.text()
    for (const link of [desktop, mobile])
      expect(html).toContain(`href="${link?.replaceAll('&', '&amp;')}"`)
    // The fake's page, as WeChat's: refused without the platform's domain as the Referer.
    expect((await fetch(desktop ?? '')).status).toBe(400)
    expect(
      (await fetch(desktop ?? '', { headers: { Referer: 'https://elsewhere.test/' } })).status,
    ).toBe(400)
    expect(
      (await fetch(desktop ?? '', { headers: { Referer: 'https://edge.test/' } })).status,
    ).toBe(200)
    const tampered = await exports.default.fetch('https://edge.test/platform/authorize?links=AAAA')
    expect(tampered.status).toBe(400)
  })

  it('lists authorizers with their permissions and time, never a token', async () => {
    const appId = await authorizedAccount()
    const response = await exports.default.fetch('https://edge.test/admin/platform/authorizers', {
      headers: ADMIN_HEADERS,
    })
    const text = await response.text()
    const listed = JSON.parse(text) as { authorizers: { appId: string; authorizedAt: number }[] }
    expect(listed.authorizers.some((entry) => entry.appId === appId)).toBe(true)
    expect(text).not.toMatch(/refreshtoken|FAKE_TOKEN|ticket@@@|COMPONENT_TOKEN/)
  })

  it('keeps refresh tokens at rest sealed, never as WeChat issued them', async () => {
    const appId = await authorizedAccount()
    const stub = env.PLATFORM.getByName(platform.appId)
    const row = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql
        .exec<{ refresh_token: string }>(
          'SELECT refresh_token FROM authorizers WHERE appid = ?',
          appId,
        )
        .one(),
    )
    expect(row.refresh_token).not.toContain('refreshtoken@@@')
    expect(row.refresh_token.length).toBeGreaterThan(40)
  })

  it('tells the ticket’s age on GET / to ADMIN_TOKEN alone', async () => {
    await pushNewTicket()
    const admin = await exports.default.fetch('https://edge.test/', { headers: ADMIN_HEADERS })
    const health = (await admin.json()) as { platform?: { ticketAgeMs: number; ready: boolean } }
    expect(health.platform?.ready).toBe(true)
    expect(health.platform?.ticketAgeMs).toBeGreaterThanOrEqual(0)
    const stranger = await exports.default.fetch('https://edge.test/')
    expect(await stranger.json()).not.toHaveProperty('platform')
  })
})
