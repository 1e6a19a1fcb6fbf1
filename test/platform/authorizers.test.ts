/**
 * Accounts that authorized the platform: their pushes at /wechat/platform/<appid>, routed to
 * the bot as that account and kept apart like any account's; their tokens refreshed by the
 * platform; a push of an account that has not (or no longer) authorized kept nowhere; and a
 * revoke that drops the tokens at once and purges every user, however many, in batches.
 */

import { runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { Router } from '../../src/bot/router.ts'
import { fakeUserNameOf } from '../../src/debug/fake-platform.ts'
import { forgePushXml, freshMsgId, openReply } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { PURGE_BATCH } from '../../src/platform/platform.ts'
import { openFor } from '../../src/platform/seal.ts'
import { reply } from '../../src/wechat/reply.ts'
import { accounts, adminOf, exchangeWith } from '../helpers/accounts.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import {
  authorizeAs,
  authorizedAccount,
  authorizerView,
  newAppId,
  platform,
  platformStats,
  pushNewTicket,
  revokeInFake,
  sendAs,
  sendEvent,
  signedAs,
} from '../helpers/platform.ts'
import { openid } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

/** A text from `user` to an authorizer (by its original id, as the fake gave it) or the env account. */
const text = (user: string, content: string, to?: string) =>
  forgePushXml('text', {
    openid: user,
    content,
    msgId: freshMsgId(),
    ...(to && { account: fakeUserNameOf(to) }),
  })

/** The admin API of an authorizer: under /admin/accounts/<appid>, as a configured account's. */
function adminOfAuthorizer(appId: string, path: string, init: RequestInit = {}) {
  return exports.default.fetch(`https://edge.test/admin/accounts/${appId}/${path}`, {
    ...init,
    headers: { ...ADMIN_HEADERS, ...init.headers },
  })
}

async function refreshTokenOf(appId: string): Promise<string | null> {
  const stub = env.PLATFORM.getByName(platform.appId)
  const sealed = await runInDurableObject(stub, (_instance, state) =>
    state.storage.sql
      .exec<{ refresh_token: string | null }>(
        'SELECT refresh_token FROM authorizers WHERE appid = ?',
        appId,
      )
      .one(),
  )
  return sealed.refresh_token && openFor(env.WECHAT_PLATFORM_APPSECRET, appId, sealed.refresh_token)
}

