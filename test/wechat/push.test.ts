import { describe, expect, expectTypeOf, it } from 'vitest'
import { FORGE_DEFAULTS, forgePushXml, WECHAT_PUSH_SERVICE } from '../../src/debug/forge.ts'
import { dedupKey } from '../../src/wechat/dedup-key.ts'
import { MalformedPushError } from '../../src/wechat/errors.ts'
import { isPurge, PUSH_KINDS, type PushKind, stateOwnerOf } from '../../src/wechat/push.ts'
import { parsedPush } from '../helpers/pushes.ts'
import { referenceSamples } from '../helpers/reference-samples.ts'

/** The key of the dedup hash: any secret; the Worker uses the account's Token. */
const TOKEN = 'a-token-of-the-account-0123456789'

const base = { toUserName: 'toUser', fromUserName: 'FromUser', createTime: 123456789 }

describe('the reference page, sample by sample', () => {
  it('parses a follow', () => {
    expect(parsedPush(referenceSamples.subscribe)).toEqual({
      ...base,
      kind: 'subscribe',
      scene: null,
      ticket: null,
    })
  })

  it('parses an unfollow (the follow sample with Event unsubscribe)', () => {
    const xml = referenceSamples.subscribe.replace('[subscribe]', '[unsubscribe]')
    expect(parsedPush(xml)).toEqual({ ...base, kind: 'unsubscribe' })
  })

  it('parses a QR follow, scene without its qrscene_ prefix', () => {
    expect(parsedPush(referenceSamples.qrSubscribe)).toEqual({
      ...base,
      kind: 'subscribe',
      scene: '123123',
      ticket: 'TICKET',
    })
  })

  it('parses a scan by a follower', () => {
    expect(parsedPush(referenceSamples.scan)).toEqual({
      ...base,
      kind: 'scan',
      scene: 'SCENE_VALUE',
      ticket: 'TICKET',
    })
  })

  it('parses a location report, its numbers on purpose', () => {
    expect(parsedPush(referenceSamples.location)).toEqual({
      ...base,
      fromUserName: 'fromUser',
      kind: 'location_report',
      latitude: 23.137466,
      longitude: 113.352425,
      precision: 119.38504,
    })
  })

  it('parses a menu click', () => {
    expect(parsedPush(referenceSamples.click)).toEqual({ ...base, kind: 'click', key: 'EVENTKEY' })
  })

  it('parses a menu link', () => {
    expect(parsedPush(referenceSamples.view)).toEqual({
      ...base,
      kind: 'view',
      url: 'www.qq.com',
      menuId: null,
    })
  })
})

describe('values stay exact', () => {
  it('keeps a 64-bit MsgId digit for digit', () => {
    const push = parsedPush(forgePushXml('text', { msgId: '18446744073709551615' }))
    expect(push).toMatchObject({ kind: 'text', msgId: '18446744073709551615' })
  })

  it('keeps an all-digit EventKey and scene as strings', () => {
    expect(parsedPush(forgePushXml('click', { menuKey: '00012345678901234567890' }))).toMatchObject(
      {
        key: '00012345678901234567890',
      },
    )
    expect(parsedPush(forgePushXml('scan', { scene: '0042' }))).toMatchObject({ scene: '0042' })
  })

  it('keeps text content as sent, spaces, CDATA terminators and all', () => {
    const content = '  a ]]> b <c> & d 你好 👋  '
    expect(parsedPush(forgePushXml('text', { content }))).toMatchObject({ content })
  })
})

