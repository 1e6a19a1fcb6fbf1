import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { Router } from '../../src/bot/router.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { handleQueueBatch } from '../../src/queues/pushes.ts'
import type { QueuedPush } from '../../src/queues/queued.ts'
import { reply } from '../../src/wechat/reply.ts'
import { userState } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { captureLogs } from '../helpers/logs.ts'
import { forgedPush, parsedPush, queuedPush } from '../helpers/pushes.ts'
import { storedReply } from '../helpers/stored.ts'
import { exchange, openid, signedRequest } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const never = () => new Promise<never>(() => {})
const broken = () => Promise.reject(new Error('binding failed'))

/** The real KV namespace with some of its methods replaced. */
function kvWith(
  replaced: Partial<Record<'get' | 'put', (...args: unknown[]) => Promise<unknown>>>,
): Env['DEAD_LETTERS'] {
  return new Proxy(env.DEAD_LETTERS, {
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

/** What Cloudflare's bindings throw past a Free-plan daily quota (the message names it). */
const overQuota = (binding: string) => () =>
  Promise.reject(new Error(`${binding}: exceeded the daily free tier limit`))

/** The real USERS namespace whose stubs' `receive` is replaced; everything else passes. */
function usersWith(receive: (...args: unknown[]) => Promise<unknown>): Env['USERS'] {
  return {
    getByName(name: string) {
      const stub = env.USERS.getByName(name)
      return new Proxy(stub, {
        get(target, method) {
          if (method === 'receive') return receive
          return (...args: unknown[]) =>
            (target as unknown as Record<string, (...a: unknown[]) => unknown>)[String(method)]!(
              ...args,
            )
        },
      })
    },
  } as unknown as Env['USERS']
}

/** Whether the user's Durable Object holds the push with a reply (a retry would get it). */
async function received(xml: string): Promise<boolean> {
  return (await storedReply(parsedPush(xml))) !== null
}

describe('the user’s Durable Object failing', () => {
  it.each([
    ['refusing (over its daily quota)', overQuota('Durable Objects')],
    ['throwing', broken],
    ['stalling', never],
  ])('%s: the push goes to the Queue, is answered, and applied once', async (_, receive) => {
    const warnings = captureLogs('warn')
    const id = openid('do-down')
    const xml = forgePushXml('click', { openid: id, menuKey: 'FALLBACK' })
    const response = await fetchWith(await signedRequest(xml), {
      USERS: usersWith(receive),
      REPLY_BUDGET_MS: '2500',
    })
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('You clicked menu FALLBACK.')
    await eventually(async () =>
      expect(await userState(id)).toMatchObject({ eventCount: 1, lastMenuKey: 'FALLBACK' }),
    )
    expect(warnings.records.some((line) => line.event === 'push_not_received')).toBe(true)
    // WeChat's retry, with the Durable Object back: the same reply, no second effect.
    expect((await exchange(xml)).reply).toContain('You clicked menu FALLBACK.')
    expect(await userState(id)).toMatchObject({ eventCount: 1 })
  })
})

describe('the Queue failing', () => {
  it('refusing (over its daily quota) does not matter while the Durable Object takes the push', async () => {
    const id = openid('queue-quota')
    const xml = forgePushXml('text', { openid: id, content: 'no queue needed' })
    const response = await fetchWith(await signedRequest(xml), {
      PUSHES: queueWith(overQuota('Queues')),
    })
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('no queue needed')
    expect(await userState(id)).toMatchObject({ eventCount: 1 })
  })

  it('with the Durable Object down too: 503 naming the quota, nothing kept, and WeChat’s retry applies once', async () => {
    const warnings = captureLogs('warn')
    const id = openid('both-down')
    const xml = forgePushXml('subscribe', { openid: id, scene: 'retry-me' })
    const failed = await fetchWith(await signedRequest(xml), {
      USERS: usersWith(overQuota('Durable Objects')),
      PUSHES: queueWith(overQuota('Queues')),
    })
    expect(failed.status).toBe(503)
    expect(await failed.text()).toBe('push could not be made durable; retry later')
    expect(warnings.text()).toContain('"quota":"Queues daily quota"')
    expect(warnings.text()).toContain('"quota":"Durable Objects daily quota"')
    expect(await received(xml)).toBe(false)

    const retried = await exchange(xml)
    expect(retried.status).toBe(200)
    expect(retried.reply).toContain('QR scene retry-me')
    expect(await userState(id)).toMatchObject({ eventCount: 1, scene: 'retry-me' })
  })

  it('with both stalling past the budget: 503, nothing kept', async () => {
    const xml = forgePushXml('text', { openid: openid('both-slow') })
    const response = await fetchWith(await signedRequest(xml), {
      USERS: usersWith(never),
      PUSHES: queueWith(never),
      REPLY_BUDGET_MS: '1500',
    })
    expect(response.status).toBe(503)
    expect(await received(xml)).toBe(false)
  })
})

describe('KV failing', () => {
  it('refusing every write (over its daily quota): pushes and retries still take effect once', async () => {
    const id = openid('kv-quota')
    const xml = forgePushXml('click', { openid: id, menuKey: 'KV' })
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await fetchWith(await signedRequest(xml), {
        DEAD_LETTERS: kvWith({ get: overQuota('KV'), put: overQuota('KV') }),
      })
      expect(response.status).toBe(200)
      expect(await response.text()).toContain('You clicked menu KV.')
    }
    expect(await userState(id)).toMatchObject({ eventCount: 1, lastMenuKey: 'KV' })
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
        return name === ids[1] ? { receive: never } : env.USERS.getByName(name)
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

describe('the reply cache (KV with a TTL), for retries while the owner is down', () => {
  /** The real REPLY_CACHE, every call counted. */
  function countedReplyCache() {
    const calls: string[] = []
    const cache = new Proxy(env.REPLY_CACHE, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          calls.push(String(name))
          return value.apply(target, args)
        }
      },
    })
    return { cache, calls }
  }
  const randomBot = () =>
    new Router<Env>().on('click', () => reply.text(`answer ${crypto.randomUUID()}`))

  it('gives a retry the first attempt’s reply while the Durable Object is down, and the Queue applies the push once', async () => {
    const { cache, calls } = countedReplyCache()
    const id = openid('cache-outage')
    const xml = forgePushXml('click', { openid: id, menuKey: 'OUTAGE' })
    const down = { USERS: usersWith(broken), REPLY_CACHE: cache }
    const bot = randomBot()
    const first = await fetchWith(await signedRequest(xml), down, bot)
    const retry = await fetchWith(await signedRequest(xml), down, bot)
    expect(first.status).toBe(200)
    const reply = await first.text()
    expect(reply).toContain('answer ')
    expect(await retry.text()).toBe(reply)
    expect(calls).toEqual(['get', 'put', 'get'])
    await eventually(async () =>
      expect(await userState(id)).toMatchObject({ eventCount: 1, lastMenuKey: 'OUTAGE' }),
    )
    // The Queue handed the reply to the user's object: a retry after the outage gets it too.
    const after = await fetchWith(await signedRequest(xml), { REPLY_CACHE: cache }, bot)
    expect(await after.text()).toBe(reply)
    expect(await userState(id)).toMatchObject({ eventCount: 1 })
  })

  it('is not touched in normal traffic: zero KV operations', async () => {
    const { cache, calls } = countedReplyCache()
    const bot = randomBot()
    for (const label of ['a', 'b', 'c']) {
      const xml = forgePushXml('click', { openid: openid(`cache-normal-${label}`) })
      await fetchWith(await signedRequest(xml), { REPLY_CACHE: cache }, bot)
      await fetchWith(await signedRequest(xml), { REPLY_CACHE: cache }, bot)
    }
    expect(calls).toEqual([])
  })
})
