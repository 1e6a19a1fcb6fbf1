/**
 * Web authorization over the Worker's HTTP surface, against the strict fake: the browser starts
 * a sign-in (its state bound to it by a cookie), WeChat's consent page sends it back with a
 * code, the callback trades the code once and lands on the website with a one-time ticket, and
 * the website's backend trades the ticket once. Reloads, the back button, refusals, foreign
 * states and open redirects, each as a browser or an attacker would bring them.
 */

import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { appid, fakeWechat } from '../helpers/fake-wechat.ts'
import { openid } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const SITE = 'https://shop.example.com'
const WELCOME = `${SITE}/welcome?next=%2Fcart`

interface Started {
  readonly response: Response
  /** The Cookie header this browser sends back. */
  readonly cookie: string
  /** WeChat's authorize page, where the browser was sent. */
  readonly authorize: string
}

/** A browser of `overrides`' deployment opening a sign-in link. */
async function start(
  redirect = WELCOME,
  scope = 'snsapi_base',
  overrides: Partial<Env> = {},
): Promise<Started> {
  const query = new URLSearchParams({ redirect, scope })
  const response = await fetchWith(new Request(`https://edge.test/oauth/start?${query}`), overrides)
  const setCookie = response.headers.get('Set-Cookie') ?? ''
  return {
    response,
    cookie: setCookie.slice(0, setCookie.indexOf(';')),
    authorize: response.headers.get('Location') ?? '',
  }
}

/** The browser arriving at the callback WeChat sent it to, with the cookies it holds. */
function arrive(callback: string, cookie: string, overrides: Partial<Env> = {}) {
  return fetchWith(new Request(callback, { headers: cookie ? { Cookie: cookie } : {} }), overrides)
}

/** The website's backend trading a ticket. */
function trade(ticket: unknown, secret = env.WEB_SECRET, overrides: Partial<Env> = {}) {
  return fetchWith(
    new Request('https://edge.test/oauth/exchange', {
      method: 'POST',
      headers: { Authorization: `Bearer ${secret}` },
      body: JSON.stringify({ ticket }),
    }),
    overrides,
  )
}

/** A whole sign-in up to the landing on the website, for AppID `app`. */
async function signIn(app: string, user: string, scope = 'snsapi_base') {
  const overrides = { WECHAT_APPID: app }
  const started = await start(WELCOME, scope, overrides)
  const callback = await fakeWechat.consent(started.authorize, { openid: user })
  const landed = await arrive(callback, started.cookie, overrides)
  return { ...started, callback, landed, overrides }
}

function ticketOf(response: Response): string {
  return new URL(response.headers.get('Location') ?? 'x:').searchParams.get('ticket') ?? ''
}

