/**
 * Notifications as WeChat takes them (src/wechat/notification.ts, src/wechat/api.ts): each
 * channel's request body, what a result push's status says, and WeChat's 64-bit msgid read
 * whole from the answer's text.
 */

import { describe, expect, it } from 'vitest'
import { sendNotification, WechatApiError } from '../../src/wechat/api.ts'
import {
  adHocNotification,
  NotificationInputError,
  notificationBody,
  notificationOf,
  sentOutcomeOf,
  templateOutcomeOf,
} from '../../src/wechat/notification.ts'
import { templates } from '../fixtures/bot.ts'

const shipped = notificationOf(
  templates.shipped,
  { thing1: 'Parcel', character_string2: 'SF1', time3: '15:01' },
  { page: 'https://shop.example.com/o/1' },
)

describe('the request bodies', () => {
  it('bizsend: page and data; the addressee is the caller’s alone', () => {
    expect(notificationBody('oUser', shipped, 'key-1')).toEqual({
      touser: 'oUser',
      template_id: templates.shipped.id,
      page: 'https://shop.example.com/o/1',
      data: {
        thing1: { value: 'Parcel' },
        character_string2: { value: 'SF1' },
        time3: { value: '15:01' },
      },
    })
  })

  it('template/send: url, miniprogram and the key as client_msg_id', () => {
    const paid = notificationOf(
      templates.paid,
      { thing1: 'Order 42', amount2: 39.8 },
      {
        page: 'https://shop.example.com/r/42',
        miniprogram: { appid: 'wx0123456789abcdef', pagepath: 'pages/r?id=42' },
      },
    )
    expect(notificationBody('oUser', paid, 'receipt-42')).toEqual({
      touser: 'oUser',
      template_id: templates.paid.id,
      url: 'https://shop.example.com/r/42',
      miniprogram: { appid: 'wx0123456789abcdef', pagepath: 'pages/r?id=42' },
      client_msg_id: 'receipt-42',
      data: { thing1: { value: 'Order 42' }, amount2: { value: '39.8' } },
    })
  })

  it('an operator’s undeclared template: its kind of consent, one-time unless said', () => {
    expect(
      adHocNotification({
        type: 'subscription',
        templateId: 'T1',
        data: { thing1: { value: 'A' } },
      }),
    ).toMatchObject({ channel: 'subscription', subscription: 'one_time' })
    expect(() =>
      adHocNotification({
        type: 'template',
        templateId: 'T1',
        subscription: 'long_term',
        data: {},
      }),
    ).toThrow(NotificationInputError)
    expect(() =>
      adHocNotification({
        type: 'subscription',
        templateId: 'T1',
        data: { thing1: { value: 'A' } },
        miniprogram: { appid: 'nope' },
      }),
    ).toThrow('miniprogram.appid must be a mini program AppID (wx…)')
  })
})

describe('what a result push says', () => {
  it.each([
    [{ errorCode: '0', errorStatus: 'success' }, 'delivered'],
    [{ errorCode: '20001', errorStatus: 'Failed:user block' }, 'user_blocked'],
    [{ errorCode: '20002', errorStatus: 'Failed: system failed' }, 'system_failed'],
  ] as const)('subscribe_msg_sent_event %j: %s', (item, outcome) => {
    expect(sentOutcomeOf({ templateId: 'T', msgId: '1', ...item })).toBe(outcome)
  })

  it.each([
    ['success', 'delivered'],
    ['failed:user block', 'user_blocked'],
    ['failed: system failed', 'system_failed'],
    ['failed:freq limit', 'system_failed'],
  ] as const)('TEMPLATESENDJOBFINISH %s: %s', (status, outcome) => {
    expect(templateOutcomeOf(status)).toBe(outcome)
  })
})

describe('sendNotification', () => {
  const answering = (text: string) => ({
    base: 'https://api.weixin.qq.com/',
    fetch: (async () => new Response(text)) as typeof fetch,
  })

  it('reads a 64-bit msgid whole, which JSON.parse would round', async () => {
    const call = answering('{"errcode":0,"errmsg":"ok","msgid":3487542469355618313}')
    expect(await sendNotification(call, 'TOKEN', 'oUser', shipped, 'k')).toBe('3487542469355618313')
    expect(
      await sendNotification(
        answering('{"errcode":0,"errmsg":"ok"}'),
        'TOKEN',
        'oUser',
        shipped,
        'k',
      ),
    ).toBeNull()
  })

  it.each([
    [43101, 'not_subscribed'],
    [47003, 'bad_data'],
    [40037, 'bad_template'],
    [40003, 'bad_openid'],
  ] as const)('classes errcode %i as %s, final', async (code, failure) => {
    const refused = sendNotification(
      answering(`{"errcode":${code},"errmsg":"x"}`),
      'T',
      'o',
      shipped,
      'k',
    )
    await expect(refused).rejects.toMatchObject({ failure, code, failureClass: 'final' })
    await expect(refused).rejects.toBeInstanceOf(WechatApiError)
  })
})
