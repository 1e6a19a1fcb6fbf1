import { describe, expect, it } from 'vitest'
import { cdata, type Reply, renderReply, reply } from '../../src/wechat/reply.ts'
import { parseXmlRoot, type XmlElement } from '../../src/wechat/xml.ts'

const address = { toUser: 'oUser', fromUser: 'gh_account', createTime: 1764230400 }
const render = (r: Reply) => parseXmlRoot(renderReply(r, address))

describe('renderReply', () => {
  it('addresses the reply and stamps it in seconds', () => {
    const xml = render(reply.text('hi'))
    expect(xml).toMatchObject({
      ToUserName: 'oUser',
      FromUserName: 'gh_account',
      CreateTime: '1764230400',
    })
    expect(renderReply(reply.text('hi'), { ...address, createTime: 1764230400.9 })).toContain(
      '<CreateTime>1764230400</CreateTime>',
    )
  })

  it.each<[string, Reply, XmlElement]>([
    ['text', reply.text('你好'), { MsgType: 'text', Content: '你好' }],
    ['image', reply.image('MEDIA'), { MsgType: 'image', Image: { MediaId: 'MEDIA' } }],
    ['voice', reply.voice('MEDIA'), { MsgType: 'voice', Voice: { MediaId: 'MEDIA' } }],
    [
      'video',
      reply.video('MEDIA', { title: 'T', description: 'D' }),
      { MsgType: 'video', Video: { MediaId: 'MEDIA', Title: 'T', Description: 'D' } },
    ],
    [
      'music',
      reply.music('THUMB', {
        title: 'T',
        description: 'D',
        musicUrl: 'http://m',
        hqMusicUrl: 'http://hq',
      }),
      {
        MsgType: 'music',
        Music: {
          Title: 'T',
          Description: 'D',
          MusicUrl: 'http://m',
          HQMusicUrl: 'http://hq',
          ThumbMediaId: 'THUMB',
        },
      },
    ],
    [
      'news',
      reply.news([
        { title: 'A', description: 'a', picUrl: 'http://p/a', url: 'http://u/a' },
        { title: 'B', url: 'http://u/b' },
      ]),
      {
        MsgType: 'news',
        ArticleCount: '2',
        Articles: {
          item: [
            { Title: 'A', Description: 'a', PicUrl: 'http://p/a', Url: 'http://u/a' },
            { Title: 'B', Url: 'http://u/b' },
          ],
        },
      },
    ],
    [
      'transfer_customer_service',
      reply.transferCustomerService(),
      { MsgType: 'transfer_customer_service' },
    ],
    [
      'transfer_customer_service to one agent',
      reply.transferCustomerService('kf2001@gh_account'),
      { MsgType: 'transfer_customer_service', TransInfo: { KfAccount: 'kf2001@gh_account' } },
    ],
  ])('renders %s and parses back', (_, r, expected) => {
    expect(render(r)).toMatchObject(expected)
  })
})

describe('text is carried safely', () => {
  it.each([
    ['a CDATA terminator', 'a]]>b', 'a]]>b'],
    ['several terminators', ']]>]]>', ']]>]]>'],
    ['markup', '<xml></xml> & &amp;', '<xml></xml> & &amp;'],
    ['CJK and emoji', '微信 👋🏽', '微信 👋🏽'],
    ['control characters XML forbids', 'a\u0000b\u0008c\u001Fd\tok\n', 'abcd\tok\n'],
    ['a lone surrogate', 'a\uD800b', 'ab'],
  ])('carries %s', (_, content, expected) => {
    expect(render(reply.text(content)).Content).toBe(expected)
  })

  it('splits ]]> across two CDATA sections', () => {
    expect(cdata('a]]>b')).toBe('<![CDATA[a]]]]><![CDATA[>b]]>')
  })
})

describe('builders refuse what WeChat would show as an error', () => {
  it('refuses empty text, a news reply of no or nine articles, and an empty media id', () => {
    expect(() => reply.text('')).toThrow(RangeError)
    expect(() => reply.text('\u0000\u0001')).toThrow(RangeError)
    expect(() => reply.news([])).toThrow(RangeError)
    expect(() => reply.news(Array.from({ length: 9 }, () => ({ title: 't' })))).toThrow(RangeError)
    expect(() => reply.image('')).toThrow(RangeError)
  })
})
