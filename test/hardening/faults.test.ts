import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { kvReplyCache } from '../../src/dedup.ts'
import type { Env } from '../../src/env.ts'
import { handleQueueBatch } from '../../src/queue.ts'
import type { QueuedPush } from '../../src/queued-push.ts'
import { dedupKey } from '../../src/wechat/dedup-key.ts'
import { userState } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { forgedPush, parsedPush, queuedPush } from '../helpers/pushes.ts'
import { exchange, openid, signedRequest } from '../helpers/wechat.ts'
import { fetchLeavingWork, fetchWith } from '../helpers/worker.ts'

const never = () => new Promise<never>(() => {})
const broken = () => Promise.reject(new Error('binding failed'))

/** The real KV namespace with some of its methods replaced. */
function kvWith(
  replaced: Partial<Record<'get' | 'put', (...args: unknown[]) => Promise<unknown>>>,
): Env['DEDUP'] {
  return new Proxy(env.DEDUP, {
    get(target, name, receiver) {
      if (name === 'get' && replaced.get) return replaced.get
      if (name === 'put' && replaced.put) return replaced.put
      const value = Reflect.get(target, name, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** The real Queue producer with `send` replaced. */
function queueWith(send: (...args: unknown[]) => Promise<unknown>): Env['PUSHES'] {
  return { send, sendBatch: env.PUSHES.sendBatch.bind(env.PUSHES) } as unknown as Env['PUSHES']
}

/** The reply the cache holds for this push in plaintext, read through the cache itself. */
const cachedReply = async (xml: string) =>
  kvReplyCache(env.DEDUP, 60).lookup(await dedupKey(parsedPush(xml)), 'plaintext')

describe('KV failing', () => {
  it.each([
    ['throwing on get', { get: broken }],
    ['stalling on get', { get: never }],
    ['throwing on put', { put: broken }],
  ])('%s: the push is still answered with its reply and applied once', async (_, replaced) => {
    const id = openid('kv')
    const xml = forgePushXml('click', { openid: id, menuKey: 'KV' })
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await fetchWith(await signedRequest(xml), { DEDUP: kvWith(replaced) })
      expect(response.status).toBe(200)
      expect(await response.text()).toContain('You clicked menu KV.')
    }
    await eventually(async () =>
      expect(await userState(id)).toMatchObject({ eventCount: 1, lastMenuKey: 'KV' }),
    )
  })

  it('stalling on put: the answer does not wait for it', async () => {
    let putSettled = false
    const slowPut = () =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          putSettled = true
          resolve()
        }, 6_000),
      )
    const xml = forgePushXml('text', { openid: openid('slow-put'), content: 'prompt' })
    const { response, leftWork } = await fetchLeavingWork(await signedRequest(xml), {
      DEDUP: kvWith({ put: slowPut }),
    })
    expect(await response.text()).toContain('prompt')
    expect(putSettled).toBe(false)
    await leftWork
    expect(putSettled).toBe(true)
  })
})

describe('the Queue failing', () => {
  it('throwing on send: 503, no reply stored, and WeChat’s retry succeeds and applies once', async () => {
    const id = openid('queue-down')
    const xml = forgePushXml('subscribe', { openid: id, scene: 'retry-me' })
    const failed = await fetchWith(await signedRequest(xml), { PUSHES: queueWith(broken) })
    expect(failed.status).toBe(503)
    expect(await failed.text()).toBe('push could not be queued; retry later')
    expect(await cachedReply(xml)).toBeNull()

    const retried = await exchange(xml)
    expect(retried.status).toBe(200)
    expect(retried.reply).toContain('QR scene retry-me')
    await eventually(async () =>
      expect(await userState(id)).toMatchObject({ eventCount: 1, scene: 'retry-me' }),
    )
  })

  it('stalling on send past the budget: 503, no reply stored', async () => {
    const xml = forgePushXml('text', { openid: openid('queue-slow') })
    const response = await fetchWith(await signedRequest(xml), {
      PUSHES: queueWith(never),
      REPLY_BUDGET_MS: '200',
    })
    expect(response.status).toBe(503)
    expect(await cachedReply(xml)).toBeNull()
  })
})

describe('the consumer failing', () => {
  interface SpyMessage extends Message<QueuedPush> {
    acked: boolean
    retried: boolean
  }

  function spyBatch(bodies: QueuedPush[]): {
    batch: MessageBatch<QueuedPush>
    messages: SpyMessage[]
  } {
    const messages = bodies.map((body, i) => {
      const message = {
        id: `m${i}`,
        timestamp: new Date(),
        body,
        attempts: 1,
        acked: false,
        retried: false,
        ack() {
          message.acked = true
        },
        retry() {
          message.retried = true
        },
      }
      return message
    })
    const batch = {
      queue: 'wechat-edge-pushes',
      messages,
      metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } },
      ackAll() {},
      retryAll() {},
    }
    return { batch, messages }
  }

  async function queued(id: string, menuKey: string): Promise<QueuedPush> {
    return queuedPush(forgedPush('click', { openid: id, menuKey }))
  }

  it('dying mid-batch: each message is acknowledged as soon as it is applied, so only the rest come again', async () => {
    const ids = [openid('mid0'), openid('mid1'), openid('mid2')]
    const bodies = await Promise.all(ids.map((id, i) => queued(id, `K${i}`)))
    // The second user's Durable Object never answers: the invocation dies with it pending.
    const hanging: Env['USERS'] = {
      getByName(name: string) {
        return name === ids[1] ? { apply: never } : env.USERS.getByName(name)
      },
    } as unknown as Env['USERS']
    const { batch, messages } = spyBatch(bodies)
    void handleQueueBatch(batch, { ...env, USERS: hanging })
    await eventually(async () => {
      expect(messages.map((m) => m.acked)).toEqual([true, false, true])
    })
    expect(messages[1]?.retried).toBe(false)

    // The platform redelivers only the unacknowledged message, to a healthy consumer.
    const again = spyBatch([bodies[1] as QueuedPush])
    await handleQueueBatch(again.batch, env)
    expect(again.messages[0]?.acked).toBe(true)
    for (const [i, id] of ids.entries()) {
      expect(await userState(id)).toMatchObject({ eventCount: 1, lastMenuKey: `K${i}` })
    }
  })
})
