/**
 * Scan to log in, end to end over the Worker's HTTP surface: the page starts a login and polls
 * (`POST /login/status`, the id in the body), the user's scan (an encrypted push signed as WeChat
 * signs it, with the scene WeChat knows for the ticket) asks them, their reply of the confirm
 * word confirms it once, the website's backend exchanges the code once.
 */

import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { exchange, openid } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

interface Started {
  id: string
  ticket: string
  image: string
  expiresAt: number
}

const call = (path: string, init: RequestInit = {}) =>
  exports.default.fetch(`https://edge.test${path}`, init)

const CHROME_ON_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36'

async function startLogin(client = '203.0.113.7', headers: HeadersInit = {}): Promise<Started> {
  const response = await call('/login/qr', {
    method: 'POST',
    headers: { 'CF-Connecting-IP': client, 'User-Agent': CHROME_ON_WINDOWS, ...headers },
  })
  expect(response.status).toBe(201)
  expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*')
  return response.json()
}

/** The page's poll: a text/plain POST (no preflight from another origin), the id in the body. */
const poll = async (id: string) =>
  (
    await call('/login/status', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ id }),
    })
  ).json() as Promise<Record<string, unknown>>

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

/** A push from the user as WeChat sends it to an account with an EncodingAESKey: sealed. */
const said = async (xml: string) => (await exchange(xml, 'safe')).reply
const scanOf = (user: string, scene: string) => forgePushXml('scan', { openid: user, scene })
const word = (user: string, content = '1') => forgePushXml('text', { openid: user, content })