describe('pushes of an authorizer', () => {
  it('reach the bot with context.account naming the authorizer, the reply sealed for the platform', async () => {
    const appId = await authorizedAccount()
    const bot = new Router<Env>().on('text', (_push, { account }) =>
      reply.text(`${account.id} ${account.appId}`),
    )
    const response = await fetchWith(
      await signedAs(appId, text(openid('pf-who'), 'who', appId)),
      {},
      bot,
    )
    expect(response.status).toBe(200)
    const opened = await openReply(await response.text(), platform)
    expect(opened.signatureValid).toBe(true)
    expect(opened.plaintext).toContain(`<Content><![CDATA[${appId} ${appId}]]></Content>`)
  })

  it('keep each authorizer’s state apart, from each other and from configured accounts', async () => {
    const [one, two] = [await authorizedAccount(), await authorizedAccount()]
    const user = openid('pf-count')
    expect((await sendAs(one, text(user, 'count', one))).reply).toContain('count: 1')
    expect((await sendAs(one, text(user, 'count', one))).reply).toContain('count: 2')
    expect((await sendAs(two, text(user, 'count', two))).reply).toContain('count: 1')
    expect((await exchangeWith(accounts.env, text(user, 'count'))).reply).toContain('count: 1')
  })

  it('are not served at /wechat/<appid>: that path is for configured accounts', async () => {
    const appId = await authorizedAccount()
    const response = await exports.default.fetch(
      `https://edge.test/wechat/${appId}?signature=x&timestamp=1&nonce=1`,
      {
        method: 'POST',
        body: '<xml/>',
      },
    )
    expect(response.status).toBe(404)
  })

  it('of an AppID that never authorized are answered `success` and kept nowhere', async () => {
    const stranger = newAppId()
    const user = openid('pf-stranger')
    const answered = await sendAs(stranger, text(user, 'count', stranger))
    expect(answered).toMatchObject({ status: 200, reply: 'success' })
    expect((await adminOfAuthorizer(stranger, `users/${user}`)).status).toBe(404)
    // A push of nobody (a job's result) to its ledger is refused the same way.
    const result = forgePushXml('template_send_job_finish', { openid: user })
    expect((await sendAs(stranger, result)).reply).toBe('success')
  })

  it('talk back with the authorizer’s token, which the platform refreshes and rotates', async () => {
    const appId = await authorizedAccount()
    const user = openid('pf-talk')
    const push = text(user, 'hello', appId)
    await fakeWechat.interact(push)
    await sendAs(appId, push)
    const sent = await adminOfAuthorizer(appId, `users/${user}/messages`, {
      method: 'POST',
      body: JSON.stringify({ msgtype: 'text', text: { content: 'from the platform' } }),
    })
    expect(await sent.json()).toMatchObject({ sent: true })
    expect((await fakeWechat.sent(user)).at(-1)).toMatchObject({ appid: appId })

    const first = await refreshTokenOf(appId)
    expect(first).toMatch(/^refreshtoken@@@/)
    for (const _ of [1, 2]) {
      const refreshed = await adminOfAuthorizer(appId, 'access-token/refresh', { method: 'POST' })
      expect(await refreshed.json()).toMatchObject({ refreshed: true })
    }
    // The fake hands a new refresh token back each time: only the newest is kept.
    const kept = await refreshTokenOf(appId)
    expect(kept).toMatch(/^refreshtoken@@@/)
    expect(kept).not.toBe(first)
    expect((await platformStats(appId)).authorizerTokens).toBe(2)
  })

  it('refuse a token pushed by hand: it is the platform’s', async () => {
    const appId = await authorizedAccount()
    const response = await adminOfAuthorizer(appId, 'access-token', {
      method: 'PUT',
      body: JSON.stringify({ access_token: 'x'.repeat(40), expires_in: 7200 }),
    })
    expect(response.status).toBe(409)
  })
})

