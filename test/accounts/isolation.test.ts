/**
 * What one account keeps is its own: the same OpenID under two accounts is two users; the
 * ledger, the reply cache, dead letters, tokens, campaign counts, menus and logins are per
 * account; an account's admin token opens that account only.
 */

import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { objectsOf } from '../../src/accounts/objects.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import { recordDeadLetter } from '../../src/queues/dead-letters.ts'
import { accounts, adminOf, exchangeWith } from '../helpers/accounts.ts'
import { eventually } from '../helpers/eventually.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { forgedPush, queuedPush } from '../helpers/pushes.ts'
import { openid } from '../helpers/wechat.ts'

const now = () => Math.floor(Date.now() / 1000)
const count = (user: string, at = now()) =>
  forgePushXml('text', {
    openid: user,
    content: 'count',
    createTime: at,
    msgId: `${at}${Math.floor(Math.random() * 1e6)}`,
  })

const stateOf = async (account: typeof accounts.shop, user: string) => {
  const response = await adminOf(account, `users/${user}`)
  return response.status === 200 ? ((await response.json()) as { eventCount: number }) : null
}

describe('one OpenID under two accounts is two users', () => {
  it('keeps two sessions, and an unfollow on one leaves the other intact', async () => {
    const user = openid('acct-twice')
    expect((await exchangeWith(accounts.shop, count(user, now() - 3))).reply).toContain('count: 1')
    expect((await exchangeWith(accounts.shop, count(user, now() - 2))).reply).toContain('count: 2')
    expect((await exchangeWith(accounts.env, count(user, now() - 1))).reply).toContain('count: 1')
    expect(await stateOf(accounts.shop, user)).toMatchObject({ eventCount: 2 })
    expect(await stateOf(accounts.env, user)).toMatchObject({ eventCount: 1 })
    await exchangeWith(accounts.shop, forgePushXml('unsubscribe', { openid: user }))
    expect(await stateOf(accounts.shop, user)).toBeNull()
    expect(await stateOf(accounts.env, user)).toMatchObject({ eventCount: 1 })
    expect((await exchangeWith(accounts.env, count(user))).reply).toContain('count: 2')
  })

  it('answers a retry at one account with that account’s reply only', async () => {
    const user = openid('acct-retry')
    const push = count(user)
    expect((await exchangeWith(accounts.news, push)).reply).toContain('count: 1')
    // The same push (same fields) to another account is a push of its own, not a retry.
    expect((await exchangeWith(accounts.shop, push)).reply).toContain('count: 1')
    expect((await exchangeWith(accounts.news, push)).reply).toContain('count: 1')
  })
})

describe('what each account keeps', () => {
  it('sends a deferred answer with the account’s own access token', async () => {
    const user = openid('acct-later')
    const push = forgePushXml('text', { openid: user, content: 'later shop' })
    expect((await exchangeWith(accounts.shop, push)).reply).toBe('success')
    const sent = await eventually(async () => {
      const messages = await fakeWechat.sent(user)
      expect(messages).toHaveLength(1)
      return messages
    }, 20_000)
    expect(sent[0]).toMatchObject({
      appid: accounts.shop.appId,
      body: { text: { content: 'later: shop' } },
    })
  }, 30_000)

  it('files dead letters under their account: another account’s admin never lists them', async () => {
    const user = openid('acct-dead')
    const queued = { ...(await queuedPush(forgedPush('text', { openid: user }))), account: 'shop' }
    await recordDeadLetter(env.DEAD_LETTERS, { queued, attempts: 6, reason: 'kept' })
    const listed = async (account: typeof accounts.shop) =>
      (
        (await (await adminOf(account, 'dead-letters')).json()) as {
          deadLetters: { openid: string }[]
        }
      ).deadLetters.filter((letter) => letter.openid === user)
    expect(await listed(accounts.shop)).toHaveLength(1)
    expect(await listed(accounts.env)).toEqual([])
    expect(await listed(accounts.news)).toEqual([])
    // A purge of the same OpenID on another account leaves this one's letter alone.
    await adminOf(accounts.env, `users/${user}`, { method: 'DELETE' })
    expect(await listed(accounts.shop)).toHaveLength(1)
  })

  it('counts campaigns per account', async () => {
    const scene = `acct-scene-${Date.now()}`
    const user = openid('acct-scan')
    await exchangeWith(accounts.news, forgePushXml('scan', { openid: user, scene }))
    const stats = async (account: typeof accounts.shop) =>
      ((await (await adminOf(account, `qrcodes/${scene}/stats`)).json()) as { scans: number }).scans
    await eventually(async () => expect(await stats(accounts.news)).toBe(1))
    expect(await stats(accounts.env)).toBe(0)
    expect(await stats(accounts.shop)).toBe(0)
  })

  it('holds one token per account, and the admin API shows each account its own', async () => {
    const user = openid('acct-token')
    // The user wrote to news: its window is open, in news's records and WeChat's.
    await exchangeWith(accounts.news, forgePushXml('text', { openid: user, content: 'hello' }))
    const sent = await adminOf(accounts.news, `users/${user}/messages`, {
      method: 'POST',
      body: JSON.stringify({ msgtype: 'text', text: { content: 'from news' } }),
    })
    expect(await sent.json()).toMatchObject({ sent: true })
    expect((await fakeWechat.sent(user))[0]).toMatchObject({ appid: accounts.news.appId })
    const status = await (await adminOf(accounts.news, 'access-token')).json()
    expect(status).toMatchObject({ talkBack: true, held: true })
    const held = await objectsOf(env, 'news').token(accounts.news.appId).status()
    expect(held.held).toBe(true)
  })
})

