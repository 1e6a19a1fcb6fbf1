import { createMessageBatch } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { listDeadLetters } from '../../src/queues/dead-letters.ts'
import { handleQueueBatch } from '../../src/queues/pushes.ts'
import type { QueuedPush } from '../../src/queues/queued.ts'
import { userState } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { forgedPush, queuedPush } from '../helpers/pushes.ts'
import { sweepDeadLettersNow } from '../helpers/stored.ts'
import { exchange, openid, postPush } from '../helpers/wechat.ts'

/** The dead letters filed under one user, as the admin API lists them. */
const deadLettersOf = async (id: string) =>
  (await listDeadLetters(env.DEAD_LETTERS, 'env')).filter((letter) => letter.openid === id)

const settled = (id: string, expected: object) =>
  eventually(async () => {
    expect(await userState(id)).toMatchObject(expected)
  })

/** Whether a UserState holds anything at all for this name (the admin view or a tombstone). */
async function hasStorage(name: string): Promise<boolean> {
  const user = env.USERS.getByName(name)
  return (await user.snapshot()) !== null || (await user.recent()).length > 0
}

describe('whose push is whose', () => {
  it('answers two users who share a MsgId in one second each from their own push', async () => {
    const [a, b] = [openid('collideA'), openid('collideB')]
    const createTime = Math.floor(Date.now() / 1000)
    const msgId = '6054768590064713728'
    const fromA = await exchange(
      forgePushXml('text', { openid: a, createTime, msgId, content: 'secret of A' }),
    )
    const fromB = await exchange(
      forgePushXml('text', { openid: b, createTime, msgId, content: 'hello from B' }),
    )
    expect(fromA.reply).toContain('secret of A')
    expect(fromB.reply).toContain('hello from B')
    expect(fromB.reply).not.toContain('secret of A')
    expect(fromB.reply).toContain(`<ToUserName><![CDATA[${b}]]></ToUserName>`)
    await settled(a, { eventCount: 1 })
    await settled(b, { eventCount: 1 })
  })

  it('never creates state for the sender of a system push', async () => {
    const sender = openid('system')
    for (const kind of [
      'template_send_job_finish',
      'mass_send_job_finish',
      'publish_job_finish',
    ] as const) {
      expect((await postPush(forgePushXml(kind, { openid: sender }))).status).toBe(200)
    }
    expect((await postPush(forgePushXml('user_info_modified', { openid: sender }))).status).toBe(
      200,
    )
    // A follower's push sent after them is applied: once it is, the Queue has passed them by.
    const follower = openid('after-system')
    await postPush(forgePushXml('click', { openid: follower }))
    await settled(follower, { eventCount: 1 })
    expect(await hasStorage(sender)).toBe(false)
  })

  it('a system push that reaches the consumer anyway creates no UserState', async () => {
    const sender = openid('system-queued')
    const push = forgedPush('mass_send_job_finish', { openid: sender })
    const batch = createMessageBatch<QueuedPush>('wechat-edge-pushes', [
      {
        id: 's0',
        timestamp: new Date(),
        attempts: 1,
        body: await queuedPush(push),
      },
    ])
    await handleQueueBatch(batch, env)
    expect(await hasStorage(sender)).toBe(false)
  })
})

describe('authorization revoke and cancellation', () => {
  it.each(['user_authorization_revoke', 'user_authorization_cancellation'] as const)(
    '%s purges the OpenID’s state and dead letters, exactly as an unfollow does',
    async (kind) => {
      const id = openid(kind.slice(-6))
      const createTime = Math.floor(Date.now() / 1000) - 10
      await postPush(forgePushXml('subscribe', { openid: id, scene: 'campaign', createTime }))
      await settled(id, { scene: 'campaign', eventCount: 1 })
      const dead = forgedPush('text', { openid: id, createTime })
      await handleQueueBatch(
        createMessageBatch<QueuedPush>('wechat-edge-pushes-dlq', [
          {
            id: 'd0',
            timestamp: new Date(),
            attempts: 6,
            body: await queuedPush(dead),
          },
        ]),
        env,
      )
      expect(await deadLettersOf(id)).toHaveLength(1)

      const revoke = await exchange(forgePushXml(kind, { openid: id, createTime: createTime + 5 }))
      expect(revoke.status).toBe(200)
      await eventually(async () => expect(await userState(id)).toBeNull())
      // The user's object sweeps them from its alarm, a minute after the purge.
      await sweepDeadLettersNow(id)
      expect(await deadLettersOf(id)).toEqual([])
      // The tombstone holds: a late push from before the revoke brings nothing back.
      await postPush(forgePushXml('location_report', { openid: id, createTime: createTime + 1 }))
      const later = openid('after-revoke')
      await postPush(forgePushXml('click', { openid: later }))
      await settled(later, { eventCount: 1 })
      expect(await userState(id)).toBeNull()
      // And the push service that sent the revoke has no state of its own.
      expect(await hasStorage(forgedPush(kind).fromUserName)).toBe(false)
    },
    30_000,
  )
})
