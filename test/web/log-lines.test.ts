/**
 * What the web side writes to the logs, over a whole sign-in and the JS-SDK's configs: its
 * outcomes, and never a code, a state, a ticket (ours or WeChat's), an OpenID, a web access
 * token or a signature.
 */

import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { JssdkConfig } from '../../src/wechat/jssdk.ts'
import { appid, fakeWechat } from '../helpers/fake-wechat.ts'
import { captureLogs } from '../helpers/logs.ts'
import { openid } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const SITE = 'https://shop.example.com'

describe('the web side’s log lines', () => {
  it('carry no code, state, ticket, OpenID, token or signature over a full flow', async () => {
    const logs = captureLogs('log', 'warn', 'error')
    const app = appid()
    const user = openid('web-logs')
    const overrides = { WECHAT_APPID: app }
    const call = (request: Request) => fetchWith(request, overrides)

    const started = await call(
      new Request(
        `https://edge.test/oauth/start?scope=snsapi_userinfo&redirect=${encodeURIComponent(`${SITE}/in`)}`,
      ),
    )
    const setCookie = started.headers.get('Set-Cookie') ?? ''
    const cookie = setCookie.slice(0, setCookie.indexOf(';'))
    const authorize = started.headers.get('Location') ?? ''
    const state = new URL(authorize).searchParams.get('state') ?? ''
    const callback = await fakeWechat.consent(authorize, { openid: user })
    const code = new URL(callback).searchParams.get('code') ?? ''
    const arrive = () => call(new Request(callback, { headers: { Cookie: cookie } }))
    const landed = await arrive()
    await arrive()
    const ticket = new URL(landed.headers.get('Location') ?? '').searchParams.get('ticket') ?? ''
    const exchange = () =>
      call(
        new Request('https://edge.test/oauth/exchange', {
          method: 'POST',
          headers: { Authorization: `Bearer ${env.WEB_SECRET}` },
          body: JSON.stringify({ ticket }),
        }),
      )
    expect((await exchange()).status).toBe(200)
    expect((await exchange()).status).toBe(400)
    expect((await arrive()).status).toBe(400)
    // A foreign callback, a refusal, a bad redirect.
    await call(new Request(callback))
    const refusedStart = await call(
      new Request(`https://edge.test/oauth/start?redirect=${encodeURIComponent(`${SITE}/in`)}`),
    )
    const refusedCookie = (refusedStart.headers.get('Set-Cookie') ?? '').split(';')[0] ?? ''
    const denied = await fakeWechat.consent(refusedStart.headers.get('Location') ?? '', 'refuse')
    await call(new Request(denied, { headers: { Cookie: refusedCookie } }))
    await call(new Request(`https://edge.test/oauth/start?redirect=https://evil.test/${user}`))

    const config = async (body: object) =>
      (await call(
        new Request('https://edge.test/jssdk/config', {
          method: 'POST',
          headers: { Origin: SITE },
          body: JSON.stringify({ url: `${SITE}/p?u=${user}`, ...body }),
        }),
      ).then((response) => response.json())) as JssdkConfig
    const first = await config({})
    await runInDurableObject(env.JSAPI_TICKETS.getByName(app), async (_, stored) => {
      const held = (await stored.storage.get<Record<string, number>>('token')) ?? {}
      await stored.storage.put('token', { ...held, fetchedAt: 0 })
    })
    const { appId: _, ...report } = first
    const second = await config({ refused: report })
    const jsapiTicket = await runInDurableObject(env.JSAPI_TICKETS.getByName(app), async (_, s) =>
      String((await s.storage.get<{ token: string }>('token'))?.token),
    )

    const lines = logs.text()
    const events = logs.records.map((record) => record.event)
    // The flow was logged, by outcome…
    expect(events).toEqual(
      expect.arrayContaining([
        'oauth_started',
        'oauth_callback',
        'oauth_exchange',
        'jsapi_ticket_fetched',
        'jssdk_ticket_refused',
      ]),
    )
    expect(
      logs.records.filter((record) => record.event === 'oauth_callback').map((r) => r.outcome),
    ).toEqual(['landed', 'landed', 'used', 'not_started', 'denied'])
    // …and nothing that would identify the user or open the flow again.
    for (const secret of [
      code,
      state,
      ticket,
      ticket.slice(33),
      user,
      jsapiTicket,
      first.signature,
      second.signature,
      'FAKE_WEB_TOKEN',
      'FAKE_TICKET',
      'FAKE_TOKEN',
      env.WEB_SECRET,
    ]) {
      expect(secret.length).toBeGreaterThan(5)
      expect(lines).not.toContain(secret)
    }
  })
})