describe('every other kind', () => {
  it('lists every kind of the union in PUSH_KINDS (checked by tsc)', () => {
    expectTypeOf<Exclude<PushKind, (typeof PUSH_KINDS)[number]>>().toEqualTypeOf<never>()
    expect(new Set(PUSH_KINDS).size).toBe(PUSH_KINDS.length)
  })

  it.each(PUSH_KINDS)('parses a forged %s push back to its kind', (kind) => {
    expect(parsedPush(forgePushXml(kind)).kind).toBe(kind)
  })

  it('reads the fields of the other menu events', () => {
    expect(parsedPush(forgePushXml('scancode_waitmsg', { content: 'QR-RESULT' }))).toMatchObject({
      key: FORGE_DEFAULTS.menuKey,
      scanType: 'qrcode',
      scanResult: 'QR-RESULT',
    })
    expect(parsedPush(forgePushXml('pic_weixin'))).toMatchObject({
      count: 1,
      picMd5Sums: ['1b5f7c23b5bf75682a53e7b6d163e185'],
    })
    expect(parsedPush(forgePushXml('location_select'))).toMatchObject({
      latitude: FORGE_DEFAULTS.latitude,
      longitude: FORGE_DEFAULTS.longitude,
      scale: 15,
      poiname: FORGE_DEFAULTS.label,
    })
    expect(parsedPush(forgePushXml('mass_send_job_finish', { msgId: '1000001625' }))).toMatchObject(
      {
        msgId: '1000001625',
        totalCount: 100,
        filterCount: 80,
        sentCount: 75,
        errorCount: 5,
      },
    )
  })

  it('reads a picture list of several items', () => {
    const xml = forgePushXml('pic_sysphoto').replace(
      /<PicList>.*<\/PicList>/,
      '<PicList><item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item></PicList>',
    )
    expect(parsedPush(xml)).toMatchObject({ picMd5Sums: ['a', 'b'] })
  })

  it('keeps an unknown event with its raw fields, never refusing it', () => {
    const xml = referenceSamples.click.replace('[CLICK]', '[user_pay_from_pay_cell]')
    expect(parsedPush(xml)).toEqual({
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
    expect(parsedPush(forgePushXml('text').replace('[text]', '[miniprogrampage]'))).toMatchObject({
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
    expect(() => parsedPush(xml)).toThrow(MalformedPushError)
  })
})

describe('dedupKey', () => {
  it('is keyed: without the Token, guessing an OpenID and a time does not find the key', async () => {
    const push = parsedPush(
      forgePushXml('text', { openid: 'oUserA', createTime: 1700000000, msgId: '1' }),
    )
    const key = await dedupKey(push, TOKEN)
    const parts = [push.toUserName, push.fromUserName, push.createTime, '1']
    const digest = await crypto.subtle.digest(
      'SHA-1',
      new TextEncoder().encode(JSON.stringify(parts)),
    )
    const unkeyed = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join(
      '',
    )
    expect(key).toMatch(/^msg:[0-9a-f]{40}$/)
    expect(key).not.toBe(`msg:${unkeyed}`)
    expect(await dedupKey(push, 'another-token-0123456789abcdef')).not.toBe(key)
  })

  it('keys a message by account, sender, CreateTime and MsgId, never by MsgId alone', async () => {
    const message = (openid: string, createTime = 1700000000) =>
      parsedPush(forgePushXml('text', { openid, createTime, msgId: '6054768590064713728' }))
    const a = await dedupKey(message('oUserA'), TOKEN)
    expect(a).toMatch(/^msg:[0-9a-f]{40}$/)
    expect(a).not.toContain('6054768590064713728')
    expect(await dedupKey(message('oUserB'), TOKEN)).not.toBe(a)
    expect(await dedupKey(message('oUserA', 1700000001), TOKEN)).not.toBe(a)
    expect(await dedupKey(message('oUserA'), TOKEN)).toBe(a)
  })

  it('tells two unknown events of one user in one second apart by all their fields', async () => {
    const unknown = (menuKey: string, extra = '') =>
      parsedPush(
        forgePushXml('unknown', { createTime: 1700000000, menuKey }).replace(
          '</xml>',
          `${extra}</xml>`,
        ),
      )
    const first = await dedupKey(unknown('K', '<Info><Id>1</Id></Info>'), TOKEN)
    expect(await dedupKey(unknown('K', '<Info><Id>2</Id></Info>'), TOKEN)).not.toBe(first)
    expect(await dedupKey(unknown('K', '<Info><Id>1</Id></Info>'), TOKEN)).toBe(first)
  })

  it('tells authorization changes for two users apart though the push service sent both', async () => {
    const revoke = (openid: string) =>
      parsedPush(forgePushXml('user_authorization_revoke', { openid, createTime: 1700000000 }))
    expect(await dedupKey(revoke('oUserA'), TOKEN)).not.toBe(
      await dedupKey(revoke('oUserB'), TOKEN),
    )
  })

  it('tells two events of one user in one second apart', async () => {
    const follow = await dedupKey(
      parsedPush(forgePushXml('subscribe', { createTime: 1700000000, scene: 'a' })),
      TOKEN,
    )
    const report = await dedupKey(
      parsedPush(forgePushXml('location_report', { createTime: 1700000000 })),
      TOKEN,
    )
    const otherScene = await dedupKey(
      parsedPush(forgePushXml('subscribe', { createTime: 1700000000, scene: 'b' })),
      TOKEN,
    )
    expect(new Set([follow, report, otherScene]).size).toBe(3)
  })

  it('is the same for the same push', async () => {
    const xml = forgePushXml('click', { createTime: 1700000000 })
    expect(await dedupKey(parsedPush(xml), TOKEN)).toBe(await dedupKey(parsedPush(xml), TOKEN))
    expect(await dedupKey(parsedPush(xml), TOKEN)).toMatch(/^evt:[0-9a-f]{40}$/)
  })
})

describe('XML references', () => {
  it('decodes the predefined entities and character references in text, never in CDATA', () => {
    const xml = forgePushXml('text').replace(
      /<Content>.*<\/Content>/,
      '<Content>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#20320;&#x597D; &#x1F44B; &#0; &bogus;<![CDATA[ &amp; ]]></Content>',
    )
    expect(parsedPush(xml)).toMatchObject({
      content: 'a <b> & "c" \'d\' 你好 👋 &#0; &bogus; &amp; ',
    })
  })
})

describe('nested and authorization-change kinds', () => {
  it('reads one subscription-message List item as an array of one, and many as many', () => {
    expect(parsedPush(forgePushXml('subscribe_msg_popup_event'))).toMatchObject({
      kind: 'subscribe_msg_popup_event',
      items: [{ templateId: FORGE_DEFAULTS.templateIds[0], status: 'accept', popupScene: '0' }],
    })
    const two = parsedPush(
      forgePushXml('subscribe_msg_change_event', { templateIds: ['T1', 'T2'] }),
    )
    expect(two).toMatchObject({
      kind: 'subscribe_msg_change_event',
      items: [
        { templateId: 'T1', status: 'reject', popupScene: null },
        { templateId: 'T2', status: 'reject', popupScene: null },
      ],
    })
    expect(
      parsedPush(forgePushXml('subscribe_msg_sent_event', { msgId: '2794188253209100289' })),
    ).toMatchObject({
      items: [
        {
          templateId: FORGE_DEFAULTS.templateIds[0],
          msgId: '2794188253209100289',
          errorCode: '0',
          errorStatus: 'success',
        },
      ],
    })
  })

  it('reads a publish job result with its articles and failed positions', () => {
    expect(parsedPush(forgePushXml('publish_job_finish'))).toMatchObject({
      kind: 'publish_job_finish',
      publishId: '2247503051',
      publishStatus: 0,
      articleId: 'b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvyWP4Hq4',
      articles: [{ idx: 1, url: FORGE_DEFAULTS.url }],
      failedIdx: [],
    })
    const failed = forgePushXml('publish_job_finish').replace(
      /<article_id>.*<\/article_detail>/,
      '<fail_idx>1</fail_idx><fail_idx>2</fail_idx>',
    )
    expect(parsedPush(failed)).toMatchObject({ articleId: null, articles: [], failedIdx: [1, 2] })
  })

  it('reads customer-service session events', () => {
    expect(parsedPush(forgePushXml('kf_create_session', { kfAccount: 'a@gh' }))).toMatchObject({
      kind: 'kf_create_session',
      kfAccount: 'a@gh',
    })
    expect(parsedPush(forgePushXml('kf_switch_session'))).toMatchObject({
      kind: 'kf_switch_session',
      fromKfAccount: FORGE_DEFAULTS.fromKfAccount,
      toKfAccount: FORGE_DEFAULTS.kfAccount,
    })
  })

  it('reads an authorization change: the user is OpenID, not the push service that sent it', () => {
    const revoke = parsedPush(forgePushXml('user_authorization_revoke', { openid: 'oRevokedUser' }))
    expect(revoke).toMatchObject({
      kind: 'user_authorization_revoke',
      fromUserName: WECHAT_PUSH_SERVICE,
      openId: 'oRevokedUser',
      revokeInfo: '301',
    })
    expect(stateOwnerOf(revoke)).toBe('oRevokedUser')
    expect(isPurge(revoke)).toBe(true)
    expect(isPurge(parsedPush(forgePushXml('user_authorization_cancellation')))).toBe(true)
    const modified = parsedPush(forgePushXml('user_info_modified', { openid: 'oModified' }))
    expect(modified).toMatchObject({ kind: 'user_info_modified', openId: 'oModified' })
    expect(stateOwnerOf(modified)).toBeNull()
  })

  it('touches nobody’s state for system pushes and unknown ones, the sender’s for the rest', () => {
    for (const kind of PUSH_KINDS) {
      const push = parsedPush(forgePushXml(kind, { openid: 'oSender' }))
      const expected = [
        'template_send_job_finish',
        'mass_send_job_finish',
        'publish_job_finish',
        'user_info_modified',
        'unknown',
      ].includes(kind)
        ? null
        : 'oSender'
      expect(stateOwnerOf(push), kind).toBe(expected)
    }
  })

  it('keeps an unknown push’s nested fields', () => {
    const xml = forgePushXml('unknown').replace(
      '</xml>',
      '<Info><Id>7</Id><List><A>1</A></List><List><A>2</A></List></Info></xml>',
    )
    expect(parsedPush(xml)).toMatchObject({
      kind: 'unknown',
      fields: { Info: { Id: '7', List: [{ A: '1' }, { A: '2' }] } },
    })
  })

  it('refuses a revoke without a well-formed OpenID', () => {
    const xml = forgePushXml('user_authorization_revoke')
    expect(() => parsedPush(xml.replace(/<OpenID>.*<\/OpenID>/, ''))).toThrow(MalformedPushError)
    expect(() => parsedPush(xml.replace(/<OpenID>.*<\/OpenID>/, '<OpenID>a:b</OpenID>'))).toThrow(
      MalformedPushError,
    )
  })
})
