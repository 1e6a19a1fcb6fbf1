/**
 * The user's Durable Object as the one owner of a user's data: a job still running when the
 * user unfollows (or revokes) can write nothing afterwards, a job that starts after the purge
 * writes not even its claim, rows expire 24 h after their last write whatever table holds them,
 * and the dead letters go with the purge even when KV fails at that moment.
 */

import { createMessageBatch, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it, vi } from 'vitest'
import { botsOf } from '../../src/bot/bots.ts'
import { later, Router } from '../../src/bot/router.ts'
import type { Env } from '../../src/env.ts'
import { listDeadLetters, recordDeadLetter } from '../../src/queues/dead-letters.ts'
import { runLaterJob } from '../../src/queues/later.ts'
import { handleQueueBatch } from '../../src/queues/pushes.ts'
import type { QueuedJob, QueuedPush } from '../../src/queues/queued.ts'
import { RETENTION_MS } from '../../src/receive/retention.ts'
import { OUTBOX_RETENTION_MS } from '../../src/user/lifecycle.ts'
import type { UserState } from '../../src/user/state.ts'
import { message } from '../../src/wechat/api.ts'
import type { PushKind } from '../../src/wechat/push.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { forgedPush, queuedJob, queuedPush, unanswered } from '../helpers/pushes.ts'
import { rowCounts, sweepDeadLettersNow } from '../helpers/stored.ts'
import { openid } from '../helpers/wechat.ts'

const now = () => Math.floor(Date.now() / 1000)
const userOf = (id: string) => env.USERS.getByName(id)

async function applied(id: string, kind: PushKind, createTime: number, fields = {}) {
  const queued = await queuedPush(forgedPush(kind, { openid: id, createTime, ...fields }))
  return (await userOf(id).receive(unanswered(queued.key, queued.push))).outcome
}

function rows(id: string) {
  return rowCounts(id, ['profile', 'session', 'jobs', 'outbox'])
}

/** A deferred route that waits at a gate the test opens, then writes and (optionally) sends. */
function gatedBot(sends: boolean) {
  let enter: () => void = () => {}
  let open: () => void = () => {}
  const entered = new Promise<void>((resolve) => {
    enter = resolve
  })
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  const bot = new Router<Env, { door: string }>().text(
    /^remember /,
    later(
      async (_push, { session, send }) => {
        enter()
        await gate
        await session.set('door', '4711')
        if (sends) await send(message.text('noted'))
      },
      { name: 'remember' },
    ),
  )
  return { bot, entered, open }
}

describe('a job running across the purge', () => {
  it.each([
    ['an unfollow', 'unsubscribe', true],
    ['an authorization revoke', 'user_authorization_revoke', false],
  ] as const)(
    '%s: the job writes and sends nothing, and a new follow starts clean',
    async (_, purgeKind, sends) => {
      const id = openid(`job-${purgeKind}`)
      const t = now() - 60
      expect(await applied(id, 'subscribe', t)).toBe('received')
      const push = forgedPush('text', { openid: id, createTime: t + 1, content: 'remember 4711' })
      const job: QueuedJob = await queuedJob(push, 'remember')
      const { bot, entered, open } = gatedBot(sends)

      const running = runLaterJob(job, env, botsOf(bot), 'message-1')
      await entered
      expect(await applied(id, purgeKind, t + 2)).toBe('purged')
      open()
      expect(await running).toBe('purged')

      expect(await fakeWechat.sent(id)).toEqual([])
      expect(await userOf(id).snapshot()).toBeNull()
      expect(await rows(id)).toEqual({ profile: 0, session: 0, jobs: 0, outbox: 0 })
      expect(await applied(id, 'subscribe', t + 3)).toBe('received')
      expect(await userOf(id).readSession()).toEqual({})
      expect((await userOf(id).snapshot())?.session).toEqual({ keys: [], bytes: 0 })
    },
  )

  it('a job that starts after the purge writes not even its claim', async () => {
    const id = openid('job-after')
    const t = now() - 60
    await applied(id, 'subscribe', t)
    const push = forgedPush('text', { openid: id, createTime: t + 1, content: 'remember me' })
    await applied(id, 'unsubscribe', t + 2)
    const job: QueuedJob = await queuedJob(push, 'remember')
    expect(await runLaterJob(job, env, botsOf(gatedBot(false).bot), 'message-2')).toBe('purged')
    expect(await rows(id)).toEqual({ profile: 0, session: 0, jobs: 0, outbox: 0 })
  })
})