describe('scan to log in', () => {
  it('asks on the scan, confirms on the same user’s word, and trades the code once', async () => {
    const login = await startLogin()
    expect(login.id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(login.expiresAt).toBeLessThanOrEqual(Date.now() + 120_000)
    expect(await poll(login.id)).toMatchObject({ status: 'waiting' })

    const user = openid('login-user')
    const scene = await sceneOf(login.ticket)
    expect(scene).not.toContain(login.ticket)
    const asked = await said(scanOf(user, scene))
    // The user learns which site asks, from which browser, and what to answer.
    expect(asked).toContain(`Sign in to ${env.LOGIN_SITE} from Chrome on Windows?`)
    expect(asked).toContain('Reply 1 within 2 minutes to confirm')
    // Scanned is not signed in: the page has no code yet.
    expect(await poll(login.id)).toMatchObject({ status: 'scanned' })
    expect(await poll(login.id)).not.toHaveProperty('code')

    const signedIn = word(user)
    expect(await said(signedIn)).toContain('<Content><![CDATA[Signed in.]]></Content>')
    // WeChat's retry of the same push: the same answer, nothing changes.
    expect(await said(signedIn)).toContain('Signed in.')
    const confirmed = await poll(login.id)
    expect(confirmed).toMatchObject({ status: 'confirmed', code: expect.any(String) })
    expect(JSON.stringify(confirmed)).not.toContain(user)

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

  it('confirms nothing on a scan alone, whoever holds the login’s id (QRLJacking)', async () => {
    const login = await startLogin()
    const victim = openid('login-victim')
    await said(scanOf(victim, await sceneOf(login.ticket)))
    // The attacker holds the id and polls: the victim never agreed, so there is no code.
    for (let i = 0; i < 3; i++) expect(await poll(login.id)).toMatchObject({ status: 'scanned' })
  })

  it('takes the word only from the user who scanned, before the login expires', async () => {
    const login = await startLogin()
    const scene = await sceneOf(login.ticket)
    const scanner = openid('login-scanner')
    const other = openid('login-other')
    await said(scanOf(scanner, scene))

    // Another user scanning the code is refused; their word confirms nothing.
    expect(await said(scanOf(other, scene))).toContain('already used')
    expect(await said(word(other))).not.toContain('Signed in.')
    expect(await poll(login.id)).toMatchObject({ status: 'scanned' })

    // The scanner's word after the login expired: refused.
    await runInDurableObject(env.LOGINS.getByName(login.id), async (_, state) => {
      const record = (await state.storage.get<Record<string, unknown>>('login')) ?? {}
      await state.storage.put('login', { ...record, expiresAt: Date.now() - 1 })
    })
    expect(await said(word(scanner))).toContain('expired')
    expect(await poll(login.id)).toEqual({ status: 'expired' })
  })

  it('hands a word with no pending scan to the bot, and it confirms nothing', async () => {
    const login = await startLogin()
    const user = openid('login-nobody')
    // The default bot echoes text: the word reached it.
    expect(await said(word(user))).toContain('<Content><![CDATA[1]]></Content>')
    expect(await poll(login.id)).toMatchObject({ status: 'waiting' })
  })

  it('reads no plaintext push for a login: its body is not signed', async () => {
    const login = await startLogin()
    const scene = await sceneOf(login.ticket)
    const attacker = openid('login-forger')
    // One captured signed URL, a forged scan for anyone: answered as a dead code, nothing kept.
    expect((await exchange(scanOf(attacker, scene))).reply).toContain('expired')
    expect(await poll(login.id)).toMatchObject({ status: 'waiting' })
    // A genuine (encrypted) scan, then a forged plaintext word for the same user: nothing.
    const user = openid('login-genuine')
    await said(scanOf(user, scene))
    expect((await exchange(word(user))).reply).not.toContain('Signed in.')
    expect(await poll(login.id)).toMatchObject({ status: 'scanned' })
  })

  it('is off without an EncodingAESKey, and GET / tells the operator why', async () => {
    const plaintextOnly = { WECHAT_ENCODING_AES_KEY: '' }
    const start = new Request('https://edge.test/login/qr', { method: 'POST' })
    expect((await fetchWith(start, plaintextOnly)).status).toBe(404)
    const health = await fetchWith(
      new Request('https://edge.test/', { headers: ADMIN_HEADERS }),
      plaintextOnly,
    )
    const { warnings } = (await health.json()) as { warnings: string[] }
    expect(warnings.some((line) => line.startsWith('scan to log in is off'))).toBe(true)
  })

  it('confirms on a follow through the code, as a new follower', async () => {
    const login = await startLogin()
    const user = openid('login-new')
    const scene = await sceneOf(login.ticket)
    const follow = forgePushXml('subscribe', { openid: user, scene, ticket: login.ticket })
    expect(await said(follow)).toContain('Sign in to')
    await said(word(user))
    const { code } = await poll(login.id)
    expect(await (await trade(code)).json()).toMatchObject({ openid: user, newFollower: true })
  })

  it('cannot be scanned once expired, and deletes itself', async () => {
    const login = await startLogin()
    const scene = await sceneOf(login.ticket)
    const object = env.LOGINS.getByName(login.id)
    await runInDurableObject(object, async (_, state) => {
      const record = (await state.storage.get<Record<string, unknown>>('login')) ?? {}
      await state.storage.put('login', { ...record, expiresAt: Date.now() - 1 })
    })
    expect(await said(scanOf(openid('login-late'), scene))).toContain('expired')
    expect(await poll(login.id)).toEqual({ status: 'expired' })
    expect(await runDurableObjectAlarm(object)).toBe(true)
    const left = await runInDurableObject(object, (_, state) => state.storage.list())
    expect(left.size).toBe(0)
  })

  it('refuses a code that is malformed, unknown or past its minute', async () => {
    expect((await trade('nonsense')).status).toBe(400)
    expect((await trade(`${'A'.repeat(22)}.guess`)).status).toBe(400)
    const login = await startLogin()
    const user = openid('login-slow')
    await said(scanOf(user, await sceneOf(login.ticket)))
    await said(word(user))
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

  it('puts the login’s id in no URL: the page polls by POST, and no GET answers', async () => {
    const login = await startLogin()
    expect((await call(`/login/qr/${login.id}`)).status).toBe(404)
    const asJson = await call('/login/status', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: login.id }),
    })
    expect(await asJson.json()).toMatchObject({ status: 'waiting' })
    expect((await call('/login/status', { method: 'POST', body: 'null' })).status).toBe(400)
  })

  it('is not there without LOGIN_SECRET', async () => {
    const response = await fetchWith(
      new Request('https://edge.test/login/qr', { method: 'POST' }),
      { LOGIN_SECRET: '' },
    )
    expect(response.status).toBe(404)
  })
})

describe('the login gate', () => {
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

  it('counts an IPv6 client by its /64, however many addresses it uses', async () => {
    const net = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:7`
    const statuses: number[] = []
    for (let i = 0; i < 11; i++) {
      const response = await call('/login/qr', {
        method: 'POST',
        headers: { 'CF-Connecting-IP': `${net}:${i.toString(16)}::${i + 1}` },
      })
      statuses.push(response.status)
    }
    expect(statuses.filter((status) => status === 201)).toHaveLength(10)
    expect(statuses[10]).toBe(429)
  })

  it('lets the website’s backend start logins outside strangers’ share, counted by the address it passes', async () => {
    const gate = env.LOGIN_GATE.getByName(`gate-${crypto.randomUUID()}`)
    // Strangers with any number of addresses use their share of the minute, and no more.
    let admitted = 0
    for (let client = 0; client < 40; client++) {
      for (let i = 0; i < 10; i++) if (await gate.admit('anonymous', `c${client}`)) admitted++
    }
    expect(admitted).toBe(300)
    // The backend (it holds LOGIN_SECRET) still starts logins, 10 per end user it names.
    let forUser = 0
    for (let i = 0; i < 11; i++) if (await gate.admit('site', 'end-user')) forUser++
    expect(forUser).toBe(10)
    expect(await gate.admit('site', null)).toBe(true)
  })

  it('takes the backend’s bearer on POST /login/qr, and refuses a wrong one', async () => {
    const backend = (secret: string, body: unknown) =>
      call('/login/qr', {
        method: 'POST',
        headers: { Authorization: `Bearer ${secret}`, 'CF-Connecting-IP': '203.0.113.200' },
        body: JSON.stringify(body),
      })
    expect((await backend('wrong', {})).status).toBe(401)
    const started = await backend(env.LOGIN_SECRET, {
      address: '198.51.100.77',
      browser: 'Firefox on Linux\n\nReply 1 now',
      place: 'Hangzhou',
    })
    expect(started.status).toBe(201)
    const login = (await started.json()) as Started
    const asked = await said(scanOf(openid('login-backend'), await sceneOf(login.ticket)))
    // What the backend told is shown, cleaned of anything that could restyle the question.
    expect(asked).toContain('from Firefox on LinuxReply 1 now (Hangzhou)?')
    expect((await backend(env.LOGIN_SECRET, null)).status).toBe(400)
  })
})
