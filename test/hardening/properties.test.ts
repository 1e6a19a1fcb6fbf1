import { exports } from 'cloudflare:workers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { decryptMessage, encryptMessage, importEncodingAesKey } from '../../src/wechat/crypto.ts'
import { PUSH_KINDS } from '../../src/wechat/push.ts'
import { renderReply, reply } from '../../src/wechat/reply.ts'
import { parseXmlRoot } from '../../src/wechat/xml.ts'
import { postSigned } from '../helpers/wechat.ts'

const ANSWERS = new Set([200, 400, 401, 413])

/** Mutations of a real push: cut it, splice in noise, duplicate or drop a slice. */
const mutatedPush = fc
  .tuple(
    fc.constantFrom(...PUSH_KINDS),
    fc.nat(),
    fc.nat(),
    fc.constantFrom('cut', 'splice', 'repeat', 'drop'),
    fc.string({ unit: 'binary', maxLength: 24 }),
  )
  .map(([kind, a, b, how, noise]) => {
    const xml = forgePushXml(kind)
    const i = a % xml.length
    const j = i + (b % (xml.length - i))
    switch (how) {
      case 'cut':
        return xml.slice(0, i)
      case 'splice':
        return xml.slice(0, i) + noise + xml.slice(j)
      case 'repeat':
        return xml.slice(0, j) + xml.slice(i, j) + xml.slice(j)
      default:
        return xml.slice(0, i) + xml.slice(j)
    }
  })

describe('whatever arrives, the answer is a declared status', () => {
  it('mutated pushes, signed', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedPush, async (body) => {
        const response = await postSigned(body)
        expect(ANSWERS).toContain(response.status)
        await response.arrayBuffer()
      }),
      { numRuns: 150 },
    )
  })

  it('random XML-ish text, signed', async () => {
    const tag = fc.constantFrom(
      'xml',
      'ToUserName',
      'FromUserName',
      'CreateTime',
      'MsgType',
      'Event',
      'EventKey',
      'Content',
      'MsgId',
      'Latitude',
      'item',
    )
    const node: fc.Arbitrary<string> = fc.letrec<{ node: string }>((self) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string({ maxLength: 12 }),
        fc
          .tuple(tag, fc.array(self('node'), { maxLength: 4 }))
          .map(([name, children]) => `<${name}>${children.join('')}</${name}>`),
        fc.string({ maxLength: 12 }).map((text) => `<![CDATA[${text}]]>`),
      ),
    })).node
    await fc.assert(
      fc.asyncProperty(node, async (body) => {
        const response = await postSigned(`<xml>${body}</xml>`)
        expect(ANSWERS).toContain(response.status)
        await response.arrayBuffer()
      }),
      { numRuns: 150 },
    )
  })

  it('random bytes, signed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
        const response = await postSigned(bytes)
        expect(ANSWERS).toContain(response.status)
        await response.arrayBuffer()
      }),
      { numRuns: 100 },
    )
  })

  it('random query strings and methods', async () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS')
    const query = fc.dictionary(
      fc.constantFrom(
        'signature',
        'timestamp',
        'nonce',
        'echostr',
        'encrypt_type',
        'msg_signature',
        'x',
      ),
      fc.string({ maxLength: 50 }),
    )
    await fc.assert(
      fc.asyncProperty(method, query, async (verb, params) => {
        const response = await exports.default.fetch(
          `https://edge.test/wechat?${new URLSearchParams(params)}`,
          {
            method: verb,
            ...(verb === 'POST' ? { body: forgePushXml('text') } : {}),
          },
        )
        expect([...ANSWERS, 405]).toContain(response.status)
        await response.arrayBuffer()
      }),
      { numRuns: 150 },
    )
  })
})

describe('safe mode round trips', () => {
  it('encrypts and decrypts random messages for random AppIDs and keys', async () => {
    const base64 = fc.constantFrom(
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
    )
    const key = fc.array(base64, { minLength: 43, maxLength: 43 }).map((chars) => chars.join(''))
    const appId = fc.string({ minLength: 1, maxLength: 32 })
    await fc.assert(
      fc.asyncProperty(
        key,
        appId,
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        async (encodingAesKey, app, message) => {
          const aes = await importEncodingAesKey(encodingAesKey)
          const sealed = await encryptMessage(aes, message, app)
          expect(await decryptMessage(aes, sealed, app)).toBe(message)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('replies carry any text', () => {
  // What a conforming XML reader sees: only the characters of XML 1.0's Char production
  // (section 2.2), with line ends normalised to \n (section 2.11).
  const isXmlChar = (c: number) =>
    c === 0x9 ||
    c === 0xa ||
    c === 0xd ||
    (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) ||
    (c >= 0x10000 && c <= 0x10ffff)
  const asXmlReads = (text: string) =>
    [...text]
      .filter((char) => isXmlChar(char.codePointAt(0) ?? 0))
      .join('')
      .replace(/\r\n?/g, '\n')

  const text = fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }),
    fc
      .array(
        fc.constantFrom(']]>', ']]', ']', '>', '<', '&', '你好', '👋', '\u0000', '\r\n', ' '),
        { minLength: 1, maxLength: 30 },
      )
      .map((parts) => parts.join('')),
  )

  it('renders and parses back to the same text', () => {
    fc.assert(
      fc.property(text, (content) => {
        fc.pre(asXmlReads(content).length > 0)
        const xml = renderReply(reply.text(content), { toUser: 'o', fromUser: 'gh', createTime: 1 })
        expect(parseXmlRoot(xml).Content).toBe(asXmlReads(content))
      }),
      { numRuns: 500 },
    )
  })
})
