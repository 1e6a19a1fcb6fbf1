/**
 * Scan to log in, end to end over the Worker's HTTP surface: the page starts a login and polls,
 * the user's scan (a push signed as WeChat signs it, with the scene WeChat knows for the ticket)
 * confirms it once, the website's backend exchanges the code once.
 */

import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { exchange, openid } from '../helpers/wechat.ts'

interface Started {
  id: string
  ticket: string
  image: string
  expiresAt: number
}

const call = (path: string, init: RequestInit = {}) =>
  exports.default.fetch(`https://edge.test${path}`, init)

async function startLogin(client = '203.0.113.7'): Promise<Started> {
  const response = await call('/login/qr', {
    method: 'POST',
    headers: { 'CF-Connecting-IP': client },
  })
  expect(response.status).toBe(201)
  expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*')
  return response.json()
}

const poll = async (id: string) =>
  (await call(`/login/qr/${id}`)).json() as Promise<Record<string, unknown>>

/** What WeChat knows when the user scans the code: its scene. */
async function sceneOf(ticket: string): Promise<string> {
  const answer = await fetch(new URL(`fake/qrcode?ticket=${ticket}`, env.WECHAT_API_BASE))
  return ((await answer.json()) as { scene: string }).scene
}

function trade(code: unknown, secret = env.LOGIN_SECRET) {
  return call('/login/exchange', {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}` },
    body: JSON.stringify({ code }),
  })
}

describe('scan to log in', () => {
  it('confirms once on the scan, answers the user, and trades the code once', async () => {
    const login = await startLogin()
    expect(login.id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(login.expiresAt).toBeLessThanOrEqual(Date.now() + 120_000)
    expect(await poll(login.id)).toMatchObject({ status: 'waiting' })

    const user = openid('login-user')
    const scene = await sceneOf(login.ticket)
    expect(scene).not.toContain(login.ticket)
    const scan = forgePushXml('scan', { openid: user, scene, ticket: login.ticket })
    expect((await exchange(scan)).reply).toContain('<Content><![CDATA[Signed in.]]></Content>')
    // WeChat's retry of the same push: the same answer, nothing changes.
    expect((await exchange(scan)).reply).toContain('Signed in.')
    const confirmed = await poll(login.id)
    expect(confirmed).toMatchObject({ status: 'confirmed', code: expect.any(String) })
    expect(JSON.stringify(confirmed)).not.toContain(user)

    // A second user scanning the same code later changes nothing.
    const other = forgePushXml('scan', { openid: openid('login-other'), scene })
    expect((await exchange(other)).reply).toContain('already used')
    expect(await poll(login.id)).toEqual(confirmed)

    expect((await trade(confirmed.code, 'wrong-secret')).status).toBe(401)
    const traded = await trade(confirmed.code)
    expect(traded.status).toBe(200)
    expect(await traded.json()).toEqual({
      openid: user,
      subscribed: true,
      newFollower: false,
      scene,
    })
    expect((await trade(confirmed.code)).status).toBe(400)
    expect(await poll(login.id)).toEqual({ status: 'expired' })
  })

  it('confirms on a follow through the code, as a new follower', async () => {
    const login = await startLogin()
    const user = openid('login-new')
    const scene = await sceneOf(login.ticket)
    await exchange(forgePushXml('subscribe', { openid: user, scene, ticket: login.ticket }))
    const { code } = await poll(login.id)
    expect(await (await trade(code)).json()).toMatchObject({ openid: user, newFollower: true })
  })

  it('cannot be confirmed once expired, and deletes itself', async () => {
    const login = await startLogin()
    const scene = await sceneOf(login.ticket)
    const object = env.LOGINS.getByName(login.id)
    await runInDurableObject(object, async (_, state) => {
      const record = (await state.storage.get<Record<string, unknown>>('login')) ?? {}
      await state.storage.put('login', { ...record, expiresAt: Date.now() - 1 })
    })
    const late = forgePushXml('scan', { openid: openid('login-late'), scene })
    expect((await exchange(late)).reply).toContain('expired')
    expect(await poll(login.id)).toEqual({ status: 'expired' })
    expect(await runDurableObjectAlarm(object)).toBe(true)
    const left = await runInDurableObject(object, (_, state) => state.storage.list())
    expect(left.size).toBe(0)
  })

  it('refuses a code that is malformed, unknown or past its minute', async () => {
    expect((await trade('nonsense')).status).toBe(400)
    expect((await trade(`${'A'.repeat(22)}.guess`)).status).toBe(400)
    const login = await startLogin()
    const scene = await sceneOf(login.ticket)
    await exchange(forgePushXml('scan', { openid: openid('login-slow'), scene }))
    const { code } = await poll(login.id)
    await runInDurableObject(env.LOGINS.getByName(login.id), async (_, state) => {
      const record = (await state.storage.get<{ confirmed: object }>('login')) ?? { confirmed: {} }
      await state.storage.put('login', {
        ...record,
        confirmed: { ...record.confirmed, codeExpiresAt: Date.now() - 1 },
      })
    })
    expect((await trade(code)).status).toBe(400)
  })

  it('bounds the logins one client may start: 10 a minute, then 429', async () => {
    const client = `198.51.100.${Math.floor(Math.random() * 250)}`
    const statuses: number[] = []
    for (let i = 0; i < 11; i++) {
      const response = await call('/login/qr', {
        method: 'POST',
        headers: { 'CF-Connecting-IP': client },
      })
      statuses.push(response.status)
    }
    expect(statuses.slice(0, 10).every((status) => status === 201)).toBe(true)
    expect(statuses[10]).toBe(429)
    expect((await startLogin('192.0.2.99')).id).toBeDefined()
  })

  it('is not there without LOGIN_SECRET', async () => {
    const { fetchWith } = await import('../helpers/worker.ts')
    const response = await fetchWith(
      new Request('https://edge.test/login/qr', { method: 'POST' }),
      {
        LOGIN_SECRET: '',
      },
    )
    expect(response.status).toBe(404)
  })
})
