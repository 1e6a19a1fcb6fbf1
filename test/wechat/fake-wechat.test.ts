/**
 * The fake WeChat API is as strict as WeChat (src/debug/fake-wechat-rules.ts cites each rule):
 * a lenient fake lets tests pass where production fails.
 */

import { describe, expect, it } from 'vitest'
import { fakeWechat as makeFake } from '../../src/debug/fake-wechat.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import { openid } from '../helpers/wechat.ts'

function setUp() {
  const fake = makeFake()
  const appid = 'wxfakerules000001'
  const post = async (path: string, body: unknown) =>
    (await fake.request(path, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<
      Record<string, unknown>
    >
  const token = async (force = false) =>
    post('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid,
      secret: 's',
      force_refresh: force,
    })
  const interact = (xml: string) => fake.request('/fake/interact', { method: 'POST', body: xml })
  const send = async (touser: string, body: object, with_?: string) => {
    const access = with_ ?? String((await token()).access_token)
    return (await post(`/cgi-bin/message/custom/send?access_token=${access}`, { touser, ...body }))
      .errcode
  }
  const typing = async (touser: string, command: string) =>
    (
      await post(`/cgi-bin/message/custom/typing?access_token=${(await token()).access_token}`, {
        touser,
        command,
      })
    ).errcode
  return { fake, appid, post, token, interact, send, typing }
}

const text = (content: string) => ({ msgtype: 'text', text: { content } })
const nowSeconds = () => Math.floor(Date.now() / 1000)

describe('the fake WeChat API’s windows', () => {
  it('refuses a user who never interacted (45015), then 5 in 48 h of a message (45047)', async () => {
    const { interact, send } = setUp()
    const id = openid('fake-five')
    expect(await send(id, text('hi'))).toBe(45015)
    await interact(forgePushXml('text', { openid: id }))
    const codes = []
    for (let i = 0; i < 6; i++) codes.push(await send(id, text(`m${i}`)))
    expect(codes).toEqual([0, 0, 0, 0, 0, 45047])
  })

  it('allows 3 in a minute of a click, a follow, a scan or a menu-message tap; none after', async () => {
    const { interact, send } = setUp()
    for (const [kind, fields] of [
      ['click', {}],
      ['subscribe', {}],
      ['scan', {}],
      ['text', { menuId: '101' }],
    ] as const) {
      const id = openid(`fake-${kind}`)
      await interact(forgePushXml(kind, { openid: id, ...fields }))
      const codes = []
      for (let i = 0; i < 4; i++) codes.push(await send(id, text('x')))
      expect(codes).toEqual([0, 0, 0, 45047])
    }
    const late = openid('fake-late-click')
    await interact(forgePushXml('click', { openid: late, createTime: nowSeconds() - 61 }))
    expect(await send(late, text('x'))).toBe(45015)
  })

  it('does not add windows up: a follow and a message allow 5, not 8', async () => {
    const { interact, send } = setUp()
    const id = openid('fake-no-sum')
    await interact(forgePushXml('text', { openid: id }))
    await interact(forgePushXml('subscribe', { openid: id }))
    const codes = []
    for (let i = 0; i < 6; i++) codes.push(await send(id, text('x')))
    expect(codes).toEqual([0, 0, 0, 0, 0, 45047])
  })
})

describe('the fake WeChat API’s content rules', () => {
  it('refuses text past 2,048 bytes (45002), empty text (44004), two articles (45008)', async () => {
    const { interact, send } = setUp()
    const id = openid('fake-content')
    await interact(forgePushXml('text', { openid: id }))
    expect(await send(id, text('中'.repeat(683)))).toBe(45002)
    expect(await send(id, text(''))).toBe(44004)
    const article = { title: 'a', url: 'https://a.example' }
    expect(await send(id, { msgtype: 'news', news: { articles: [article, article] } })).toBe(45008)
    expect(await send(id, { msgtype: 'fax', fax: {} })).toBe(40008)
    // None of the refused ones took a place: five still go.
    const codes = []
    for (let i = 0; i < 5; i++) codes.push(await send(id, text('中'.repeat(682))))
    expect(codes).toEqual([0, 0, 0, 0, 0])
  })
})

describe('the fake WeChat API’s typing rules', () => {
  it('needs an interaction within 30 s (45080), refuses a second while shown (45081)', async () => {
    const { interact, typing } = setUp()
    const id = openid('fake-typing')
    await interact(forgePushXml('text', { openid: id, createTime: nowSeconds() - 31 }))
    expect(await typing(id, 'Typing')).toBe(45080)
    await interact(forgePushXml('text', { openid: id }))
    expect(await typing(id, 'Typing')).toBe(0)
    expect(await typing(id, 'Typing')).toBe(45081)
    expect(await typing(id, 'CancelTyping')).toBe(0)
    expect(await typing(id, 'Typing')).toBe(0)
    expect(await typing(id, 'Wave')).toBe(45072)
  })
})

describe('the fake WeChat API’s tokens', () => {
  it('rotates a token in its last 5 minutes, the old one valid 5 more; refuses others', async () => {
    const { fake, interact, send, token, appid } = setUp()
    const id = openid('fake-rotation')
    await interact(forgePushXml('text', { openid: id }))
    const first = String((await token()).access_token)
    expect((await token()).access_token).toBe(first)
    await fake.request('/fake/age', {
      method: 'POST',
      body: JSON.stringify({ appid, seconds: 7200 - 240 }),
    })
    const second = String((await token()).access_token)
    expect(second).not.toBe(first)
    expect(await send(id, text('old'), first)).toBe(0)
    expect(await send(id, text('new'), second)).toBe(0)
    expect(await send(id, text('made up'), 'NOT_A_TOKEN')).toBe(40001)
  })

  it('forces a refresh at most every 30 s (45011) and 20 times a day (45009)', async () => {
    const { fake, token, appid } = setUp()
    const first = String((await token()).access_token)
    const forced = await token(true)
    expect(forced.access_token).not.toBe(first)
    expect((await token(true)).errcode).toBe(45011)
    const age = () =>
      fake.request('/fake/age', { method: 'POST', body: JSON.stringify({ appid, seconds: 31 }) })
    for (let i = 1; i < 20; i++) {
      await age()
      expect((await token(true)).access_token).toEqual(expect.any(String))
    }
    await age()
    expect((await token(true)).errcode).toBe(45009)
  })

  it('can take a send and answer it late', async () => {
    const { fake, interact, send } = setUp()
    const id = openid('fake-late')
    await interact(forgePushXml('text', { openid: id }))
    await fake.request('/fake/late', { method: 'POST', body: JSON.stringify({ for: id, ms: 300 }) })
    const started = Date.now()
    expect(await send(id, text('slow'))).toBe(0)
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    const sent = (await (await fake.request(`/fake/sent?touser=${id}`)).json()) as unknown[]
    expect(sent).toHaveLength(1)
  })
})