describe('GET /oauth/start', () => {
  it('sends the browser to WeChat’s authorize page with a fresh state bound to it', async () => {
    const { response, cookie, authorize } = await start()
    expect(response.status).toBe(302)
    const url = new URL(authorize)
    expect(`${url.origin}${url.pathname}`).toBe(`${env.WECHAT_API_BASE}connect/oauth2/authorize`)
    // In the page's order, #wechat_redirect last.
    expect([...url.searchParams.keys()]).toEqual([
      'appid',
      'redirect_uri',
      'response_type',
      'scope',
      'state',
    ])
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      appid: env.WECHAT_APPID,
      redirect_uri: 'https://edge.test/oauth/callback',
      response_type: 'code',
      scope: 'snsapi_base',
      state: expect.stringMatching(/^[0-9a-f]{32}$/),
    })
    expect(url.hash).toBe('#wechat_redirect')
    const setCookie = response.headers.get('Set-Cookie') ?? ''
    expect(cookie).toMatch(new RegExp(`^wechat_oauth_${url.searchParams.get('state')}=`))
    for (const attribute of ['Secure', 'HttpOnly', 'SameSite=Lax', 'Path=/oauth', 'Max-Age=600']) {
      expect(setCookie.split('; ')).toContain(attribute)
    }
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const again = await start()
    expect(new URL(again.authorize).searchParams.get('state')).not.toBe(
      url.searchParams.get('state'),
    )
  })

  it('redirects only to the allowed origins, compared whole: no open redirect', async () => {
    for (const redirect of [
      '',
      'https://evil.test/welcome',
      'https://shop.example.com.evil.test/',
      'https://evil.test/?https://shop.example.com',
      'https://shop.example.com@evil.test/',
      'https://user:pass@shop.example.com/',
      'http://shop.example.com/',
      '//evil.test/',
      '/welcome',
      'javascript:alert(document.cookie)',
      `${SITE}/${'a'.repeat(2100)}`,
    ]) {
      const { response } = await start(redirect)
      expect(response.status).toBe(400)
      expect(response.headers.get('Location')).toBeNull()
      expect(response.headers.get('Set-Cookie')).toBeNull()
    }
    expect((await start(WELCOME, 'snsapi_login')).response.status).toBe(400)
    expect((await start('https://m.shop.example.com/p')).response.status).toBe(302)
  })

  it('moves a start over plain http to https, where its Secure cookie holds', async () => {
    const response = await fetchWith(
      new Request(`http://edge.test/oauth/start?redirect=${encodeURIComponent(WELCOME)}`),
    )
    expect(response.status).toBe(308)
    expect(response.headers.get('Location')).toMatch(/^https:\/\/edge\.test\/oauth\/start\?/)
    expect(response.headers.get('Set-Cookie')).toBeNull()
  })

  it('is not there without WEB_SECRET, without an AppSecret, or for an account this deployment lacks', async () => {
    expect((await start(WELCOME, 'snsapi_base', { WEB_SECRET: '' })).response.status).toBe(404)
    expect((await start(WELCOME, 'snsapi_base', { WEB_ORIGINS: '' })).response.status).toBe(404)
    expect((await start(WELCOME, 'snsapi_base', { WECHAT_APPSECRET: '' })).response.status).toBe(
      404,
    )
    const other = await exports.default.fetch(
      `https://edge.test/oauth/start?account=another&redirect=${encodeURIComponent(WELCOME)}`,
    )
    expect(other.status).toBe(404)
  })
})

