import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml, signPush } from '../../src/debug/forge.ts'
import { wechatSignature } from '../../src/wechat/signature.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { referenceSamples } from '../helpers/reference-samples.ts'
import { account, exchange, postSigned } from '../helpers/wechat.ts'

async function answer(body: BodyInit) {
  const response = await postSigned(body)
  return { status: response.status, text: await response.text() }
}

const click = referenceSamples.click

describe('hostile XML', () => {
  it('entity expansion in a DOCTYPE (billion laughs): 400', async () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>${click.replace('EVENTKEY', '&lol3;')}`
    expect(await answer(laughs)).toEqual({ status: 400, text: 'DOCTYPE is not allowed' })
  })

  it('an external entity in a DOCTYPE: 400, nothing fetched', async () => {
    const xxe = `<!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>${click.replace('EVENTKEY', '&secret;')}`
    expect(await answer(xxe)).toEqual({ status: 400, text: 'DOCTYPE is not allowed' })
  })

  it('deep nesting: 400', async () => {
    const deep = `<xml>${'<a>'.repeat(5_000)}x${'</a>'.repeat(5_000)}</xml>`
    expect(await answer(deep)).toEqual({ status: 400, text: 'body is not well-formed XML' })
  })

  it('a body over 64 KiB with Content-Length: 413', async () => {
    const big = click.replace('EVENTKEY', 'k'.repeat(64 * 1024))
    expect((await answer(big)).status).toBe(413)
  })

  it('a body over 64 KiB streamed without Content-Length: 413', async () => {
    const chunk = new TextEncoder().encode('<xml>'.padEnd(8 * 1024, ' '))
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 12) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const response = await postSigned(stream)
    expect(response.headers.get('Content-Length')).not.toBe(String(12 * chunk.length))
    expect(response.status).toBe(413)
  })

  it('invalid UTF-8: 400', async () => {
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('<xml><Content>'),
      0xc3,
      0x28,
      ...new TextEncoder().encode('</Content></xml>'),
    ])
    expect(await answer(bytes)).toEqual({ status: 400, text: 'body is not UTF-8' })
  })

  it('repeated tags: 400', async () => {
    expect(await answer(click.replace('</xml>', '<EventKey>SECOND</EventKey></xml>'))).toEqual({
      status: 400,
      text: 'EventKey appears more than once',
    })
  })

  it.each(['__proto__', 'constructor', 'prototype'])(
    'a <%s> tag: 400, and nothing polluted',
    async (tag) => {
      const body = click.replace('</xml>', `<${tag}><polluted>yes</polluted></${tag}></xml>`)
      expect((await answer(body)).status).toBe(400)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    },
  )

  it('two roots: 400', async () => {
    expect((await answer(`${click}<xml/>`)).status).toBe(400)
  })

  it('an empty body: 400', async () => {
    expect(await answer('')).toEqual({ status: 400, text: 'expected a single <xml> root element' })
  })
})

describe('hostile fields', () => {
  it('missing fields: 400', async () => {
    expect(await answer(click.replace(/<FromUserName>.*<\/FromUserName>/, ''))).toEqual({
      status: 400,
      text: 'missing FromUserName',
    })
  })

  it('extra fields: ignored, answered', async () => {
    const extra = click.replace(
      '</xml>',
      '<Unexpected>1</Unexpected><AnotherOne><![CDATA[x]]></AnotherOne></xml>',
    )
    expect((await exchange(extra)).status).toBe(200)
  })

  it('a MsgType that does not match its fields: 400', async () => {
    expect(await answer(forgePushXml('image').replace('[image]', '[voice]'))).toEqual({
      status: 400,
      text: 'missing Format',
    })
  })

  it.each([
    ['a latitude of 1e308', referenceSamples.location.replace('23.137466', '1e308')],
    ['a latitude of NaN', referenceSamples.location.replace('23.137466', 'NaN')],
    ['a longitude of Infinity', referenceSamples.location.replace('113.352425', 'Infinity')],
    ['a longitude of 181', referenceSamples.location.replace('113.352425', '181')],
    ['a precision of -1', referenceSamples.location.replace('119.385040', '-1')],
    ['a CreateTime of 10^20', click.replace('123456789', '100000000000000000000')],
    ['a negative CreateTime', click.replace('123456789', '-5')],
    ['a MsgId of 30 digits', forgePushXml('text', { msgId: '1'.repeat(30) })],
  ])('%s: 400', async (_, body) => {
    expect((await answer(body)).status).toBe(400)
  })
})

describe('hostile requests', () => {
  async function signedAt(timestamp: number) {
    const ts = String(timestamp)
    const signature = await wechatSignature([account.token, ts, 'n'])
    return exports.default.fetch(
      `https://edge.test/wechat?signature=${signature}&timestamp=${ts}&nonce=n`,
      { method: 'POST', body: click },
    )
  }

  it.each([
    ['far in the past', 0],
    ['a day ago', Math.floor(Date.now() / 1000) - 86_400],
    ['far in the future', 4_102_444_800],
  ])('a timestamp %s: 401', async (_, timestamp) => {
    expect((await signedAt(timestamp)).status).toBe(401)
  })

  it('a signed request replayed outside the window: 401', async () => {
    const { query, body } = await signPush(
      forgePushXml('text'),
      account,
      'safe',
      String(Math.floor(Date.now() / 1000) - 301),
    )
    const response = await exports.default.fetch(`https://edge.test/wechat?${query}`, {
      method: 'POST',
      body,
    })
    expect(response.status).toBe(401)
  })

  it.each(['PUT', 'DELETE', 'PATCH'])('%s /wechat: 405', async (method) => {
    expect((await exports.default.fetch('https://edge.test/wechat', { method })).status).toBe(405)
  })

  it.each(['/wechat/extra', '/wechat.php', '/../etc/passwd', '/%00', '/debug'])(
    '%s: 404',
    async (path) => {
      expect((await exports.default.fetch(`https://edge.test${path}`)).status).toBe(404)
    },
  )

  it('an unknown admin route: 401 without the token (routes are not enumerable), 404 with it', async () => {
    expect((await exports.default.fetch('https://edge.test/admin/nothing')).status).toBe(401)
    expect(
      (await exports.default.fetch('https://edge.test/admin/nothing', { headers: ADMIN_HEADERS }))
        .status,
    ).toBe(404)
  })

  it('goes on serving after all of that', async () => {
    expect((await exchange(forgePushXml('text', { content: 'still here' }))).reply).toContain(
      'still here',
    )
  })
})