describe('an account’s own admin token', () => {
  const newsToken = 'news-admin-token'

  it('opens that account and no other', async () => {
    expect((await adminOf(accounts.news, 'dead-letters', {}, newsToken)).status).toBe(200)
    expect((await adminOf(accounts.shop, 'dead-letters', {}, newsToken)).status).toBe(401)
    expect((await adminOf(accounts.env, 'dead-letters', {}, newsToken)).status).toBe(401)
    // ADMIN_TOKEN opens them all.
    expect((await adminOf(accounts.news, 'dead-letters')).status).toBe(200)
  })

  it('shows GET / and the list of accounts for that account only', async () => {
    const headers = { Authorization: `Bearer ${newsToken}` }
    const health = (await (
      await exports.default.fetch('https://edge.test/', { headers })
    ).json()) as {
      accounts: Record<string, unknown>
      warnings?: unknown
    }
    expect(Object.keys(health.accounts)).toEqual(['news'])
    expect(health.warnings).toBeUndefined()
    const listed = (await (
      await exports.default.fetch('https://edge.test/admin/accounts', { headers })
    ).json()) as { accounts: { id: string }[] }
    expect(listed.accounts.map((account) => account.id)).toEqual(['news'])
  })
})

describe('scan to log in, per account', () => {
  it('starts, asks, confirms and trades a login of one account only with its own secret', async () => {
    const started = await exports.default.fetch('https://edge.test/login/qr?account=shop', {
      method: 'POST',
      headers: { 'CF-Connecting-IP': '203.0.113.40' },
    })
    expect(started.status).toBe(201)
    const login = (await started.json()) as { id: string; ticket: string }
    const { scene } = (await (
      await fetch(new URL(`fake/qrcode?ticket=${login.ticket}`, env.WECHAT_API_BASE))
    ).json()) as { scene: string }
    const user = openid('acct-login')
    // The same scene pushed to another account is no login of its.
    expect(
      (await exchangeWith(accounts.env, forgePushXml('scan', { openid: user, scene }))).reply,
    ).toContain('expired')
    expect(
      (await exchangeWith(accounts.shop, forgePushXml('scan', { openid: user, scene }))).reply,
    ).toContain('Sign in to The Shop')
    await exchangeWith(accounts.shop, forgePushXml('text', { openid: user, content: '1' }))
    const status = async (query: string) =>
      (await (
        await exports.default.fetch(`https://edge.test/login/status${query}`, {
          method: 'POST',
          body: JSON.stringify({ id: login.id }),
        })
      ).json()) as { status: string; code?: string }
    expect(await status('')).toEqual({ status: 'expired' })
    const confirmed = await status('?account=shop')
    expect(confirmed.status).toBe('confirmed')
    const trade = (secret: string, query: string) =>
      exports.default.fetch(`https://edge.test/login/exchange${query}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${secret}` },
        body: JSON.stringify({ code: confirmed.code }),
      })
    expect((await trade(env.LOGIN_SECRET, '')).status).toBe(400)
    expect((await trade(env.LOGIN_SECRET, '?account=shop')).status).toBe(401)
    expect(await (await trade('shop-login-secret', '?account=shop')).json()).toMatchObject({
      openid: user,
    })
  })

  it('is not there for an account without a login secret', async () => {
    const response = await exports.default.fetch('https://edge.test/login/qr?account=news', {
      method: 'POST',
    })
    expect(response.status).toBe(404)
  })
})
