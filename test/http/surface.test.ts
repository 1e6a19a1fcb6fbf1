import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WEAK_TOKEN_WARNING } from '../../src/config.ts'
import { forgePushXml, signPush } from '../../src/debug/forge.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { captureLogs } from '../helpers/logs.ts'
import { account, openid, postPush } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

/** GET / as the operator asks it: with the admin token, which shows the details. */
const asOperator = () => new Request('https://edge.test/', { headers: ADMIN_HEADERS })

describe('GET /, health', () => {
  it('tells a stranger its name, version and readiness, nothing more', async () => {
    const response = await exports.default.fetch('https://edge.test/')
    expect(await response.json()).toEqual({
      name: 'wechat-edge',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      ready: true,
    })
    const wrong = await exports.default.fetch('https://edge.test/', {
      headers: { Authorization: 'Bearer not-the-token' },
    })
    expect(Object.keys(await wrong.json())).toEqual(['name', 'version', 'ready'])
  })

  it('shows the operator its modes, problems and warnings, never a secret', async () => {
    const response = await exports.default.fetch(asOperator())
    const body = await response.text()
    expect(JSON.parse(body)).toEqual({
      name: 'wechat-edge',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      ready: true,
      modes: { plaintext: true, compatible: true, safe: true },
      problems: [],
      // The test account's Token, `spamtest`, is guessable; it accepts plaintext beside an
      // EncodingAESKey; and its WECHAT_API_BASE is the fake, not WeChat's https host.
      warnings: [
        expect.stringContaining('WECHAT_API_BASE is not WeChat’s API'),
        WEAK_TOKEN_WARNING,
        expect.stringContaining('REQUIRE_ENCRYPTION=false accepts plaintext pushes'),
      ],
      talkBack: 'stable_token',
      web: { oauth: 'on', jssdk: 'on', origins: expect.any(Array) },
      // The AI assistant: which model answers (the fake, here), never its key.
      assistant: { provider: 'openai', model: 'fake-model' },
      // Each account the deployment serves, the env account (WECHAT_TOKEN, …) among them.
      accounts: {
        env: {
          ready: true,
          modes: { plaintext: true, compatible: true, safe: true },
          problems: [],
          warnings: [WEAK_TOKEN_WARNING, expect.stringContaining('REQUIRE_ENCRYPTION=false')],
          talkBack: 'stable_token',
          web: { oauth: 'on', jssdk: 'on', origins: expect.any(Array) },
        },
        // The tests' WECHAT_ACCOUNTS (vitest.config.ts): three served, one whose Token is missing.
        shop: expect.objectContaining({ ready: true }),
        news: expect.objectContaining({ ready: true }),
        quiet: expect.objectContaining({ ready: true }),
        broken: expect.objectContaining({ ready: false }),
      },
      // The tests' third-party platform (vitest.config.ts): its ticket's age, never the ticket.
      platform: { ticketAgeMs: null, ready: false, authorized: 0 },
    })
    for (const secret of Object.values(account)) expect(body).not.toContain(secret)
    for (const secret of [
      env.WECHAT_PLATFORM_APPSECRET,
      env.WECHAT_PLATFORM_TOKEN,
      env.WECHAT_PLATFORM_ENCODING_AES_KEY,
    ]) {
      expect(body).not.toContain(secret)
    }
    const configured = Object.values(JSON.parse(env.WECHAT_ACCOUNTS) as Record<string, object>)
    for (const entry of configured) {
      for (const [field, value] of Object.entries(entry)) {
        if (!['appId', 'requireEncryption', 'loginSite', 'aiPassiveOnly'].includes(field)) {
          expect(body).not.toContain(value)
        }
      }
    }
  })

  it('says that talking back is off without an AppID', async () => {
    const health = await fetchWith(asOperator(), {
      WECHAT_APPID: '',
      WECHAT_ENCODING_AES_KEY: '',
    })
    expect(await health.json()).toMatchObject({ talkBack: 'off' })
  })

  it('names a missing secret, and pushes get a clear 503 rather than a crash', async () => {
    const health = await fetchWith(asOperator(), { WECHAT_TOKEN: '' })
    expect(await health.json()).toMatchObject({
      ready: false,
      problems: ['WECHAT_TOKEN is not set'],
    })
    const push = await fetchWith(
      new Request('https://edge.test/wechat?signature=a&timestamp=1&nonce=1', {
        method: 'POST',
        body: '<xml/>',
      }),
      { WECHAT_TOKEN: '' },
    )
    expect(push.status).toBe(503)
    expect(await push.text()).toBe('wechat-edge is not configured: WECHAT_TOKEN is not set')
  })

  it('names an EncodingAESKey of the wrong shape without showing it', async () => {
    const health = await fetchWith(asOperator(), {
      WECHAT_ENCODING_AES_KEY: 'tooShortSecret',
    })
    const body = await health.text()
    expect(body).toContain('WECHAT_ENCODING_AES_KEY must be 43 base64 characters')
    expect(body).not.toContain('tooShortSecret')
  })
})

describe('status codes', () => {
  it('404 for an unknown route', async () => {
    const response = await exports.default.fetch('https://edge.test/nowhere')
    expect(response.status).toBe(404)
  })

  it('405 for a wrong method on /wechat, saying which are allowed', async () => {
    const response = await exports.default.fetch('https://edge.test/wechat', { method: 'PUT' })
    expect(response.status).toBe(405)
    expect(response.headers.get('Allow')).toBe('GET, POST')
  })

  it('413 for a body declared over 64 KiB, from the header alone, before the signature', async () => {
    const body = `<xml><Content>${'x'.repeat(64 * 1024)}</Content></xml>`
    const response = await fetchWith(
      new Request('https://edge.test/wechat', {
        method: 'POST',
        // What an HTTP client sends with a body of known length (in-process fetch leaves it out).
        headers: { 'Content-Length': String(body.length) },
        body,
      }),
    )
    expect(response.status).toBe(413)
  })

  it('400 for a signed body that is not a push', async () => {
    const { query } = await signPush(forgePushXml('text'), account, 'plaintext')
    const response = await exports.default.fetch(`https://edge.test/wechat?${query}`, {
      method: 'POST',
      body: 'not xml',
    })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('expected a single <xml> root element')
  })
})

describe('logs', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('writes one structured line per push, without content or secrets', async () => {
    const lines = captureLogs('log')
    const content = 'my private message 12345'
    const sender = openid('log')
    await postPush(forgePushXml('text', { openid: sender, content, msgId: '9876543210' }))
    const pushLines = lines.records.filter((entry) => entry.event === 'push')
    expect(pushLines).toEqual([
      {
        event: 'push',
        requestId: expect.any(String),
        account: 'env',
        kind: 'text',
        key: expect.stringMatching(/^msg:[0-9a-f]{40}$/),
        mode: 'plaintext',
        outcome: 'replied',
        reply: 'text',
        ms: expect.any(Number),
        // The test bot's middleware times the bot into the line.
        botMs: expect.any(Number),
      },
    ])
    const all = lines.text()
    expect(all).not.toContain(content)
    expect(all).not.toContain(sender)
    for (const secret of Object.values(account)) expect(all).not.toContain(secret)
  })
})
