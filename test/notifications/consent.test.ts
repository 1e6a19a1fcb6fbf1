/**
 * The consent ledger: what a user's popup and settings pushes say of each subscription template,
 * kept in their object once per push, moving forward only, shown in the admin view as template
 * ids and states, and deleted with the user.
 */

import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { userState } from '../helpers/admin.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { captureLogs } from '../helpers/logs.ts'
import { adminNotify, popup, REMINDER, SHIPPED, stateWhen } from '../helpers/notifications.ts'
import { openid, postPush, signedRequest } from '../helpers/wechat.ts'

const shipped = (key: string) => ({
  key,
  template: 'shipped',
  data: { thing1: 'Your parcel', character_string2: 'SF1234567', time3: '2026-11-29 15:01' },
})

const now = () => Math.floor(Date.now() / 1000)

describe('the consent from the popup', () => {
  it('keeps each template’s accept or reject, shown as template ids and states only', async () => {
    const id = openid('popup')
    await popup(id, [SHIPPED, REMINDER], { [REMINDER]: 'reject' })
    const state = await stateWhen(id, (s) => expect(s.consents).toHaveLength(2))
    expect(state.consents).toEqual(
      [
        { templateId: SHIPPED, state: 'accepted' },
        { templateId: REMINDER, state: 'rejected' },
      ].sort((a, b) => a.templateId.localeCompare(b.templateId)),
    )
  })

  it('counts a push once: WeChat’s retry of the acceptance allows no second notification', async () => {
    const id = openid('popup-retry')
    const xml = await popup(id, [SHIPPED])
    // WeChat's retry: the same push again (the user accepted once, as WeChat knows).
    expect((await exports.default.fetch(await signedRequest(xml, 'safe'))).status).toBe(200)
    expect((await adminNotify(id, shipped('first'))).status).toBe(200)
    const second = await adminNotify(id, shipped('second'))
    expect(second.status).toBe(409)
    expect(await second.json()).toEqual({ sent: false, error: 'not_subscribed' })
    // Refused here: WeChat was asked once.
    expect(await fakeWechat.notifyCalls(id)).toBe(1)
    expect((await userState(id))?.consents).toEqual([{ templateId: SHIPPED, state: 'used' }])
  })

  it('counts two acceptances of a one-time template as two notifications', async () => {
    const id = openid('popup-twice')
    await popup(id, [SHIPPED], {}, now() - 2)
    await popup(id, [SHIPPED], {}, now() - 1)
    expect((await adminNotify(id, shipped('one'))).status).toBe(200)
    expect((await adminNotify(id, shipped('two'))).status).toBe(200)
    expect((await adminNotify(id, shipped('three'))).status).toBe(409)
    expect(await fakeWechat.notifyCalls(id)).toBe(2)
  })
})

describe('a reject', () => {
  it('from the user’s settings ends the consent; an older acceptance delivered late does not undo it', async () => {
    const id = openid('change')
    await popup(id, [SHIPPED], {}, now() - 10)
    const change = forgePushXml('subscribe_msg_change_event', {
      openid: id,
      templateIds: [SHIPPED],
      createTime: now() - 5,
    })
    expect((await postPush(change, 'safe')).status).toBe(200)
    // An acceptance from before the reject, delivered after it.
    const late = forgePushXml('subscribe_msg_popup_event', {
      openid: id,
      templateIds: [SHIPPED],
      createTime: now() - 20,
    })
    expect((await exports.default.fetch(await signedRequest(late, 'safe'))).status).toBe(200)
    await stateWhen(id, (s) =>
      expect(s.consents).toEqual([{ templateId: SHIPPED, state: 'rejected' }]),
    )
    expect((await adminNotify(id, shipped('after-reject'))).status).toBe(409)
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
  })

  it('in the popup, then an acceptance after it, allows the notification again', async () => {
    const id = openid('reaccept')
    await popup(id, [SHIPPED], { [SHIPPED]: 'reject' }, now() - 5)
    await popup(id, [SHIPPED], {}, now() - 1)
    expect((await adminNotify(id, shipped('back'))).status).toBe(200)
  })
})

describe('a plaintext push', () => {
  // Its body is signed by nothing: one captured signed URL lets anyone post one for any OpenID.
  it('of a popup grants no consent, and is answered success', async () => {
    const id = openid('plain-popup')
    const logs = captureLogs('log', 'warn')
    const forged = forgePushXml('subscribe_msg_popup_event', { openid: id, templateIds: [SHIPPED] })
    // Posted by someone else: WeChat itself knows of no acceptance.
    const response = await exports.default.fetch(await signedRequest(forged))
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('success')
    expect((await userState(id))?.consents ?? []).toEqual([])
    expect((await adminNotify(id, shipped('forged'))).status).toBe(409)
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
    expect(logs.records).toContainEqual(
      expect.objectContaining({ event: 'notification_push_ignored', reason: 'unauthenticated' }),
    )
  })

  it('of a change clears no consent', async () => {
    const id = openid('plain-change')
    await popup(id, [SHIPPED], {}, now() - 5)
    const forged = forgePushXml('subscribe_msg_change_event', {
      openid: id,
      templateIds: [SHIPPED],
      createTime: now() - 1,
    })
    // Posted by someone else: WeChat itself knows of no reject.
    expect((await exports.default.fetch(await signedRequest(forged))).status).toBe(200)
    await stateWhen(id, (s) =>
      expect(s.consents).toEqual([{ templateId: SHIPPED, state: 'accepted' }]),
    )
    expect((await adminNotify(id, shipped('still-allowed'))).status).toBe(200)
  })
})

describe('the purge', () => {
  it('deletes the consent with the user on unfollow; a later follow starts without it', async () => {
    const id = openid('purge-consent')
    await popup(id, [SHIPPED, REMINDER], {}, now() - 3)
    await stateWhen(id, (s) => expect(s.consents).toHaveLength(2))
    await postPush(forgePushXml('unsubscribe', { openid: id, createTime: now() - 2 }))
    expect(await userState(id)).toBeNull()
    await postPush(forgePushXml('subscribe', { openid: id, createTime: now() }))
    const state = await stateWhen(id, (s) => expect(s.subscribed).toBe(true))
    expect(state.consents).toEqual([])
    // WeChat may still hold the acceptance; this user's consent here is gone, so nothing is asked.
    expect((await adminNotify(id, shipped('after-purge'))).status).toBe(409)
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
  })

  it('deletes it on an authorization revoke', async () => {
    const id = openid('revoke-consent')
    await popup(id, [SHIPPED], {}, now() - 3)
    await postPush(forgePushXml('user_authorization_revoke', { openid: id, createTime: now() - 1 }))
    expect(await userState(id)).toBeNull()
    expect((await adminNotify(id, shipped('after-revoke'))).status).toBe(409)
    expect(await fakeWechat.notifyCalls(id)).toBe(0)
  })
})
