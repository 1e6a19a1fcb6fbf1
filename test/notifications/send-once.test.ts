/**
 * Notifications through the one send path, against the strict fake: refused without a call when
 * the consent does not allow them, sent once per key whatever the Queue redelivers or a dead
 * letter's replay repeats, WeChat's 43101 clearing the consent into a dead letter, an
 * unanswered one tried once more and then `unconfirmed`. Deferred jobs run as the later queue's
 * consumer runs them (`runLaterJob`; a redelivery keeps the Queue message's id).
 */

import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { botsOf } from '../../src/bot/bots.ts'
import type { Notify } from '../../src/bot/notify.ts'
import { later, Router } from '../../src/bot/router.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { listDeadLetters } from '../../src/queues/dead-letters.ts'
import { giveUp, runLaterJob } from '../../src/queues/later.ts'
import { templates } from '../fixtures/bot.ts'
import { userState } from '../helpers/admin.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { adminNotify, popup, REMINDER, SHIPPED } from '../helpers/notifications.ts'
import { parsedPush, queuedJob } from '../helpers/pushes.ts'
import { exchange, openid, signedRequest } from '../helpers/wechat.ts'

type Send = (notify: Notify<typeof templates>, openid: string) => Promise<unknown>

/** A bot whose one deferred route sends what `send` sends, then fails when `fails`. */
function botNotifying(send: Send, fails = false) {
  return botsOf(
    new Router<Env>().withTemplates(templates).text(
      /.*/,
      later(
        async (push, { notify }) => {
          await send(notify, push.fromUserName)
          if (fails) throw new Error('after the notification')
        },
        { name: 'notifies' },
      ),
    ),
  )
}

const shipped: Send = (notify, id) =>
  notify(id, {
    template: 'shipped',
    key: 'order-42-shipped',
    data: { thing1: 'Your parcel', character_string2: 'SF1234567', time3: '2026-11-29 15:01' },
  })

const reminder: Send = (notify, id) =>
  notify(id, {
    template: 'reminder',
    key: 'remind-1',
    data: { thing1: 'Your appointment', date2: '2026-11-30' },
  })

/** The user writes; the job that message queues, as the later consumer gets it. */
async function jobFor(id: string) {
  return queuedJob(parsedPush(forgePushXml('text', { openid: id, content: 'go' })), 'notifies')
}

describe('a notification the consent does not allow', () => {
  it('is refused without calling WeChat: a dead letter naming not_subscribed', async () => {
    const id = openid('never-accepted')
    const outcome = await runLaterJob(await jobFor(id), env, botNotifying(shipped), 'q-none')
    expect(outcome).toEqual({ deadLetter: 'WeChat: not_subscribed' })
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
  })

  it('is refused from a handler on the request path too, and answered as the handler says', async () => {
    const id = openid('handler-none')
    const { reply } = await exchange(forgePushXml('text', { openid: id, content: 'remind me' }))
    expect(reply).toContain('notify: not_subscribed')
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
    await popup(id, [REMINDER])
    await fakeWechat.template(env.WECHAT_APPID, REMINDER, { subscription: 'long_term' })
    const sent = await exchange(forgePushXml('text', { openid: id, content: 'remind me' }))
    expect(sent.reply).toContain('notify: sent')
  })

  it('is answered 409 on the admin route, with nothing asked of WeChat', async () => {
    const id = openid('admin-none')
    const response = await adminNotify(id, {
      key: 'k1',
      template: 'shipped',
      data: { thing1: 'Parcel', character_string2: 'SF1', time3: '15:01' },
    })
    expect(response.status).toBe(409)
    expect(await response.json()).toEqual({ sent: false, error: 'not_subscribed' })
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
  })
})

describe('one acceptance', () => {
  it('of a long-term template allows many notifications', async () => {
    const id = openid('long-term')
    await fakeWechat.template(env.WECHAT_APPID, REMINDER, { subscription: 'long_term' })
    await popup(id, [REMINDER])
    for (const key of ['r1', 'r2', 'r3']) {
      const response = await adminNotify(id, {
        key,
        template: 'reminder',
        data: { thing1: 'Appointment', date2: '2026-11-30' },
      })
      expect(await response.json()).toEqual({ sent: true, outcome: 'sent' })
    }
    expect(await fakeWechat.notifications(id)).toHaveLength(3)
  })
})

