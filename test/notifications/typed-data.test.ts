/**
 * Templates as code: a `notify` naming an unknown template, leaving a keyword out or adding one
 * does not compile; a value over its kind's limit is refused before any call, from a handler and
 * on the admin route, which also takes undeclared templates in WeChat's own data shape.
 */

import { env } from 'cloudflare:workers'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { botsOf } from '../../src/bot/bots.ts'
import type { Notify } from '../../src/bot/notify.ts'
import { later, Router } from '../../src/bot/router.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { runLaterJob } from '../../src/queues/later.ts'
import {
  defineTemplates,
  type TemplateData,
  TemplateDataError,
  TemplateDefinitionError,
  valueProblem,
  wechatDataOf,
} from '../../src/wechat/templates.ts'
import { templates } from '../fixtures/bot.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { adminNotify, popup, SHIPPED } from '../helpers/notifications.ts'
import { parsedPush, queuedJob } from '../helpers/pushes.ts'
import { openid } from '../helpers/wechat.ts'

describe('the compiler', () => {
  it('types a template’s data as exactly its keywords', () => {
    expectTypeOf<TemplateData<typeof templates.paid>>().toEqualTypeOf<{
      readonly thing1: string | number
      readonly amount2: string | number
    }>()
  })

  it('refuses an unknown template, a missing keyword and an extra one', () => {
    const notify = (async () => 'sent') as Notify<typeof templates>
    const data = { thing1: 'Order 42', amount2: '¥1.00' }
    // Only checked by the compiler: never called.
    const calls = () => [
      notify('o1', { template: 'paid', key: 'k', data }),
      // @ts-expect-error: no template is declared as 'refunded'
      notify('o1', { template: 'refunded', key: 'k', data }),
      // @ts-expect-error: amount2 is missing
      notify('o1', { template: 'paid', key: 'k', data: { thing1: 'Order 42' } }),
      notify('o1', {
        template: 'paid',
        key: 'k',
        // @ts-expect-error: the template has no keyword time3
        data: { thing1: 'Order 42', amount2: '¥1.00', time3: '15:01' },
      }),
    ]
    expect(typeof calls).toBe('function')
  })
})

describe('defineTemplates', () => {
  it.each([
    [
      { t: { type: 'subscription', id: 'bad id!', keywords: ['thing1'] } },
      'not a WeChat template id',
    ],
    [
      { t: { type: 'subscription', id: 'ABC', keywords: ['title'] } },
      'title is no kind and number',
    ],
    [{ t: { type: 'subscription', id: 'ABC', keywords: [] } }, 'no keywords'],
    [
      { t: { type: 'template', id: 'ABC', keywords: ['thing1', 'thing1'] } },
      'thing1 is declared twice',
    ],
  ] as const)('refuses %j at start-up: %s', (definition, problem) => {
    expect(() => defineTemplates(definition)).toThrow(TemplateDefinitionError)
    expect(() => defineTemplates(definition)).toThrow(problem)
  })

  it('takes a template message’s old keywords, which carry no kind', () => {
    const declared = defineTemplates({
      old: { type: 'template', id: 'ABC', keywords: ['first', 'keyword1', 'remark'] },
    } as const)
    expect(declared.old.keywords).toEqual(['first', 'keyword1', 'remark'])
  })
})

describe('each kind’s limit, as the bizsend page states it', () => {
  it.each([
    ['thing', '二十个字以内的事物，可以是汉字数字字母', null],
    ['thing', '一二三四五六七八九十一二三四五六七八九十一', 'over 20 characters'],
    ['number', '3.1415', null],
    ['number', '12a', 'not 32 or fewer digits (a decimal point allowed)'],
    ['letter', 'abcXYZ', null],
    ['letter', 'abc1', 'not 32 or fewer letters'],
    ['symbol', '#$%', null],
    ['symbol', '######', 'not 5 or fewer symbols'],
    ['character_string', 'SF-1234_ABCD', null],
    ['character_string', '单号1234', 'not 32 or fewer digits, letters or symbols'],
    ['amount', '¥214.00', null],
    ['amount', '39.80元', null],
    ['amount', '¥12345678901', 'not a currency sign and 10 or fewer digits'],
    ['phone_number', '+86-0766-66888866', null],
    ['phone_number', '+86-0766-668888661', 'not 17 or fewer digits and symbols'],
    ['car_number', '粤A8Z888挂', null],
    ['car_number', '粤A8Z8888挂', 'not a plate of 8 or fewer letters and digits'],
    ['name', '张三', null],
    ['name', 'Alexander Hamilton', null],
    ['name', '张三Alexander', 'over 10 characters'],
    ['phrase', '配送中', null],
    ['phrase', 'done', 'not 5 or fewer Chinese characters'],
    ['time', '15:01', null],
    ['date', '2019年10月1日', null],
    ['thing', '   ', 'empty'],
  ] as const)('%s %j: %s', (kind, value, problem) => {
    expect(valueProblem(kind, value)).toBe(problem)
  })

  it('checks every keyword against its name’s kind, and a declaration’s keywords exactly', () => {
    expect(wechatDataOf({ thing1: 'Hi', number2: 42 }, null)).toEqual({
      thing1: { value: 'Hi' },
      number2: { value: '42' },
    })
    expect(() => wechatDataOf({ thing1: 'Hi' }, ['thing1', 'time2'])).toThrow(
      'data.time2 is missing',
    )
    expect(() => wechatDataOf({ thing1: 'Hi', time2: '1', x3: 'y' }, ['thing1', 'time2'])).toThrow(
      'data.x3 is not a keyword of this template',
    )
    expect(() => wechatDataOf({ phrase1: 'shipped' }, null)).toThrow(
      'data.phrase1 is not 5 or fewer Chinese characters',
    )
  })
})

