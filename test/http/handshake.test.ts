import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { wechatSignature } from '../../src/wechat/signature.ts'
import { account } from '../helpers/wechat.ts'

async function handshake(overrides: Record<string, string | undefined> = {}) {
  const timestamp = String(Math.floor(Date.now() / 1000))
  const nonce = '837460'
  const params: Record<string, string | undefined> = {
    signature: await wechatSignature([account.token, timestamp, nonce]),
    timestamp,
    nonce,
    echostr: '4937495038472',
    ...overrides,
  }
  const query = new URLSearchParams(
    Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined),
  )
  return exports.default.fetch(`https://edge.test/wechat?${query}`)
}

describe('GET /wechat, the URL-verification handshake', () => {
  it('answers echostr when the signature holds', async () => {
    const response = await handshake()
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('4937495038472')
  })

  it.each([
    ['without a signature', { signature: undefined }],
    ['without a timestamp', { timestamp: undefined }],
    ['without a nonce', { nonce: undefined }],
    ['with a wrong signature', { signature: '0'.repeat(40) }],
  ])('refuses a request %s with 401', async (_, overrides) => {
    const response = await handshake(overrides)
    expect(response.status).toBe(401)
    expect(await response.text()).not.toContain('4937495038472')
  })

  it('refuses a correctly signed timestamp outside the window with 401', async () => {
    const old = String(Math.floor(Date.now() / 1000) - 301)
    const response = await handshake({
      timestamp: old,
      signature: await wechatSignature([account.token, old, '837460']),
    })
    expect(response.status).toBe(401)
    expect(await response.text()).toBe('timestamp outside the allowed window')
  })

  it('refuses a signed request without echostr with 400', async () => {
    expect((await handshake({ echostr: undefined })).status).toBe(400)
  })
})