describe('GET /oauth/callback and POST /oauth/exchange', () => {
  it('lands on the website with a ticket its backend trades once for the user', async () => {
    const app = appid()
    const user = openid('web-base')
    const { landed, overrides } = await signIn(app, user)
    expect(landed.status).toBe(302)
    const landing = new URL(landed.headers.get('Location') ?? '')
    expect(`${landing.origin}${landing.pathname}`).toBe(`${SITE}/welcome`)
    // The website's own query is kept; the ticket is added.
    expect(landing.searchParams.get('next')).toBe('/cart')
    expect(landing.searchParams.get('ticket')).toMatch(/^[0-9a-f]{32}\.[0-9a-f]{32}$/)
    expect(landed.headers.get('Referrer-Policy')).toBe('no-referrer')
    expect(landing.searchParams.has('code')).toBe(false)

    expect((await trade(ticketOf(landed), 'not-the-secret', overrides)).status).toBe(401)
    const traded = await trade(ticketOf(landed), env.WEB_SECRET, overrides)
    expect(traded.status).toBe(200)
    expect(traded.headers.get('Cache-Control')).toBe('no-store')
    // Not a follower: WeChat's user info says so.
    expect(await traded.json()).toEqual({ openid: user, scope: 'snsapi_base', subscribed: false })
    expect((await trade(ticketOf(landed), env.WEB_SECRET, overrides)).status).toBe(400)
    expect(await fakeWechat.stats(app)).toMatchObject({ codeTrades: 1 })
  })

  it('gives the profile and UnionID for snsapi_userinfo, and whether the user follows', async () => {
    const app = appid()
    const user = openid('web-userinfo')
    await fakeWechat.interact(forgePushXml('subscribe', { openid: user }))
    const { landed, overrides } = await signIn(app, user, 'snsapi_userinfo')
    const traded = await (await trade(ticketOf(landed), env.WEB_SECRET, overrides)).json()
    expect(traded).toMatchObject({
      openid: user,
      unionid: expect.any(String),
      scope: 'snsapi_userinfo',
      subscribed: true,
      userinfo: { nickname: expect.stringContaining('Fake user'), headimgurl: '', sex: 0 },
    })
  })

  it('lands a reloaded callback where the first did, without asking WeChat again', async () => {
    const app = appid()
    const { callback, cookie, landed, overrides } = await signIn(app, openid('web-reload'))
    const reloaded = await arrive(callback, cookie, overrides)
    expect(reloaded.status).toBe(302)
    expect(reloaded.headers.get('Location')).toBe(landed.headers.get('Location'))
    // A double tap: concurrent arrivals share the one trade.
    const taps = await Promise.all(
      Array.from({ length: 5 }, () => arrive(callback, cookie, overrides)),
    )
    expect(new Set(taps.map((tap) => tap.headers.get('Location'))).size).toBe(1)
    expect(await fakeWechat.stats(app)).toMatchObject({ codeTrades: 1 })

    // Once the ticket is traded, the back button shows a clear page, not WeChat's 40163.
    await trade(ticketOf(landed), env.WEB_SECRET, overrides)
    const back = await arrive(callback, cookie, overrides)
    expect(back.status).toBe(400)
    const page = await back.text()
    expect(page).toContain('complete already')
    expect(page).toContain(`href="${SITE}"`)
    expect(page).not.toMatch(/40163|errcode|code=/)
    expect(await fakeWechat.stats(app)).toMatchObject({ codeTrades: 1 })
  })

  it('lands concurrent first arrivals on one trade', async () => {
    const app = appid()
    const overrides = { WECHAT_APPID: app }
    const started = await start(WELCOME, 'snsapi_base', overrides)
    const callback = await fakeWechat.consent(started.authorize, { openid: openid('web-tap') })
    const taps = await Promise.all(
      Array.from({ length: 5 }, () => arrive(callback, started.cookie, overrides)),
    )
    expect(taps.map((tap) => tap.status)).toEqual([302, 302, 302, 302, 302])
    expect(new Set(taps.map((tap) => tap.headers.get('Location'))).size).toBe(1)
    expect(await fakeWechat.stats(app)).toMatchObject({ codeTrades: 1 })
  })

  it('refuses a callback whose state this browser did not start (login CSRF), asking WeChat nothing', async () => {
    const app = appid()
    const overrides = { WECHAT_APPID: app }
    // The attacker starts a sign-in and has WeChat send them back with their own code.
    const attacker = await start(WELCOME, 'snsapi_base', overrides)
    const trap = await fakeWechat.consent(attacker.authorize, { openid: openid('web-attacker') })
    // The victim's browser is made to open that callback: it holds no cookie of that state…
    const victim = await start(WELCOME, 'snsapi_base', overrides)
    for (const cookie of ['', victim.cookie]) {
      const response = await arrive(trap, cookie, overrides)
      expect(response.status).toBe(400)
      expect(await response.text()).toContain('not started in this browser')
    }
    // …nor can it forge one: the cookie is sealed with WEB_SECRET.
    const name = attacker.cookie.slice(0, attacker.cookie.indexOf('='))
    const [payload, mac] = attacker.cookie.slice(name.length + 1).split('.')
    const forged = JSON.parse(atob((payload ?? '').replaceAll('-', '+').replaceAll('_', '/')))
    forged.redirect = 'https://evil.test/'
    const tampered = `${name}=${btoa(JSON.stringify(forged)).replaceAll('=', '')}.${mac}`
    expect((await arrive(trap, tampered, overrides)).status).toBe(400)
    // A cookie sealed under another secret is no better.
    expect(
      (await arrive(trap, attacker.cookie, { ...overrides, WEB_SECRET: 'other' })).status,
    ).toBe(400)
    expect(await fakeWechat.stats(app)).toMatchObject({ codeTrades: 0 })
    // The attacker's own browser still completes: the binding is the only obstacle.
    expect((await arrive(trap, attacker.cookie, overrides)).status).toBe(302)
  })

  it('sends a user who refused back to the website with error=denied, and no ticket', async () => {
    const started = await start()
    const callback = await fakeWechat.consent(started.authorize, 'refuse')
    const landed = await arrive(callback, started.cookie)
    expect(landed.status).toBe(302)
    const landing = new URL(landed.headers.get('Location') ?? '')
    expect(landing.searchParams.get('error')).toBe('denied')
    expect(landing.searchParams.has('ticket')).toBe(false)
  })

  it('shows a clear page when WeChat refuses the code, and asks it once only', async () => {
    const app = appid()
    const overrides = { WECHAT_APPID: app }
    const started = await start(WELCOME, 'snsapi_base', overrides)
    const callback = await fakeWechat.consent(started.authorize, { openid: openid('web-spent') })
    // The code was spent elsewhere first (WeChat answers 40163 from now on).
    const code = new URL(callback).searchParams.get('code') ?? ''
    await fetch(
      new URL(
        `sns/oauth2/access_token?appid=${app}&secret=x&code=${code}&grant_type=authorization_code`,
        env.WECHAT_API_BASE,
      ),
    )
    for (let i = 0; i < 2; i++) {
      const response = await arrive(callback, started.cookie, overrides)
      expect(response.status).toBe(400)
      const page = await response.text()
      expect(page).toContain('no longer accepts this sign-in link')
      expect(page).not.toContain('40163')
    }
    expect(await fakeWechat.stats(app)).toMatchObject({ codeTrades: 2 })
  })

  it('shows a page to reload when WeChat is busy, and the reload completes the sign-in', async () => {
    const app = appid()
    const overrides = { WECHAT_APPID: app }
    const started = await start(WELCOME, 'snsapi_base', overrides)
    const callback = await fakeWechat.consent(started.authorize, { openid: openid('web-busy') })
    await fakeWechat.fail('oauth', app, -1)
    const busy = await arrive(callback, started.cookie, overrides)
    expect(busy.status).toBe(503)
    expect(await busy.text()).toContain('Reload this page')
    const reloaded = await arrive(callback, started.cookie, overrides)
    expect(reloaded.status).toBe(302)
    expect(ticketOf(reloaded)).toMatch(/^[0-9a-f]{32}\.[0-9a-f]{32}$/)
  })

  it('tells the website of a visitor in snapshot mode, whose OpenID is a placeholder', async () => {
    const app = appid()
    const overrides = { WECHAT_APPID: app }
    const started = await start(WELCOME, 'snsapi_base', overrides)
    const callback = await fakeWechat.consent(started.authorize, {
      openid: openid('web-snapshot'),
      snapshot: true,
    })
    const landed = await arrive(callback, started.cookie, overrides)
    const traded = await (await trade(ticketOf(landed), env.WEB_SECRET, overrides)).json()
    expect(traded).toMatchObject({ snapshotUser: true, scope: 'snsapi_base' })
    expect(traded).not.toHaveProperty('subscribed')
  })

  it('refuses a ticket past its minutes, and the sign-in deletes itself, OpenID first', async () => {
    const app = appid()
    const user = openid('web-late')
    const { landed, overrides } = await signIn(app, user)
    const ticket = ticketOf(landed)
    const object = env.WEB_AUTHORIZATIONS.getByName(`${app}:${ticket.slice(0, 32)}`)
    const stored = () =>
      runInDurableObject(object, async (_, state) =>
        JSON.stringify([...(await state.storage.list())]),
      )
    expect(await stored()).toContain(user)
    // The ticket's two minutes pass: its alarm deletes who signed in, keeps the spent code's trace.
    expect(await runDurableObjectAlarm(object)).toBe(true)
    expect(await stored()).not.toContain(user)
    expect((await trade(ticket, env.WEB_SECRET, overrides)).status).toBe(400)
    // At the state's end, everything.
    await runInDurableObject(object, async (_, state) => {
      const record = (await state.storage.get<Record<string, unknown>>('traded')) ?? {}
      await state.storage.put('traded', { ...record, endsAt: Date.now() - 1 })
    })
    expect(await runDurableObjectAlarm(object)).toBe(true)
    expect(await stored()).toBe('[]')
  })

  it('keeps nothing of the user once the ticket is traded', async () => {
    const app = appid()
    const user = openid('web-gone')
    const { landed, overrides } = await signIn(app, user, 'snsapi_userinfo')
    const ticket = ticketOf(landed)
    await trade(ticket, env.WEB_SECRET, overrides)
    const object = env.WEB_AUTHORIZATIONS.getByName(`${app}:${ticket.slice(0, 32)}`)
    const left = await runInDurableObject(object, async (_, state) =>
      JSON.stringify([...(await state.storage.list())]),
    )
    expect(left).not.toContain(user)
    expect(left).not.toContain('Fake user')
    expect(left).not.toContain('FAKE_WEB_TOKEN')
  })

  it('refuses tickets that are malformed or unknown', async () => {
    for (const ticket of ['', 'nonsense', `${'a'.repeat(32)}.${'b'.repeat(32)}`, 42, null]) {
      expect((await trade(ticket)).status).toBe(400)
    }
    const bad = await fetchWith(
      new Request('https://edge.test/oauth/exchange', {
        method: 'POST',
        headers: { Authorization: `Bearer ${env.WEB_SECRET}` },
        body: 'not json',
      }),
    )
    expect(bad.status).toBe(400)
  })
})
