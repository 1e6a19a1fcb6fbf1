import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { userState } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { forgedPush, parsedPush, queuedPush } from '../helpers/pushes.ts'
import { storedReply } from '../helpers/stored.ts'
import { exchange, openid, postPush } from '../helpers/wechat.ts'

/** Waits until the Queue has applied what the test expects to the user's Durable Object. */
const settled = (id: string, expected: object) =>
  eventually(async () => {
    expect(await userState(id)).toMatchObject(expected)
  })

describe('exactly once, over HTTP and the real Queue', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('answers three concurrent retries alike and applies the push once', async () => {
    // The reply's CreateTime is the wall clock's second: hold it still for the three attempts.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() })
    const id = openid('concurrent')
    const xml = forgePushXml('subscribe', { openid: id, scene: 'triple' })
    const answers = await Promise.all([exchange(xml), exchange(xml), exchange(xml)])
    vi.useRealTimers()
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200])
    expect(new Set(answers.map((answer) => answer.reply)).size).toBe(1)
    expect(answers[0]?.reply).toContain('QR scene triple')
    await settled(id, { eventCount: 1, scene: 'triple', subscribed: true })
  })

  it('answers a later retry with the first reply, from the user’s Durable Object', async () => {
    const id = openid('later')
    const xml = forgePushXml('text', { openid: id, content: 'first' })
    const first = await exchange(xml)
    const push = parsedPush(xml)
    expect(await storedReply(push)).toBe(first.reply)
    expect((await exchange(xml)).reply).toBe(first.reply)
    await settled(id, { eventCount: 1 })
  })

  it('applies the same message delivered twice by the Queue once', async () => {
    const id = openid('redelivered')
    const queued = await queuedPush(forgedPush('click', { openid: id, menuKey: 'TWICE' }))
    await env.PUSHES.send(queued)
    await env.PUSHES.send(queued)
    await settled(id, { eventCount: 1, lastMenuKey: 'TWICE' })
    // And it stays at one once both deliveries are surely through.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(await userState(id)).toMatchObject({ eventCount: 1 })
  })

  it('counts two different events of one user in the same second as two', async () => {
    const id = openid('two')
    const createTime = Math.floor(Date.now() / 1000)
    await postPush(forgePushXml('subscribe', { openid: id, scene: 'qr', createTime }))
    await postPush(forgePushXml('location_report', { openid: id, createTime }))
    await settled(id, { eventCount: 2, scene: 'qr', location: { at: createTime } })
  })

  it('keeps the newest location when reports arrive out of order', async () => {
    const id = openid('ooo')
    // Both times from one reading of the clock: the older report is always two seconds older,
    // however long the first takes to settle (reading the clock twice let them coincide).
    const newer = Math.floor(Date.now() / 1000)
    await postPush(forgePushXml('location_report', { openid: id, createTime: newer, latitude: 12 }))
    await settled(id, { eventCount: 1 })
    await postPush(
      forgePushXml('location_report', { openid: id, createTime: newer - 2, latitude: 10 }),
    )
    await settled(id, { eventCount: 2, location: { latitude: 12 } })
  })

  it('purges on unfollow, and a late push from before it brings nothing back', async () => {
    const id = openid('unfollow')
    const now = Math.floor(Date.now() / 1000)
    await postPush(forgePushXml('subscribe', { openid: id, scene: 'gone', createTime: now - 10 }))
    await postPush(forgePushXml('click', { openid: id, createTime: now - 9 }))
    await settled(id, { eventCount: 2 })
    expect(
      (await exchange(forgePushXml('unsubscribe', { openid: id, createTime: now - 5 }))).body,
    ).toBe('success')
    await eventually(async () => expect(await userState(id)).toBeNull())
    await postPush(forgePushXml('location_report', { openid: id, createTime: now - 7 }))
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(await userState(id)).toBeNull()
    // A later follow starts clean.
    await postPush(forgePushXml('subscribe', { openid: id, createTime: now }))
    await settled(id, { eventCount: 1, scene: null, lastMenuKey: null, subscribedAt: now })
  })
})
