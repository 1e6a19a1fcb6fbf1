import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it, vi } from 'vitest'
import type { Env } from '../../src/env.ts'
import { listDeadLetters, recordDeadLetter } from '../../src/queues/dead-letters.ts'
import { handleQueueBatch, retryDelaySeconds } from '../../src/queues/pushes.ts'
import type { QueuedPush } from '../../src/queues/queued.ts'
import type { PushKind } from '../../src/wechat/push.ts'
import { ADMIN_HEADERS, userState } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { captureLogs } from '../helpers/logs.ts'
import { forgedPush, queuedPush } from '../helpers/pushes.ts'
import { sweepDeadLettersNow } from '../helpers/stored.ts'
import { openid } from '../helpers/wechat.ts'

/** The dead letters filed under one user, as the admin API lists them. */
const deadLettersOf = async (id: string) =>
  (await listDeadLetters(env.DEAD_LETTERS, 'env')).filter((letter) => letter.openid === id)

async function queued(kind: PushKind, id: string, createTime?: number): Promise<QueuedPush> {
  return queuedPush(
    forgedPush(kind, { openid: id, ...(createTime !== undefined && { createTime }) }),
  )
}

/** The real USERS namespace, whose stubs throw for the OpenIDs listed. */
function usersFailingFor(failing: Set<string>): Env['USERS'] {
  return {
    getByName(name: string) {
      if (failing.has(name)) {
        return { receive: () => Promise.reject(new Error('UserState is down')) }
      }
      return env.USERS.getByName(name)
    },
  } as unknown as Env['USERS']
}

async function consume(messages: QueuedPush[], overrides: Partial<Env> = {}, attempts = 1) {
  const batch = createMessageBatch<QueuedPush>(
    'wechat-edge-pushes',
    messages.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts, body })),
  )
  const ctx = createExecutionContext()
  await handleQueueBatch(batch, { ...env, QUEUE_RETRY_BASE_SECONDS: '2', ...overrides })
  return getQueueResult(batch, ctx)
}

describe('the Queue consumer', () => {
  it('acknowledges each message it applied', async () => {
    const id = openid('ack')
    const result = await consume([await queued('click', id), await queued('view', id)])
    expect(result.explicitAcks.sort()).toEqual(['m0', 'm1'])
    expect(result.retryMessages).toEqual([])
    expect(await userState(id)).toMatchObject({ eventCount: 2 })
  })

  it('retries only the messages whose user failed, with backoff', async () => {
    const warnings = captureLogs('warn')
    const healthy = openid('healthy')
    const broken = openid('broken')
    const result = await consume(
      [
        await queued('click', healthy),
        await queued('click', broken),
        await queued('text', healthy),
      ],
      { USERS: usersFailingFor(new Set([broken])) },
      3,
    )
    expect(result.explicitAcks.sort()).toEqual(['m0', 'm2'])
    expect(result.retryMessages.map((message) => message.msgId)).toEqual(['m1'])
    expect(warnings.records).toContainEqual(
      expect.objectContaining({ event: 'queue_retry', attempts: 3, delaySeconds: 8 }),
    )
    vi.restoreAllMocks()
    expect(await userState(healthy)).toMatchObject({ eventCount: 2 })
    expect(await userState(broken)).toBeNull()
  })

  it('backs off exponentially, capped at five minutes', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelaySeconds(attempt, 2))).toEqual([
      2, 4, 8, 16, 32,
    ])
    expect(retryDelaySeconds(20, 2)).toBe(300)
    expect(retryDelaySeconds(3, 0)).toBe(0)
  })

  it('after a failure, the redelivery applies the push once', async () => {
    const id = openid('recover')
    const message = await queued('location_report', id)
    const failed = await consume([message], { USERS: usersFailingFor(new Set([id])) })
    expect(failed.retryMessages).toHaveLength(1)
    const retried = await consume([message], {}, 2)
    expect(retried.explicitAcks).toEqual(['m0'])
    const again = await consume([message], {}, 3)
    expect(again.explicitAcks).toEqual(['m0'])
    expect(await userState(id)).toMatchObject({ eventCount: 1 })
  })
})

describe('the dead-letter queue', () => {
  it('receives what keeps failing, shows it to the admin, and replays it: nothing is lost', async () => {
    const id = openid('dead')
    // A message the real Durable Object refuses every time: no CreateTime to order it by.
    const good = await queued('click', id, 1000)
    const poison = { ...good, push: { ...good.push, createTime: null } } as unknown as QueuedPush
    await env.PUSHES.send(poison)

    const listed = await eventually(async () => {
      const response = await exports.default.fetch('https://edge.test/admin/dead-letters', {
        headers: ADMIN_HEADERS,
      })
      const body = await response.json<{
        count: number
        deadLetters: { key: string; openid: string; kind: string; attempts: number }[]
      }>()
      expect(body.deadLetters.filter((letter) => letter.openid === id)).toHaveLength(1)
      return body
    }, 25_000)
    expect(listed.deadLetters.find((letter) => letter.openid === id)).toMatchObject({
      key: good.key,
      kind: 'click',
      attempts: expect.any(Number),
    })
    expect(await userState(id)).toBeNull()

    // Once the cause is mended (here: the same push, well-formed), the replay applies it.
    await recordDeadLetter(env.DEAD_LETTERS, { queued: good, attempts: 6, reason: null })
    const replay = await exports.default.fetch('https://edge.test/admin/dead-letters/replay', {
      method: 'POST',
      headers: ADMIN_HEADERS,
    })
    expect(await replay.json()).toMatchObject({ replayed: expect.any(Number) })
    await eventually(async () =>
      expect(await userState(id)).toMatchObject({
        eventCount: 1,
        lastMenuKey: 'V1001_TODAY_MUSIC',
      }),
    )
    expect(await deadLettersOf(id)).toEqual([])
  }, 40_000)

  it('forgets a user’s dead letters when the user is purged', async () => {
    const id = openid('dead-purge')
    const batch = createMessageBatch<QueuedPush>('wechat-edge-pushes-dlq', [
      { id: 'd0', timestamp: new Date(), attempts: 6, body: await queued('text', id) },
    ])
    await handleQueueBatch(batch, env)
    expect(await deadLettersOf(id)).toHaveLength(1)
    const purge = await exports.default.fetch(`https://edge.test/admin/users/${id}`, {
      method: 'DELETE',
      headers: ADMIN_HEADERS,
    })
    expect(purge.status).toBe(204)
    // The user's object sweeps them from its alarm, a minute after the purge.
    await sweepDeadLettersNow(id)
    expect(await deadLettersOf(id)).toEqual([])
  })
})
