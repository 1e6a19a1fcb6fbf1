import { describe, expect, expectTypeOf, it } from 'vitest'
import { FORGE_DEFAULTS, forgePushXml } from '../../src/debug/forge.ts'
import { dedupKey } from '../../src/wechat/dedup-key.ts'
import { MalformedPushError } from '../../src/wechat/errors.ts'
import { PUSH_KINDS, type PushKind, parsePush } from '../../src/wechat/push.ts'
import { parseXmlRoot } from '../../src/wechat/xml.ts'
import { referenceSamples } from '../helpers/reference-samples.ts'

const parse = (xml: string) => parsePush(parseXmlRoot(xml))
const base = { toUserName: 'toUser', fromUserName: 'FromUser', createTime: 123456789 }

describe('the reference page, sample by sample', () => {
  it('parses a follow', () => {
    expect(parse(referenceSamples.subscribe)).toEqual({
      ...base,
      kind: 'subscribe',
      scene: null,
      ticket: null,
    })
  })

  it('parses an unfollow (the follow sample with Event unsubscribe)', () => {
    const xml = referenceSamples.subscribe.replace('[subscribe]', '[unsubscribe]')
    expect(parse(xml)).toEqual({ ...base, kind: 'unsubscribe' })
  })

  it('parses a QR follow, scene without its qrscene_ prefix', () => {
    expect(parse(referenceSamples.qrSubscribe)).toEqual({
      ...base,
      kind: 'subscribe',
      scene: '123123',
      ticket: 'TICKET',
    })
  })

  it('parses a scan by a follower', () => {
    expect(parse(referenceSamples.scan)).toEqual({
      ...base,
      kind: 'scan',
      scene: 'SCENE_VALUE',
      ticket: 'TICKET',
    })
  })

  it('parses a location report, its numbers on purpose', () => {
    expect(parse(referenceSamples.location)).toEqual({
      ...base,
      fromUserName: 'fromUser',
      kind: 'location_report',
      latitude: 23.137466,
      longitude: 113.352425,
      precision: 119.38504,
    })
  })

  it('parses a menu click', () => {
    expect(parse(referenceSamples.click)).toEqual({ ...base, kind: 'click', key: 'EVENTKEY' })
  })

  it('parses a menu link', () => {
    expect(parse(referenceSamples.view)).toEqual({
      ...base,
      kind: 'view',
      url: 'www.qq.com',
      menuId: null,
    })
  })
})

describe('values stay exact', () => {
  it('keeps a 64-bit MsgId digit for digit', () => {
    const push = parse(forgePushXml('text', { msgId: '18446744073709551615' }))
    expect(push).toMatchObject({ kind: 'text', msgId: '18446744073709551615' })
  })

  it('keeps an all-digit EventKey and scene as strings', () => {
    expect(parse(forgePushXml('click', { menuKey: '00012345678901234567890' }))).toMatchObject({
      key: '00012345678901234567890',
    })
    expect(parse(forgePushXml('scan', { scene: '0042' }))).toMatchObject({ scene: '0042' })
  })

  it('keeps text content as sent, spaces, CDATA terminators and all', () => {
    const content = '  a ]]> b <c> & d 你好 👋  '
    expect(parse(forgePushXml('text', { content }))).toMatchObject({ content })
  })
})

