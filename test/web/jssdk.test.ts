/**
 * `POST /jssdk/config` over the Worker's HTTP surface, and the jsapi_ticket's holder behind it,
 * against the strict fake: CORS for exactly the allowed origins, a signature wx.config accepts
 * for the page without its fragment, one getticket for a crowd, renewal ahead of expiry, a
 * refused ticket dropped alone, and a 40001 that renews the access token once.
 */

import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../src/env.ts'
import { REFRESH_AHEAD_MS } from '../../src/talk/holder.ts'
import { REFUSED_TICKET_MIN_AGE_MS } from '../../src/talk/jsapi-ticket.ts'
import type { JssdkConfig } from '../../src/wechat/jssdk.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { appid, fakeWechat } from '../helpers/fake-wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const SITE = 'https://shop.example.com'
const PAGE = `${SITE}/product?id=7`

/** A page of `origin` asking for its config, for an account of its own (AppID `app`). */
function askConfig(
  app: string,
  body: unknown,
  origin: string | null = SITE,
  overrides: Partial<Env> = {},
) {
  return fetchWith(
    new Request('https://edge.test/jssdk/config', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', ...(origin !== null && { Origin: origin }) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
    { WECHAT_APPID: app, ...overrides },
  )
}

async function configOf(app: string, url = PAGE, extra: object = {}): Promise<JssdkConfig> {
  const response = await askConfig(app, { url, ...extra })
  expect(response.status).toBe(200)
  return response.json()
}

/** The holder's record, moved `ms` into the past, as if fetched that long ago. */
async function ageTicket(app: string, ms: number) {
  await runInDurableObject(env.JSAPI_TICKETS.getByName(app), async (_, state) => {
    const held = (await state.storage.get<Record<string, number>>('token')) ?? {}
    await state.storage.put('token', { ...held, fetchedAt: (held.fetchedAt ?? 0) - ms })
  })
}

describe('POST /jssdk/config', () => {
  it('signs the page as wx.config checks it, for the URL without its fragment', async () => {
    const app = appid()
    const before = Math.floor(Date.now() / 1000)
    const response = await askConfig(app, { url: `${PAGE}#reviews` })
    expect(response.status).toBe(200)
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe(SITE)
    expect(response.headers.get('Vary')).toBe('Origin')
    const config = (await response.json()) as JssdkConfig
    expect(Object.keys(config).sort()).toEqual(['appId', 'nonceStr', 'signature', 'timestamp'])
    expect(config.appId).toBe(app)
    expect(config.timestamp).toBeGreaterThanOrEqual(before)
    expect(config.nonceStr).toMatch(/^[A-Za-z0-9]{16}$/)
    // WeChat's JS (the fake plays it) strips the fragment itself, as the page's URL has one.
    expect(await fakeWechat.jssdkCheck(config, `${PAGE}#reviews`)).toEqual({ errMsg: 'config:ok' })
    expect(await fakeWechat.jssdkCheck(config, `${PAGE}&other`)).toEqual({
      errMsg: 'config:invalid signature',
    })
  })

  it('answers the preflight of an allowed origin only, and refuses other sites before WeChat', async () => {
    const app = appid()
    const preflight = (origin: string) =>
      fetchWith(
        new Request('https://edge.test/jssdk/config', {
          method: 'OPTIONS',
          headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
        }),
        { WECHAT_APPID: app },
      )
    const allowed = await preflight('https://m.shop.example.com')
    expect(allowed.status).toBe(204)
    expect(allowed.headers.get('Access-Control-Allow-Origin')).toBe('https://m.shop.example.com')
    expect(allowed.headers.get('Access-Control-Allow-Methods')).toBe('POST')
    for (const origin of ['https://evil.test', 'https://shop.example.com.evil.test', 'null']) {
      const refused = await preflight(origin)
      expect(refused.status).toBe(403)
      expect(refused.headers.get('Access-Control-Allow-Origin')).toBeNull()
      const posted = await askConfig(app, { url: PAGE }, origin)
      expect(posted.status).toBe(403)
      expect(posted.headers.get('Access-Control-Allow-Origin')).toBeNull()
    }
    expect(await fakeWechat.stats(app)).toMatchObject({ ticketRequests: 0, tokenRequests: 0 })
  })

  it('signs pages of the allowed origins only, compared whole, never by prefix', async () => {
    const app = appid()
    for (const url of [
      'https://shop.example.com.evil.test/p',
      'https://evil.test/?https://shop.example.com',
      'http://shop.example.com/p',
      'https://shop.example.com@evil.test/p',
      'javascript:alert(1)',
      '/relative',
      `${SITE}/${'a'.repeat(2100)}`,
      42,
    ]) {
      const response = await askConfig(app, { url })
      expect(response.status).toBe(400)
      // The page can read why: the refusal carries its CORS headers.
      expect(response.headers.get('Access-Control-Allow-Origin')).toBe(SITE)
    }
    expect((await askConfig(app, 'not json')).status).toBe(400)
    expect((await askConfig(app, { url: PAGE, refused: { signature: 'x' } })).status).toBe(400)
    expect(await fakeWechat.stats(app)).toMatchObject({ ticketRequests: 0 })
    // A backend asking for a page it renders (no Origin) is answered too.
    expect((await askConfig(app, { url: PAGE }, null)).status).toBe(200)
  })

  it('is not there without WEB_ORIGINS or WEB_SECRET, or for an account this deployment lacks', async () => {
    const app = appid()
    expect((await askConfig(app, { url: PAGE }, SITE, { WEB_ORIGINS: '' })).status).toBe(404)
    expect((await askConfig(app, { url: PAGE }, SITE, { WEB_SECRET: '' })).status).toBe(404)
    const other = await fetchWith(
      new Request('https://edge.test/jssdk/config?account=another', {
        method: 'POST',
        body: JSON.stringify({ url: PAGE }),
      }),
      { WECHAT_APPID: app },
    )
    expect(other.status).toBe(404)
    // The JS-SDK needs no AppSecret: a token pushed in or from a token service will do.
    expect((await askConfig(app, { url: PAGE }, SITE, { WECHAT_APPSECRET: '' })).status).not.toBe(
      404,
    )
  })
})

describe('the jsapi_ticket’s holder', () => {
  it('makes one getticket for a hundred concurrent configs', async () => {
    const app = appid()
    const configs = await Promise.all(Array.from({ length: 100 }, () => configOf(app)))
    expect(new Set(configs.map((config) => config.nonceStr)).size).toBe(100)
    expect(await fakeWechat.stats(app)).toMatchObject({ ticketRequests: 1, tokenRequests: 1 })
    // And across isolates: the object itself fetches once for everyone waiting.
    const other = appid()
    const tickets = await Promise.all(
      Array.from({ length: 100 }, () => env.JSAPI_TICKETS.getByName(other).token()),
    )
    expect(new Set(tickets.map((held) => (held.ok ? held.token : 'failed'))).size).toBe(1)
    expect(await fakeWechat.stats(other)).toMatchObject({ ticketRequests: 1 })
  })

  it('renews the ticket by an alarm before it expires, so that no config waits for WeChat', async () => {
    const app = appid()
    const holder = env.JSAPI_TICKETS.getByName(app)
    const first = await holder.token()
    if (!first.ok) throw new Error('no ticket')
    const alarm = await runInDurableObject(holder, (_, state) => state.storage.getAlarm())
    expect(alarm).toBe(first.expiresAt - REFRESH_AHEAD_MS)
    expect(await runDurableObjectAlarm(holder)).toBe(true)
    const second = await holder.token()
    expect(second.ok && second.token !== first.token).toBe(true)
    expect(await fakeWechat.stats(app)).toMatchObject({ ticketRequests: 2 })
    expect(await holder.status()).toMatchObject({
      held: true,
      source: 'getticket',
      lastError: null,
    })
  })

  it('drops a ticket wx.config refused, alone: the access token stays, a fresh ticket signs', async () => {
    const app = appid()
    const refused = await configOf(app)
    await ageTicket(app, REFUSED_TICKET_MIN_AGE_MS + 1000)
    const { appId: _, ...report } = refused
    const renewed = await configOf(app, PAGE, { refused: report })
    expect(await fakeWechat.stats(app)).toMatchObject({ ticketRequests: 2, tokenRequests: 1 })
    expect(await fakeWechat.jssdkCheck(renewed, PAGE)).toEqual({ errMsg: 'config:ok' })
    // A report on a ticket no longer held (another isolate renewed it) renews nothing more.
    await configOf(app, PAGE, { refused: report })
    expect(await fakeWechat.stats(app)).toMatchObject({ ticketRequests: 2 })
  })

  it('keeps a ticket refused within its first minute: then the page’s URL was wrong', async () => {
    const app = appid()
    const config = await configOf(app)
    const { appId: _, ...report } = config
    await configOf(app, PAGE, { refused: report })
    await configOf(app, PAGE, { refused: report })
    expect(await fakeWechat.stats(app)).toMatchObject({ ticketRequests: 1 })
  })

  it('on 40001 from getticket renews the access token once, and fetches the ticket again', async () => {
    const app = appid()
    const tokens = env.ACCESS_TOKENS.getByName(app)
    expect((await tokens.token()).ok).toBe(true)
    // WeChat drops the access token this isolate and the AccessToken object still hold.
    await fakeWechat.expire(app)
    const config = await configOf(app)
    expect(await fakeWechat.jssdkCheck(config, PAGE)).toEqual({ errMsg: 'config:ok' })
    expect(await fakeWechat.stats(app)).toMatchObject({ tokenRequests: 2, ticketRequests: 1 })
  })

  it('answers a failure by its class, never WeChat’s errcode, and keeps none', async () => {
    const app = appid()
    await fakeWechat.fail('ticket', app, 45009)
    const response = await askConfig(app, { url: PAGE })
    expect(response.status).toBe(502)
    expect(await response.json()).toEqual({ error: 'api_quota' })
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe(SITE)
    expect((await env.JSAPI_TICKETS.getByName(app).status()).lastError).toMatchObject({
      code: 45009,
    })
    expect((await askConfig(app, { url: PAGE })).status).toBe(200)
  })
})

describe('GET / and the web side', () => {
  it('tells the operator what is on, and why not', async () => {
    const health = (overrides: Partial<Env>) =>
      fetchWith(new Request('https://edge.test/', { headers: ADMIN_HEADERS }), overrides).then(
        (response) => response.json() as Promise<{ web: unknown; warnings: string[] }>,
      )
    expect((await health({})).web).toEqual({
      oauth: 'on',
      jssdk: 'on',
      origins: [SITE, 'https://m.shop.example.com'],
    })
    expect((await health({ WEB_ORIGINS: '', WEB_SECRET: '' })).web).toBe(
      'off: WEB_ORIGINS and WEB_SECRET are not set',
    )
    const noSecret = await health({ WEB_SECRET: '' })
    expect(noSecret.web).toBe('off: WEB_SECRET is not set')
    expect(noSecret.warnings).toContain(
      'the web side (OAuth, JS-SDK) is off: WEB_SECRET is not set',
    )
    const noAppSecret = await health({ WECHAT_APPSECRET: '' })
    expect(noAppSecret.web).toMatchObject({ oauth: expect.stringMatching(/^off: /), jssdk: 'on' })
    const wrong = await health({
      WEB_ORIGINS: 'https://shop.example.com/path, http://plain.example.com',
    })
    expect(wrong.web).toBe('off: WEB_ORIGINS lists no usable origin')
    expect(wrong.warnings.filter((line) => line.startsWith('WEB_ORIGINS: ignored'))).toHaveLength(2)
  })
})
