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

describe('the fake WeChat API’s web authorization', () => {
  const authorizeQuery = (fields: Record<string, string>) =>
    new URLSearchParams({
      appid: 'wxfakerules000001',
      redirect_uri: 'https://edge.test/oauth/callback',
      response_type: 'code',
      scope: 'snsapi_userinfo',
      state: 'abc123',
      ...fields,
    }).toString()

  /** The browser's trip through the consent page: where it lands. */
  async function consent(fake: ReturnType<typeof makeFake>, fields: Record<string, string>) {
    const response = await fake.request(`/connect/oauth2/authorize?${authorizeQuery(fields)}`)
    return { status: response.status, landing: new URL(response.headers.get('Location') ?? 'x:') }
  }

  const trade = async (
    fake: ReturnType<typeof makeFake>,
    code: string,
    appid = 'wxfakerules000001',
  ) =>
    (
      await fake.request(
        `/sns/oauth2/access_token?appid=${appid}&secret=s&code=${code}&grant_type=authorization_code`,
      )
    ).json() as Promise<Record<string, unknown>>

  it('asks on a page, then sends the browser back with a code and the state', async () => {
    const { fake } = setUp()
    const page = await fake.request(`/connect/oauth2/authorize?${authorizeQuery({})}`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('name="consent" value="allow"')
    const user = openid('fake-web')
    const { status, landing } = await consent(fake, { consent: 'allow', openid: user })
    expect(status).toBe(302)
    expect(landing.origin + landing.pathname).toBe('https://edge.test/oauth/callback')
    expect(landing.searchParams.get('state')).toBe('abc123')
    const code = landing.searchParams.get('code') ?? ''
    expect(await trade(fake, code)).toMatchObject({
      openid: user,
      scope: 'snsapi_userinfo',
      access_token: expect.stringMatching(/^FAKE_WEB_TOKEN_/),
      unionid: expect.any(String),
    })
  })

  it('sends a refusal back without a code', async () => {
    const { landing } = await consent(setUp().fake, { consent: 'refuse' })
    expect(landing.searchParams.has('code')).toBe(false)
    expect(landing.searchParams.get('state')).toBe('abc123')
  })

  it('refuses what WeChat’s page refuses: no appid, a bad scope, a state not a-zA-Z0-9', async () => {
    const { fake } = setUp()
    const refused: Record<string, string>[] = [
      { appid: '' },
      { scope: 'snsapi_login' },
      { response_type: 'token' },
      { state: 'a-b' },
      { state: 'a'.repeat(129) },
      { redirect_uri: 'javascript:alert(1)' },
    ]
    for (const fields of refused) {
      expect(
        (await fake.request(`/connect/oauth2/authorize?${authorizeQuery(fields)}`)).status,
      ).toBe(400)
    }
    // What it reflects is escaped.
    const page = await fake.request(
      `/connect/oauth2/authorize?${authorizeQuery({ redirect_uri: 'https://edge.test/"><script>x</script>' })}`,
    )
    expect(await page.text()).not.toContain('<script>x')
  })

  it('trades a code once (then 40163), for its own appid only, within 5 minutes (else 40029)', async () => {
    const { fake } = setUp()
    const { landing } = await consent(fake, { consent: 'allow', openid: openid('fake-once') })
    const code = landing.searchParams.get('code') ?? ''
    expect(await trade(fake, code, 'wxanotherapp00001')).toMatchObject({ errcode: 40029 })
    expect(await trade(fake, 'made-up')).toMatchObject({ errcode: 40029 })
    expect(await trade(fake, code)).toHaveProperty('openid')
    expect(await trade(fake, code)).toMatchObject({ errcode: 40163 })
    const stats = await (await fake.request('/fake/stats?appid=wxfakerules000001')).json()
    expect(stats).toMatchObject({ codeTrades: 3 })
  })

  it('gives the profile for snsapi_userinfo only (48001 for snsapi_base), to its own user', async () => {
    const { fake } = setUp()
    const user = openid('fake-profile')
    const profile = async (scope: string, who = user) => {
      const { landing } = await consent(fake, { consent: 'allow', openid: user, scope })
      const traded = await trade(fake, landing.searchParams.get('code') ?? '')
      const query = `access_token=${traded.access_token}&openid=${who}&lang=zh_CN`
      return (await fake.request(`/sns/userinfo?${query}`)).json()
    }
    expect(await profile('snsapi_userinfo')).toMatchObject({
      openid: user,
      nickname: expect.any(String),
    })
    expect(await profile('snsapi_base')).toMatchObject({ errcode: 48001 })
    expect(await profile('snsapi_userinfo', openid('fake-other'))).toMatchObject({ errcode: 40003 })
    expect(
      await (await fake.request(`/sns/userinfo?access_token=nope&openid=${user}`)).json(),
    ).toMatchObject({
      errcode: 40001,
    })
  })
})

describe('the fake WeChat API’s jsapi_ticket and user info', () => {
  it('issues a ticket for a valid token only (40001), of type jsapi or wx_card', async () => {
    const { fake, token } = setUp()
    const ticket = (access: string, type = 'jsapi') =>
      jsonOf(fake.request(`/cgi-bin/ticket/getticket?access_token=${access}&type=${type}`))
    const access = String((await token()).access_token)
    expect(await ticket(access)).toMatchObject({
      errcode: 0,
      ticket: expect.stringMatching(/^FAKE_TICKET_/),
      expires_in: 7200,
    })
    expect(await ticket('stale')).toMatchObject({ errcode: 40001 })
    expect(await ticket(access, 'other')).toMatchObject({ errcode: 40097 })
  })

  it('checks a page’s config as wx.config would, against the appid’s tickets', async () => {
    const { fake, token, appid } = setUp()
    const access = String((await token()).access_token)
    const { ticket } = (await (
      await fake.request(`/cgi-bin/ticket/getticket?access_token=${access}&type=jsapi`)
    ).json()) as { ticket: string }
    const url = 'https://shop.example.com/p?x=1'
    const signature = await sha1Of(`jsapi_ticket=${ticket}&noncestr=n0nce&timestamp=17&url=${url}`)
    const check = (fields: object) =>
      jsonOf(
        fake.request('/fake/jssdk-check', {
          method: 'POST',
          body: JSON.stringify({
            appId: appid,
            url: `${url}#top`,
            timestamp: 17,
            nonceStr: 'n0nce',
            signature,
            ...fields,
          }),
        }),
      )
    expect(await check({})).toEqual({ errMsg: 'config:ok' })
    expect(await check({ timestamp: 18 })).toEqual({ errMsg: 'config:invalid signature' })
    expect(await check({ appId: 'wxanotherapp00001' })).toEqual({
      errMsg: 'config:invalid signature',
    })
  })

  it('says whether a user follows, as WeChat learns it from their pushes', async () => {
    const { fake, token, interact } = setUp()
    const access = String((await token()).access_token)
    const id = openid('fake-follows')
    const info = () =>
      jsonOf(fake.request(`/cgi-bin/user/info?access_token=${access}&openid=${id}`))
    expect(await info()).toEqual({ subscribe: 0, openid: id })
    await interact(forgePushXml('subscribe', { openid: id }))
    expect(await info()).toMatchObject({ subscribe: 1, openid: id })
    await interact(forgePushXml('unsubscribe', { openid: id }))
    expect(await info()).toEqual({ subscribe: 0, openid: id })
  })
})

async function jsonOf(response: Response | Promise<Response>): Promise<unknown> {
  return (await response).json()
}

async function sha1Of(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text))
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('')
}

