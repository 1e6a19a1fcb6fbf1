/**
 * Scene QR codes through the admin API, against the fake WeChat API, and their counts per scene
 * and day: aggregates only, each push counted once however often WeChat delivers it.
 */

import { runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { objectsOf } from '../../src/accounts/objects.ts'
import { campaignDay } from '../../src/campaigns.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { openid, postPush } from '../helpers/wechat.ts'

const admin = (path: string, init: RequestInit = {}) =>
  exports.default.fetch(`https://edge.test/admin${path}`, {
    ...init,
    headers: { ...ADMIN_HEADERS, ...init.headers },
  })

const createCode = (body: object) =>
  admin('/qrcodes', { method: 'POST', body: JSON.stringify(body) })

const uniqueScene = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`

describe('POST /admin/qrcodes', () => {
  it('makes a temporary string-scene code, with its image, and lists it', async () => {
    const scene = uniqueScene('spring')
    const response = await createCode({ scene, expireSeconds: 3600 })
    expect(response.status).toBe(201)
    const made = (await response.json()) as Record<string, unknown>
    expect(made).toEqual({
      scene,
      ticket: expect.any(String),
      url: expect.stringMatching(/^http:\/\/weixin\.qq\.com\/q\//),
      image: expect.stringContaining('cgi-bin/showqrcode?ticket='),
      expiresAt: expect.any(Number),
    })
    expect(made.expiresAt as number).toBeGreaterThan(Date.now() + 3590 * 1000)
    const image = await fetch(made.image as string)
    expect(image.headers.get('Content-Type')).toBe('image/svg+xml')
    const listed = (await (await admin('/qrcodes')).json()) as { qrcodes: { scene: string }[] }
    expect(listed.qrcodes.map((code) => code.scene)).toContain(scene)
  })

  it('makes a permanent code when no expireSeconds is given', async () => {
    const response = await createCode({ scene: uniqueScene('poster') })
    expect(response.status).toBe(201)
    expect(await response.json()).toMatchObject({ expiresAt: null })
  })

  it.each([
    [{ scene: '' }, 'scene is 1 to 64 letters, digits, _ - or .'],
    [{ scene: 'x'.repeat(65) }, 'scene is 1 to 64 letters, digits, _ - or .'],
    [{ scene: 'with space' }, 'scene is 1 to 64 letters, digits, _ - or .'],
    [{ scene: 'login_abc' }, 'scenes starting login_ are scan to log in’s'.replace('’', "'")],
    [{ scene: 'ok', expireSeconds: 59 }, 'expireSeconds is a whole number from 60 to 2592000'],
    [
      { scene: 'ok', expireSeconds: 2_592_001 },
      'expireSeconds is a whole number from 60 to 2592000',
    ],
    [{ scene: 42 }, 'scene must be a string'],
  ])('refuses %j with 400 naming why', async (body, reason) => {
    const response = await createCode(body)
    expect(response.status).toBe(400)
    expect(await response.text()).toBe(reason)
  })
})

describe('campaign counts', () => {
  it('counts follows, scans and unfollows once each, per day, keeping no OpenID', async () => {
    const scene = uniqueScene('autumn')
    const now = Math.floor(Date.now() / 1000)
    const follower = openid('campaign-follower')
    const existing = openid('campaign-existing')
    const elsewhere = openid('campaign-elsewhere')
    const follow = forgePushXml('subscribe', { openid: follower, scene, createTime: now })
    const scan = forgePushXml('scan', { openid: existing, scene, createTime: now })
    // WeChat's retries deliver each push more than once: counted once.
    for (const xml of [follow, follow, scan, scan, scan])
      expect((await postPush(xml)).status).toBe(200)
    await postPush(forgePushXml('unsubscribe', { openid: follower, createTime: now + 1 }))
    // An unfollow of someone who came by another scene is not this campaign's.
    await postPush(
      forgePushXml('subscribe', { openid: elsewhere, scene: 'other', createTime: now }),
    )
    await postPush(forgePushXml('unsubscribe', { openid: elsewhere, createTime: now + 1 }))

    const stats = await (await admin(`/qrcodes/${scene}/stats`)).json()
    expect(stats).toEqual({
      scene,
      follows: 1,
      scans: 1,
      unfollows: 1,
      days: [{ day: campaignDay(now * 1000), follows: 1, scans: 1, unfollows: 1 }],
    })
    const stored = await runInDurableObject(
      objectsOf(env, 'env').campaigns(env.WECHAT_APPID),
      (_, state) => JSON.stringify(state.storage.sql.exec('SELECT * FROM counts').toArray()),
    )
    for (const id of [follower, existing, elsewhere]) expect(stored).not.toContain(id)
  })

  it('does not count a login’s one-time scene as a campaign', async () => {
    const id = openid('login-scan')
    const scene = `login_${'a'.repeat(22)}`
    await postPush(forgePushXml('scan', { openid: id, scene }))
    expect(await (await admin(`/qrcodes/${scene}/stats`)).json()).toMatchObject({ scans: 0 })
  })

  it('dates a count by China Standard Time', () => {
    // 16:30 UTC is half past midnight the next day in Beijing.
    expect(campaignDay(Date.UTC(2026, 10, 29, 16, 30))).toBe('2026-11-30')
    expect(campaignDay(Date.UTC(2026, 10, 29, 15, 59))).toBe('2026-11-29')
  })
})