describe('retention from every table', () => {
  it('job rows go 24 h and outbox rows 8 days after their last write, after the pushes that opened them', async () => {
    const id = openid('retention')
    await applied(id, 'text', now())
    const user = userOf(id)
    expect(await user.claimJob('admin:1', 'admin', null)).toBe('claimed')
    expect(await user.reserveSends('admin:1', 0, 1)).toEqual({ parts: ['reserved'] })
    await user.confirmSend('admin:1', 0)
    expect(await user.finishJob('admin:1', 'admin')).toBe('finished')

    // The push is past its retention; the send is an hour old.
    const hour = 60 * 60 * 1000
    const aged = await runInDurableObject(user, (_: UserState, state) => {
      const at = Date.now()
      state.storage.sql.exec('UPDATE received SET received_at = ?', at - RETENTION_MS - hour)
      state.storage.sql.exec('UPDATE outbox SET at = ?', at - hour)
      state.storage.sql.exec('UPDATE jobs SET at = ?', at - hour)
      return at
    })
    expect(await runDurableObjectAlarm(user)).toBe(true)
    const next = await runInDurableObject(user, (_: UserState, state) => state.storage.getAlarm())
    // The next wake comes from the job, not from the (now empty) received table.
    expect(next).not.toBeNull()
    expect(next).toBeLessThanOrEqual(aged - hour + RETENTION_MS + 1_000)
    expect(await rows(id)).toMatchObject({ jobs: 1, outbox: 1 })

    await runInDurableObject(user, (_: UserState, state) => {
      state.storage.sql.exec('UPDATE outbox SET at = ?', Date.now() - RETENTION_MS - 1)
      state.storage.sql.exec('UPDATE jobs SET at = ?', Date.now() - RETENTION_MS - 1)
    })
    expect(await runDurableObjectAlarm(user)).toBe(true)
    // What WeChat accepted outlives every dead letter of its job (7 days), then goes too.
    expect(await rows(id)).toMatchObject({ jobs: 0, outbox: 1 })
    await runInDurableObject(user, (_: UserState, state) => {
      state.storage.sql.exec('UPDATE outbox SET at = ?', Date.now() - OUTBOX_RETENTION_MS - 1)
    })
    expect(await runDurableObjectAlarm(user)).toBe(true)
    expect(await rows(id)).toMatchObject({ jobs: 0, outbox: 0 })
  })
})

describe('dead letters go with the purge', () => {
  it('KV failing at the unfollow: the unfollow is answered, the letters are swept later', async () => {
    const id = openid('sweep')
    const t = now() - 60
    await applied(id, 'subscribe', t)
    const letter = await queuedPush(forgedPush('text', { openid: id, createTime: t + 1 }))
    await recordDeadLetter(env.DEAD_LETTERS, { queued: letter, attempts: 6, reason: null })

    const list = vi.spyOn(env.DEAD_LETTERS, 'list').mockRejectedValue(new Error('KV is down'))
    expect(await applied(id, 'unsubscribe', t + 2)).toBe('purged')
    await sweepDeadLettersNow(id)
    const lettersOf = async () =>
      (await listDeadLetters(env.DEAD_LETTERS, 'env')).filter((l) => l.openid === id)
    list.mockRestore()
    expect(await lettersOf()).toHaveLength(1)
    // The failed sweep set the alarm a minute ahead; here it runs at once.
    const alarm = await runInDurableObject(userOf(id), (_: UserState, state) =>
      state.storage.getAlarm(),
    )
    expect(alarm).toBeLessThanOrEqual(Date.now() + 60_000)
    expect(await runDurableObjectAlarm(userOf(id))).toBe(true)
    expect(await lettersOf()).toEqual([])
  })

  it('a sweep after a re-follow spares the letters of the new follow', async () => {
    const id = openid('sweep-refollow')
    const t = now() - 60
    await applied(id, 'subscribe', t)
    await applied(id, 'unsubscribe', t + 1)
    await applied(id, 'subscribe', t + 2)
    const fresh = await queuedPush(forgedPush('text', { openid: id, createTime: t + 3 }))
    await userOf(id).keepDeadLetter({ queued: fresh, attempts: 6, reason: 'kept' })
    await sweepDeadLettersNow(id)
    expect(
      (await listDeadLetters(env.DEAD_LETTERS, 'env')).filter((l) => l.openid === id),
    ).toHaveLength(1)
  })

  it('a push of the user that reaches the dead-letter queue after their purge is not kept', async () => {
    const id = openid('late-letter')
    const t = now() - 60
    await applied(id, 'subscribe', t)
    const late = await queuedPush(forgedPush('click', { openid: id, createTime: t + 1 }))
    await applied(id, 'unsubscribe', t + 2)
    const batch = createMessageBatch<QueuedPush>('wechat-edge-pushes-dlq', [
      { id: 'late', timestamp: new Date(), attempts: 6, body: late },
    ])
    await handleQueueBatch(batch, env)
    expect((await listDeadLetters(env.DEAD_LETTERS, 'env')).filter((l) => l.openid === id)).toEqual(
      [],
    )
  })
})