describe('a revoke (`unauthorized`)', () => {
  it('drops the tokens at once and purges every user, in batches, however many', async () => {
    const appId = await authorizedAccount()
    const users = Array.from({ length: PURGE_BATCH * 2 + 3 }, (_, i) => openid(`pf-many-${i}`))
    for (const user of users)
      expect((await sendAs(appId, text(user, 'count', appId))).reply).toContain('count: 1')
    const made = await adminOfAuthorizer(appId, 'qrcodes', {
      method: 'POST',
      body: JSON.stringify({ scene: 'spring', expireSeconds: 600 }),
    })
    expect(made.status).toBe(201)

    await revokeInFake(appId)
    const event = await sendEvent({ infoType: 'unauthorized', authorizerAppId: appId })
    expect(await event.text()).toBe('success')

    const token = (await (await adminOfAuthorizer(appId, 'access-token')).json()) as {
      held?: boolean
    }
    expect(token.held).toBe(false)
    const refresh = await adminOfAuthorizer(appId, 'access-token/refresh', { method: 'POST' })
    expect(refresh.status).toBe(502)
    expect(await authorizerView(appId)).toMatchObject({ state: 'revoked' })

    await eventually(async () => {
      expect(await authorizerView(appId)).toMatchObject({ usersToPurge: 0 })
    })
    for (const user of users) {
      expect((await adminOfAuthorizer(appId, `users/${user}`)).status, user).toBe(404)
    }
    const codes = (await (await adminOfAuthorizer(appId, 'qrcodes')).json()) as {
      qrcodes: unknown[]
    }
    expect(codes.qrcodes).toEqual([])
    // And nothing is taken for the account from now on.
    const late = openid('pf-after')
    expect((await sendAs(appId, text(late, 'count', appId))).reply).toBe('success')
    expect((await adminOfAuthorizer(appId, `users/${late}`)).status).toBe(404)
  })

  it('by the operator (DELETE /admin/platform/authorizers/<appid>) does the same', async () => {
    const appId = await authorizedAccount()
    const user = openid('pf-drop')
    await sendAs(appId, text(user, 'count', appId))
    const dropped = await exports.default.fetch(
      `https://edge.test/admin/platform/authorizers/${appId}`,
      {
        method: 'DELETE',
        headers: ADMIN_HEADERS,
      },
    )
    expect(await dropped.json()).toMatchObject({ appId, state: 'revoked' })
    await eventually(async () => {
      expect((await adminOfAuthorizer(appId, `users/${user}`)).status).toBe(404)
    })
    expect((await sendAs(appId, text(user, 'count', appId))).reply).toBe('success')
    const unknown = await exports.default.fetch(
      `https://edge.test/admin/platform/authorizers/${newAppId()}`,
      {
        method: 'DELETE',
        headers: ADMIN_HEADERS,
      },
    )
    expect(unknown.status).toBe(404)
  })

  it('leaves no notification able to give storage to a user of the account', async () => {
    const appId = await authorizedAccount()
    await sendEvent({ infoType: 'unauthorized', authorizerAppId: appId })
    const user = openid('pf-notified')
    await adminOfAuthorizer(appId, `users/${user}/notifications`, {
      method: 'POST',
      body: JSON.stringify({
        key: 'after-revoke',
        template: 'paid',
        data: { thing1: 'Order 42', amount2: '¥39.80' },
      }),
    })
    const tables = await runInDurableObject(
      env.USERS.getByName(`${appId}/${user}`),
      (_instance, state) =>
        state.storage.sql
          .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
          .toArray()
          .map((row) => row.name)
          .filter((name) => !name.startsWith('_cf_') && !name.startsWith('sqlite_')),
    )
    expect(tables).toEqual([])
    expect(await fakeWechat.notifyCalls(user)).toBe(0)
  })

  it('is undone by a new authorization: the account is served again, from empty', async () => {
    const appId = await authorizedAccount()
    const user = openid('pf-again')
    await sendAs(appId, text(user, 'count', appId))
    await sendEvent({ infoType: 'unauthorized', authorizerAppId: appId })
    await eventually(async () => {
      expect(await authorizerView(appId)).toMatchObject({ usersToPurge: 0 })
    })
    await authorizedAccount(appId)
    expect(await authorizerView(appId)).toMatchObject({ state: 'authorized' })
    const later = text(user, 'count', appId)
    expect((await sendAs(appId, later)).reply).toContain('count: 1')
  })
})

describe('the admin view of an authorizer', () => {
  it('is the deployment operator’s alone', async () => {
    const appId = await authorizedAccount()
    const response = await exports.default.fetch(
      `https://edge.test/admin/platform/authorizers/${appId}`,
      {
        headers: { Authorization: 'Bearer news-admin-token' },
      },
    )
    expect(response.status).toBe(401)
    expect((await adminOf(accounts.news, 'dead-letters', {}, 'news-admin-token')).status).toBe(200)
  })
})