describe('once per key', () => {
  it('across Queue redeliveries and a dead letter’s replay: WeChat is asked once', async () => {
    const id = openid('once-per-key')
    await popup(id, [SHIPPED])
    const queued = await jobFor(id)
    const bots = botNotifying(shipped, true)
    // The handler fails after its notification: the Queue delivers the job again, twice.
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await runLaterJob(queued, env, bots, 'q-once')).toEqual({ retry: 'handler: Error' })
    }
    await giveUp(env, queued, 5, 'handler: Error')
    expect(
      (await listDeadLetters(env.DEAD_LETTERS, 'env')).some((letter) => letter.openid === id),
    ).toBe(true)
    // The operator replays it: another Queue message runs the job again.
    expect(await runLaterJob(queued, env, bots, 'q-replay')).toEqual({ retry: 'handler: Error' })
    expect(await fakeWechat.notifyCalls(id)).toBe(1)
    expect(await fakeWechat.notifications(id)).toHaveLength(1)
    // One acceptance, spent once.
    const state = await userState(id)
    expect(state?.consents).toEqual([{ templateId: SHIPPED, state: 'used' }])
    expect(state?.notifications).toMatchObject([
      { key: 'order-42-shipped', channel: 'subscription', state: 'sent' },
    ])
  })

  it('on the admin route: a repeated request is answered already_sent, nothing sent again', async () => {
    const id = openid('admin-repeat')
    await popup(id, [SHIPPED])
    const body = {
      key: 'order-7',
      template: 'shipped',
      data: { thing1: 'Parcel', character_string2: 'SF7', time3: '15:01' },
    }
    expect(await (await adminNotify(id, body)).json()).toEqual({ sent: true, outcome: 'sent' })
    expect(await (await adminNotify(id, body)).json()).toEqual({
      sent: true,
      outcome: 'already_sent',
    })
    expect(await fakeWechat.notifyCalls(id)).toBe(1)
  })
})

describe('WeChat’s 43101', () => {
  it('clears the consent and ends the job in a dead letter with that reason', async () => {
    const id = openid('43101')
    // The consent as the Worker received it; WeChat holds none (the user withdrew it since).
    const xml = forgePushXml('subscribe_msg_popup_event', { openid: id, templateIds: [SHIPPED] })
    expect((await exports.default.fetch(await signedRequest(xml, 'safe'))).status).toBe(200)
    const outcome = await runLaterJob(await jobFor(id), env, botNotifying(shipped), 'q-43101')
    expect(outcome).toEqual({ deadLetter: 'WeChat: not_subscribed (errcode 43101)' })
    expect((await userState(id))?.consents).toEqual([{ templateId: SHIPPED, state: 'cleared' }])
    // Cleared: the next one is refused here, without asking WeChat again.
    const next = await adminNotify(id, {
      key: 'after-43101',
      template: 'shipped',
      data: { thing1: 'Parcel', character_string2: 'SF1', time3: '15:01' },
    })
    expect(next.status).toBe(409)
    expect(await fakeWechat.notifyCalls(id)).toBe(1)
  })
})

describe('a notification WeChat did not answer', () => {
  it('is tried once more, then never again: unconfirmed', async () => {
    const id = openid('unanswered')
    await fakeWechat.template(env.WECHAT_APPID, REMINDER, { subscription: 'long_term' })
    await popup(id, [REMINDER])
    await fakeWechat.late(id, 6_000, 2)
    const queued = await jobFor(id)
    const bots = botNotifying(reminder)
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await runLaterJob(queued, env, bots, 'q-late')).toEqual({ retry: 'WeChat: busy' })
    }
    expect(await runLaterJob(queued, env, bots, 'q-late')).toEqual({
      deadLetter: 'WeChat: unconfirmed',
    })
    expect(await fakeWechat.notifyCalls(id)).toBe(2)
    expect((await userState(id))?.notifications).toMatchObject([
      { key: 'remind-1', state: 'unconfirmed', outcome: null },
    ])
  }, 30_000)

  it('is held by its attempt: a second attempt meanwhile sends nothing (in_progress)', async () => {
    const id = openid('concurrent')
    await fakeWechat.template(env.WECHAT_APPID, REMINDER, { subscription: 'long_term' })
    await popup(id, [REMINDER])
    await fakeWechat.late(id, 6_000)
    const body = { key: 'same', template: 'reminder', data: { thing1: 'A', date2: '2026-12-01' } }
    const first = adminNotify(id, body)
    // The first holds the key while WeChat keeps it waiting.
    for (let i = 0; i < 50 && (await fakeWechat.notifyCalls(id)) === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const second = await adminNotify(id, body)
    expect(second.status).toBe(409)
    expect(await second.json()).toEqual({ sent: false, error: 'in_progress' })
    const answered = await first
    expect(answered.status).toBe(504)
    expect(await answered.json()).toEqual({ sent: 'unknown', error: 'busy' })
    expect(await fakeWechat.notifyCalls(id)).toBe(1)
  }, 20_000)
})
