import { exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FORGE_MODES, forgePushXml, openReply, signPush } from '../../src/debug/forge.ts'
import { parseXmlRoot } from '../../src/wechat/xml.ts'
import { VECTOR } from '../helpers/sample-vector.ts'
import { account, exchange, openid, postPush, signedRequest } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const text = (reply: string) => parseXmlRoot(reply)

describe.each(FORGE_MODES)('POST /wechat in %s mode', (mode) => {
  it('welcomes a QR follow by its scene, encrypted when the push was', async () => {
    const user = openid(mode)
    const answer = await exchange(
      forgePushXml('subscribe', { openid: user, scene: 'spring' }),
      mode,
    )
    expect(answer.status).toBe(200)
    expect(answer.encrypted).toBe(mode !== 'plaintext')
    expect(answer.signatureValid).toBe(true)
    expect(text(answer.reply)).toMatchObject({
      ToUserName: user,
      FromUserName: 'gh_wechat_edge',
      MsgType: 'text',
      Content: 'Welcome! Thanks for following via QR scene spring.',
    })
  })

  it('answers a location report with success, in plaintext', async () => {
    const answer = await exchange(forgePushXml('location_report', { openid: openid(mode) }), mode)
    expect(answer).toMatchObject({ status: 200, body: 'success' })
  })

  it('refuses a push whose signature does not hold', async () => {
    const { query, body } = await signPush(forgePushXml('text'), account, mode)
    const forged = query.replace(/signature=[0-9a-f]{4}/, 'signature=0000')
    const response = await exports.default.fetch(`https://edge.test/wechat?${forged}`, {
      method: 'POST',
      body,
    })
    expect(response.status).toBe(401)
  })
})

describe('WeChat’s sample safe-mode vector over HTTP', () => {
  const query = new URLSearchParams({
    signature: VECTOR.signature,
    timestamp: VECTOR.timestamp,
    nonce: VECTOR.nonce,
    encrypt_type: 'aes',
    msg_signature: VECTOR.msgSignature,
  })

  afterEach(() => {
    vi.useRealTimers()
  })

  it('accepts it at its own time, echoing the text encrypted', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Number(VECTOR.timestamp) * 1000 + 10_000 })
    const body = `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[${VECTOR.encrypt}]]></Encrypt></xml>`
    const response = await exports.default.fetch(`https://edge.test/wechat?${query}`, {
      method: 'POST',
      body,
    })
    expect(response.status).toBe(200)
    const reply = await openReply(await response.text(), account)
    expect(reply.signatureValid).toBe(true)
    expect(text(reply.plaintext)).toMatchObject({
      ToUserName: VECTOR.fromUserName,
      Content: VECTOR.content,
    })
  })

  it('refuses it today: its timestamp is outside the window', async () => {
    const response = await exports.default.fetch(`https://edge.test/wechat?${query}`, {
      method: 'POST',
      body: `<xml><Encrypt><![CDATA[${VECTOR.encrypt}]]></Encrypt></xml>`,
    })
    expect(response.status).toBe(401)
  })
})

describe('safe mode checks', () => {
  it('refuses a wrong msg_signature with 401', async () => {
    const { query, body } = await signPush(forgePushXml('text'), account, 'safe')
    const forged = query.replace(/msg_signature=[0-9a-f]{4}/, 'msg_signature=ffff')
    const response = await exports.default.fetch(`https://edge.test/wechat?${forged}`, {
      method: 'POST',
      body,
    })
    expect(response.status).toBe(401)
  })

  it('refuses a push sealed for another AppID with 400', async () => {
    const other = { ...account, appId: 'wx0000000000000000' }
    const { query, body } = await signPush(forgePushXml('text'), other, 'safe')
    const response = await exports.default.fetch(`https://edge.test/wechat?${query}`, {
      method: 'POST',
      body,
    })
    expect(response.status).toBe(400)
    // One answer for every failure behind a valid msg_signature: no padding oracle.
    expect(await response.text()).toBe('encrypted push could not be opened')
  })

  it('answers a retried push and the first attempt alike', async () => {
    const xml = forgePushXml('text', { openid: openid('retry'), content: 'same' })
    const first = await exchange(xml, 'safe')
    const again = await exchange(xml, 'safe')
    expect(again.reply).toBe(first.reply)
    expect(again.body).not.toBe(first.body)
  })
})

describe('REQUIRE_ENCRYPTION', () => {
  it('refuses plaintext pushes and takes encrypted ones', async () => {
    const send = async (mode: 'plaintext' | 'safe') =>
      fetchWith(await signedRequest(forgePushXml('text', { openid: openid('strict') }), mode), {
        REQUIRE_ENCRYPTION: 'true',
      })
    expect((await send('plaintext')).status).toBe(401)
    expect((await send('safe')).status).toBe(200)
  })
})

describe('the response', () => {
  it('says what it is', async () => {
    const response = await postPush(forgePushXml('text'))
    expect(response.headers.get('Content-Type')).toContain('application/xml')
    const quiet = await postPush(forgePushXml('view'))
    expect(quiet.headers.get('Content-Type')).toContain('text/plain')
  })
})