describe('what an attacker or a race could make of it', () => {
  it('refuses a push signed for one authorizer and posted to another’s URL: nothing is kept', async () => {
    const [one, two] = [await authorizedAccount(), await authorizedAccount()]
    const user = openid('pf-replay')
    // Both are signed with the platform's one Token and key: only the original id tells them apart.
    const answered = await sendAs(two, text(user, 'count', one))
    expect(answered.reply).toBe('success')
    expect((await adminOfAuthorizer(two, `users/${user}`)).status).toBe(404)
    expect((await sendAs(one, text(user, 'count', one))).reply).toContain('count: 1')
  })

  it('purges every user noted before a revoke, even when the account authorizes again at once', async () => {
    const appId = await authorizedAccount()
    const users = Array.from({ length: PURGE_BATCH + 3 }, (_, i) => openid(`pf-reauth-${i}`))
    for (const user of users) await sendAs(appId, text(user, 'count', appId))
    await sendEvent({ infoType: 'unauthorized', authorizerAppId: appId })
    await authorizedAccount(appId)
    await eventually(async () => {
      expect(await authorizerView(appId)).toMatchObject({ state: 'authorized', usersToPurge: 0 })
    })
    for (const user of users)
      expect((await adminOfAuthorizer(appId, `users/${user}`)).status).toBe(404)
  })

  it('sends nothing for an account the operator dropped, whatever an isolate held', async () => {
    const appId = await authorizedAccount()
    const user = openid('pf-dropped')
    const push = text(user, 'hello', appId)
    await fakeWechat.interact(push)
    await sendAs(appId, push)
    const send = () =>
      adminOfAuthorizer(appId, `users/${user}/messages`, {
        method: 'POST',
        body: JSON.stringify({ msgtype: 'text', text: { content: 'x' } }),
      })
    expect(await (await send()).json()).toMatchObject({ sent: true })
    await exports.default.fetch(`https://edge.test/admin/platform/authorizers/${appId}`, {
      method: 'DELETE',
      headers: ADMIN_HEADERS,
    })
    const before = (await fakeWechat.sent(user)).length
    expect((await send()).status).not.toBe(200)
    expect(await fakeWechat.sent(user)).toHaveLength(before)
  })

  it('lets a revoke win over a trade that ends after it', async () => {
    await pushNewTicket()
    const appId = newAppId()
    const granted = await authorizeAs(appId)
    const now = Date.now()
    const stub = env.PLATFORM.getByName(platform.appId)
    const view = await runInDurableObject(stub, async (instance) => {
      const trading = instance.trade(granted.code, {
        via: 'event',
        createTime: Math.floor(now / 1000) - 1,
      })
      await instance.receiveEvent(`test-revoke-${appId}`, {
        kind: 'unauthorized',
        createTime: Math.floor(now / 1000),
        authorizerAppId: appId,
      })
      await trading
      return instance.authorizer(appId)
    })
    expect(view).toMatchObject({ state: 'revoked' })
    const token = (await (await adminOfAuthorizer(appId, 'access-token')).json()) as {
      held?: boolean
    }
    expect(token.held).toBe(false)
  })

  it('revokes an account WeChat says has not authorized the platform (61003: the push was lost)', async () => {
    const appId = await authorizedAccount()
    await revokeInFake(appId)
    const refresh = await adminOfAuthorizer(appId, 'access-token/refresh', { method: 'POST' })
    expect(refresh.status).toBe(502)
    expect(await authorizerView(appId)).toMatchObject({ state: 'revoked' })
  })

  it('counts an authorizer’s QR follows in its own campaigns, and forgets them with it', async () => {
    const appId = await authorizedAccount()
    const scene = `pf-${crypto.randomUUID().slice(0, 8)}`
    await adminOfAuthorizer(appId, 'qrcodes', {
      method: 'POST',
      body: JSON.stringify({ scene, expireSeconds: 600 }),
    })
    const follow = forgePushXml('subscribe', {
      openid: openid('pf-follow'),
      scene,
      account: fakeUserNameOf(appId),
    })
    await sendAs(appId, follow)
    const stats = async () => (await adminOfAuthorizer(appId, `qrcodes/${scene}/stats`)).json()
    expect(await stats()).toMatchObject({ follows: 1 })
    await sendEvent({ infoType: 'unauthorized', authorizerAppId: appId })
    expect(await stats()).toMatchObject({ follows: 0 })
  })
})