describe('a value WeChat would refuse', () => {
  it('is refused before any call, from a deferred handler', async () => {
    const id = openid('too-long')
    let refused: unknown = null
    await popup(id, [SHIPPED])
    const bots = botsOf(
      new Router<Env>().withTemplates(templates).text(
        /.*/,
        later(
          async (push, { notify }) => {
            try {
              await notify(push.fromUserName, {
                template: 'shipped',
                key: 'long',
                data: {
                  thing1: '这是一个超过二十个字的物品名称所以微信会拒绝它的',
                  character_string2: 'SF1',
                  time3: '15:01',
                },
              })
            } catch (error) {
              refused = error
            }
          },
          { name: 'long' },
        ),
      ),
    )
    const queued = await queuedJob(parsedPush(forgePushXml('text', { openid: id })), 'long')
    expect(await runLaterJob(queued, env, bots, 'q-long')).toBe('done')
    expect(refused).toBeInstanceOf(TemplateDataError)
    expect((refused as Error).message).toBe('data.thing1 is over 20 characters')
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
  })

  it('is a 400 on the admin route, a declared template’s or an undeclared one’s', async () => {
    const id = openid('admin-400')
    await popup(id, [SHIPPED])
    const declared = await adminNotify(id, {
      key: 'k',
      template: 'shipped',
      data: { thing1: 'Parcel', character_string2: '单号', time3: '15:01' },
    })
    expect(declared.status).toBe(400)
    expect(await declared.text()).toBe(
      'data.character_string2 is not 32 or fewer digits, letters or symbols',
    )
    const adHoc = await adminNotify(id, {
      key: 'k',
      type: 'subscription',
      templateId: SHIPPED,
      data: { thing1: { value: '一二三四五六七八九十一二三四五六七八九十一' } },
    })
    expect(adHoc.status).toBe(400)
    expect(await adHoc.text()).toBe('data.thing1 is over 20 characters')
    for (const [body, why] of [
      [{ key: 'k', template: 'nope', data: {} }, 'template must name a template the bot declares'],
      [
        { key: 'k', type: 'subscription', templateId: SHIPPED, data: { thing1: 'plain' } },
        'data.thing1 must be { "value": "…" }',
      ],
      [
        {
          key: 'bad key!',
          template: 'shipped',
          data: { thing1: 'A', character_string2: 'B', time3: 'C' },
        },
        'a key is 1 to 64 letters, digits, _ . : -',
      ],
      [
        {
          key: 'k',
          type: 'subscription',
          templateId: SHIPPED,
          data: { thing1: { value: 'A' } },
          page: 'javascript:alert(1)',
        },
        'page must be an http(s) URL',
      ],
    ] as const) {
      const response = await adminNotify(id, body)
      expect(response.status).toBe(400)
      expect(await response.text()).toBe(why)
    }
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
  })

  it('an undeclared template in WeChat’s shape goes, its lengths checked by its names’ kinds', async () => {
    const id = openid('ad-hoc')
    await popup(id, [SHIPPED])
    const response = await adminNotify(id, {
      key: 'ad-hoc-1',
      type: 'subscription',
      templateId: SHIPPED,
      data: { thing1: { value: 'Parcel' }, phrase2: { value: '配送中' } },
      page: 'https://shop.example.com/orders/42',
    })
    expect(await response.json()).toEqual({ sent: true, outcome: 'sent' })
    const [taken] = await fakeWechat.notifications(id)
    expect(taken?.body).toEqual({
      touser: id,
      template_id: SHIPPED,
      page: 'https://shop.example.com/orders/42',
      data: { thing1: { value: 'Parcel' }, phrase2: { value: '配送中' } },
    })
  })
})