describe('every other kind', () => {
  it('lists every kind of the union in PUSH_KINDS (checked by tsc)', () => {
    expectTypeOf<Exclude<PushKind, (typeof PUSH_KINDS)[number]>>().toEqualTypeOf<never>()
    expect(new Set(PUSH_KINDS).size).toBe(PUSH_KINDS.length)
  })

  it.each(PUSH_KINDS)('parses a forged %s push back to its kind', (kind) => {
    expect(parse(forgePushXml(kind)).kind).toBe(kind)
  })

  it('reads the fields of the other menu events', () => {
    expect(parse(forgePushXml('scancode_waitmsg', { content: 'QR-RESULT' }))).toMatchObject({
      key: FORGE_DEFAULTS.menuKey,
      scanType: 'qrcode',
      scanResult: 'QR-RESULT',
    })
    expect(parse(forgePushXml('pic_weixin'))).toMatchObject({
      count: 1,
      picMd5Sums: ['1b5f7c23b5bf75682a53e7b6d163e185'],
    })
    expect(parse(forgePushXml('location_select'))).toMatchObject({
      latitude: FORGE_DEFAULTS.latitude,
      longitude: FORGE_DEFAULTS.longitude,
      scale: 15,
      poiname: FORGE_DEFAULTS.label,
    })
    expect(parse(forgePushXml('mass_send_job_finish', { msgId: '1000001625' }))).toMatchObject({
      msgId: '1000001625',
      totalCount: 100,
      filterCount: 80,
      sentCount: 75,
      errorCount: 5,
    })
  })

  it('reads a picture list of several items', () => {
    const xml = forgePushXml('pic_sysphoto').replace(
      /<PicList>.*<\/PicList>/,
      '<PicList><item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item></PicList>',
    )
    expect(parse(xml)).toMatchObject({ picMd5Sums: ['a', 'b'] })
  })

  it('keeps an unknown event with its raw fields, never refusing it', () => {
    const xml = referenceSamples.click.replace('[CLICK]', '[user_pay_from_pay_cell]')
    expect(parse(xml)).toEqual({
      ...base,
      kind: 'unknown',
      msgType: 'event',
      event: 'user_pay_from_pay_cell',
      fields: {
        ToUserName: 'toUser',
        FromUserName: 'FromUser',
        CreateTime: '123456789',
        MsgType: 'event',
        Event: 'user_pay_from_pay_cell',
        EventKey: 'EVENTKEY',
      },
    })
  })

  it('keeps an unknown message type', () => {
    expect(parse(forgePushXml('text').replace('[text]', '[miniprogrampage]'))).toMatchObject({
      kind: 'unknown',
      msgType: 'miniprogrampage',
      event: null,
    })
  })
})

describe('malformed pushes', () => {
  it.each([
    ['no FromUserName', referenceSamples.click.replace(/<FromUserName>.*<\/FromUserName>/, '')],
    ['no MsgType', referenceSamples.click.replace(/<MsgType>.*<\/MsgType>/, '')],
    ['CreateTime in words', referenceSamples.click.replace('123456789', 'yesterday')],
    ['a CLICK without EventKey', referenceSamples.click.replace(/<EventKey>.*<\/EventKey>/, '')],
    ['a SCAN without its scene', referenceSamples.scan.replace('SCENE_VALUE', '')],
    ['a latitude of 91', referenceSamples.location.replace('23.137466', '91')],
    ['a longitude in words', referenceSamples.location.replace('113.352425', 'east')],
    ['a text without Content', forgePushXml('text').replace(/<Content>.*<\/Content>/, '')],
    ['a MsgId that is not digits', forgePushXml('text', { msgId: '12a' })],
    ['a text shaped like an image', forgePushXml('image').replace('[image]', '[text]')],
    [
      'a repeated FromUserName',
      referenceSamples.click.replace('</xml>', '<FromUserName>x</FromUserName></xml>'),
    ],
  ])('refuses %s', (_, xml) => {
    expect(() => parse(xml)).toThrow(MalformedPushError)
  })
})

describe('dedupKey', () => {
  it('is the MsgId for a message', async () => {
    expect(await dedupKey(parse(forgePushXml('text', { msgId: '6054768590064713728' })))).toBe(
      'msg:6054768590064713728',
    )
  })

  it('tells two events of one user in one second apart', async () => {
    const follow = await dedupKey(
      parse(forgePushXml('subscribe', { createTime: 1700000000, scene: 'a' })),
    )
    const report = await dedupKey(
      parse(forgePushXml('location_report', { createTime: 1700000000 })),
    )
    const otherScene = await dedupKey(
      parse(forgePushXml('subscribe', { createTime: 1700000000, scene: 'b' })),
    )
    expect(new Set([follow, report, otherScene]).size).toBe(3)
  })

  it('is the same for the same push', async () => {
    const xml = forgePushXml('click', { createTime: 1700000000 })
    expect(await dedupKey(parse(xml))).toBe(await dedupKey(parse(xml)))
    expect(await dedupKey(parse(xml))).toMatch(/^evt:[0-9a-f]{40}$/)
  })
})

describe('XML references', () => {
  it('decodes the predefined entities and character references in text, never in CDATA', () => {
    const xml = forgePushXml('text').replace(
      /<Content>.*<\/Content>/,
      '<Content>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#20320;&#x597D; &#x1F44B; &#0; &bogus;<![CDATA[ &amp; ]]></Content>',
    )
    expect(parse(xml)).toMatchObject({ content: 'a <b> & "c" \'d\' 你好 👋 &#0; &bogus; &amp; ' })
  })
})