describe('the fake WeChat API’s notifications', () => {
  const TEMPLATE = 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc'
  const data = { thing1: { value: 'Parcel' }, time2: { value: '15:01' } }
  const notify = async (
    rules: ReturnType<typeof setUp>,
    path: 'subscribe/bizsend' | 'template/send',
    body: Record<string, unknown>,
  ) => {
    const access = String((await rules.token()).access_token)
    return rules.post(`/cgi-bin/message/${path}?access_token=${access}`, body)
  }
  const popup = (id: string, choices: Record<string, 'accept' | 'reject'> = {}) =>
    forgePushXml('subscribe_msg_popup_event', { openid: id, templateIds: [TEMPLATE], choices })

  it('answers bizsend as its page says: 40003, 40037, 47003, 43101 without an acceptance', async () => {
    const rules = setUp()
    const id = openid('fake-bizsend')
    const send = (body: Record<string, unknown>) =>
      notify(rules, 'subscribe/bizsend', { touser: id, template_id: TEMPLATE, data, ...body })
    expect((await send({ touser: 'not an openid!' })).errcode).toBe(40003)
    expect((await send({ template_id: 'no such id' })).errcode).toBe(40037)
    expect((await send({ data: { thing1: { value: '' } } })).errcode).toBe(47003)
    expect(
      (await send({ data: { thing1: { value: '一二三四五六七八九十一二三四五六七八九十一' } } }))
        .errcode,
    ).toBe(47003)
    expect((await send({})).errcode).toBe(43101)
  })

  it('takes one notification per acceptance of a one-time template, and reports it back', async () => {
    const rules = setUp()
    const id = openid('fake-consent')
    await rules.interact(popup(id))
    const body = { touser: id, template_id: TEMPLATE, data }
    expect((await notify(rules, 'subscribe/bizsend', body)).errcode).toBe(0)
    expect((await notify(rules, 'subscribe/bizsend', body)).errcode).toBe(43101)
    const pushes = await (await rules.fake.request(`/fake/pushes?touser=${id}`)).json<
      { xml: string }[]
    >()
    expect(pushes).toHaveLength(1)
    expect(pushes[0]?.xml).toContain('<Event><![CDATA[subscribe_msg_sent_event]]></Event>')
    // A reject in the user's settings ends a long-term template's acceptance.
    await rules.fake.request('/fake/template', {
      method: 'POST',
      body: JSON.stringify({ for: rules.appid, templateId: TEMPLATE, subscription: 'long_term' }),
    })
    await rules.interact(popup(id))
    expect((await notify(rules, 'subscribe/bizsend', body)).errcode).toBe(0)
    expect((await notify(rules, 'subscribe/bizsend', body)).errcode).toBe(0)
    await rules.interact(
      forgePushXml('subscribe_msg_change_event', { openid: id, templateIds: [TEMPLATE] }),
    )
    expect((await notify(rules, 'subscribe/bizsend', body)).errcode).toBe(43101)
  })

  it('sends template messages to followers only, once per client_msg_id, with a 64-bit msgid', async () => {
    const rules = setUp()
    const id = openid('fake-template')
    const body = { touser: id, template_id: TEMPLATE, data, client_msg_id: 'receipt-1' }
    expect((await notify(rules, 'template/send', body)).errcode).toBe(43004)
    await rules.interact(forgePushXml('subscribe', { openid: id }))
    const access = String((await rules.token()).access_token)
    const raw = async () =>
      (
        await rules.fake.request(`/cgi-bin/message/template/send?access_token=${access}`, {
          method: 'POST',
          body: JSON.stringify(body),
        })
      ).text()
    const first = await raw()
    expect(first).toMatch(/^\{"errcode":0,"errmsg":"ok","msgid":\d+\}$/)
    expect(await raw()).toBe(first)
    const taken = await (await rules.fake.request(`/fake/notifications?touser=${id}`)).json()
    expect(taken).toHaveLength(1)
  })
})
