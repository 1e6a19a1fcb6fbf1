/**
 * What WeChat's result pushes say of a notification, kept with it in the user's object: a
 * `subscribe_msg_sent_event` matched to the subscription notification it reports (bizsend
 * answers no msgid: by template, the oldest without an outcome), a template message's
 * TEMPLATESENDJOBFINISH (received by the ledger) matched by msgid; the outcome shown in the admin
 * view and the log line, never the content. And the template message's own path.
 */

import { runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { UserState } from '../../src/user/state.ts'
import { userState } from '../helpers/admin.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { captureLogs } from '../helpers/logs.ts'
import {
  adminNotify,
  deliverResults,
  PAID,
  popup,
  REMINDER,
  SHIPPED,
  stateWhen,
} from '../helpers/notifications.ts'
import { openid, postPush, signedRequest } from '../helpers/wechat.ts'

const reminder = (key: string) => ({
  key,
  template: 'reminder',
  data: { thing1: 'Your appointment', date2: '2026-11-30' },
})

const paid = (key: string) => ({
  key,
  template: 'paid',
  data: { thing1: 'Order 42', amount2: '¥39.80' },
})

describe('the subscribe_msg_sent_event', () => {
  it('is matched to the notification it reports: delivered, in the admin view and the log line', async () => {
    const id = openid('sent-event')
    await popup(id, [SHIPPED])
    const logs = captureLogs('log', 'warn')
    const response = await adminNotify(id, {
      key: 'order-1',
      template: 'shipped',
      data: { thing1: 'Parcel', character_string2: 'SF1', time3: '15:01' },
    })
    expect(response.status).toBe(200)
    // WeChat pushes the result (the fake made it): delivered.
    expect(await deliverResults(id)).toBe(1)
    const state = await stateWhen(id, (s) => expect(s.notifications[0]?.outcome).toBe('delivered'))
    expect(state.notifications).toEqual([
      {
        key: 'order-1',
        channel: 'subscription',
        templateId: SHIPPED,
        state: 'sent',
        outcome: 'delivered',
        at: expect.any(Number),
      },
    ])
    expect(logs.records).toContainEqual(
      expect.objectContaining({
        event: 'notification_outcome',
        channel: 'subscription',
        outcome: 'delivered',
        matched: true,
      }),
    )
    expect(logs.records).toContainEqual(
      expect.objectContaining({ event: 'notify', channel: 'subscription', outcome: 'sent' }),
    )
    // Neither the user, nor the key, nor the content.
    expect(logs.text()).not.toContain(id)
    expect(logs.text()).not.toContain('order-1')
    expect(logs.text()).not.toContain('Parcel')
  })

  it('reports each of two notifications of one template in turn; a user’s block reads as such', async () => {
    const id = openid('two-results')
    await fakeWechat.template(env.WECHAT_APPID, REMINDER, { subscription: 'long_term' })
    await popup(id, [REMINDER])
    expect((await adminNotify(id, reminder('first'))).status).toBe(200)
    expect((await adminNotify(id, reminder('second'))).status).toBe(200)
    // The first result is WeChat's own; the second failed: the user blocks the account.
    const [firstResult] = await fakeWechat.pushes(id)
    expect(
      (await exports.default.fetch(await signedRequest(firstResult ?? '', 'safe'))).status,
    ).toBe(200)
    const blocked = forgePushXml('subscribe_msg_sent_event', {
      openid: id,
      templateIds: [REMINDER],
      errorCode: 20001,
      status: 'Failed:user block',
    })
    expect((await exports.default.fetch(await signedRequest(blocked, 'safe'))).status).toBe(200)
    const state = await stateWhen(id, (s) =>
      expect(s.notifications.every((n) => n.outcome !== null)).toBe(true),
    )
    const outcomes = Object.fromEntries(state.notifications.map((n) => [n.key, n.outcome]))
    expect(outcomes).toEqual({ first: 'delivered', second: 'user_blocked' })
  })

  it('that matches no notification changes nothing but is received (and logged unmatched)', async () => {
    const id = openid('stray-result')
    await popup(id, [SHIPPED])
    const logs = captureLogs('log', 'warn')
    const stray = forgePushXml('subscribe_msg_sent_event', { openid: id, templateIds: [SHIPPED] })
    expect((await postPush(stray, 'safe')).status).toBe(200)
    expect((await userState(id))?.notifications).toEqual([])
    expect(logs.records).toContainEqual(
      expect.objectContaining({ event: 'notification_outcome', matched: false }),
    )
  })
})

describe('a plaintext result push', () => {
  // Its body is signed by nothing: anyone holding one signed URL could rewrite a send's outcome.
  it('of a subscribe_msg_sent_event changes no notification’s outcome', async () => {
    const id = openid('plain-sent')
    await popup(id, [SHIPPED])
    const response = await adminNotify(id, {
      key: 'order-plain',
      template: 'shipped',
      data: { thing1: 'Parcel', character_string2: 'SF1', time3: '15:01' },
    })
    expect(response.status).toBe(200)
    const logs = captureLogs('log', 'warn')
    const forged = forgePushXml('subscribe_msg_sent_event', {
      openid: id,
      templateIds: [SHIPPED],
      errorCode: 20001,
      status: 'Failed:user block',
    })
    expect((await postPush(forged)).status).toBe(200)
    expect((await userState(id))?.notifications).toMatchObject([
      { key: 'order-plain', outcome: null },
    ])
    expect(logs.records).toContainEqual(
      expect.objectContaining({ event: 'notification_push_ignored', reason: 'unauthenticated' }),
    )
    // WeChat's own (sealed) result still lands.
    expect(await deliverResults(id)).toBe(1)
    await stateWhen(id, (s) => expect(s.notifications[0]?.outcome).toBe('delivered'))
  })

  it('of a template message’s job result changes no outcome', async () => {
    const id = openid('plain-template-result')
    await postPush(forgePushXml('subscribe', { openid: id }))
    expect((await adminNotify(id, paid('receipt-plain'))).status).toBe(200)
    const [result] = await fakeWechat.pushes(id)
    const msgId = /<MsgID>(?:<!\[CDATA\[)?(\d+)/.exec(result ?? '')?.[1]
    const forged = forgePushXml('template_send_job_finish', {
      openid: id,
      status: 'failed:user block',
      ...(msgId !== undefined && { msgId }),
    })
    expect((await postPush(forged)).status).toBe(200)
    expect((await userState(id))?.notifications).toMatchObject([
      { key: 'receipt-plain', outcome: null },
    ])
  })
})

describe('a template message', () => {
  it('goes with the key as its client_msg_id, once, and its job result is matched by msgid', async () => {
    const id = openid('template-message')
    await postPush(forgePushXml('subscribe', { openid: id }))
    const response = await adminNotify(id, paid('receipt-42'))
    expect(await response.json()).toEqual({ sent: true, outcome: 'sent' })
    expect(await (await adminNotify(id, paid('receipt-42'))).json()).toEqual({
      sent: true,
      outcome: 'already_sent',
    })
    const [taken, ...more] = await fakeWechat.notifications(id)
    expect(more).toEqual([])
    expect(taken?.body).toMatchObject({
      touser: id,
      template_id: PAID,
      client_msg_id: 'receipt-42',
      data: { thing1: { value: 'Order 42' }, amount2: { value: '¥39.80' } },
    })
    // WeChat's msgid is a 64-bit number: kept whole, as the job result carries it back.
    const [result] = await fakeWechat.pushes(id)
    const msgId = /<MsgID>(?:<!\[CDATA\[)?(\d+)/.exec(result ?? '')?.[1]
    const kept = await runInDurableObject(env.USERS.getByName(id), (_: UserState, state) =>
      state.storage.sql.exec<{ msg_id: string }>('SELECT msg_id FROM outbox').one(),
    )
    expect(kept.msg_id).toBe(msgId)
    // The job result belongs to no user's push (the ledger receives it) but names the user.
    expect(await deliverResults(id)).toBe(1)
    await stateWhen(id, (s) =>
      expect(s.notifications).toMatchObject([
        { key: 'receipt-42', channel: 'template', templateId: PAID, outcome: 'delivered' },
      ]),
    )
  })

  it('unanswered, is tried once more with the same client_msg_id: WeChat sends it once', async () => {
    const id = openid('template-late')
    await postPush(forgePushXml('subscribe', { openid: id }))
    await fakeWechat.late(id, 6_000)
    const first = await adminNotify(id, paid('receipt-late'))
    expect(first.status).toBe(504)
    expect(await (await adminNotify(id, paid('receipt-late'))).json()).toEqual({
      sent: true,
      outcome: 'sent',
    })
    expect(await fakeWechat.notifyCalls(id)).toBe(2)
    expect(await fakeWechat.notifications(id)).toHaveLength(1)
  }, 20_000)

  it('to a user who does not follow is WeChat’s 43004', async () => {
    const id = openid('template-stranger')
    const response = await adminNotify(id, paid('receipt-x'))
    expect(response.status).toBe(502)
    expect(await response.json()).toEqual({ sent: false, error: 'not_a_follower', code: 43004 })
  })

  it('whose job result names a user never sent it makes no state for them', async () => {
    const id = openid('template-stranger-result')
    const result = forgePushXml('template_send_job_finish', { openid: id, status: 'success' })
    expect((await postPush(result, 'safe')).status).toBe(200)
    expect(await userState(id)).toBeNull()
  })
})
