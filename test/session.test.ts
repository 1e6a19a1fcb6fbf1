import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { Router } from '../src/bot/router.ts'
import {
  MAX_SESSION_BYTES,
  SessionLimitError,
  SessionUnavailableError,
} from '../src/bot/session.ts'
import { forgePushXml } from '../src/debug/forge.ts'
import type { Env } from '../src/env.ts'
import { reply } from '../src/wechat/reply.ts'
import { userState } from './helpers/admin.ts'
import { eventually } from './helpers/eventually.ts'
import { exchange, openid, signedRequest } from './helpers/wechat.ts'
import { fetchWith } from './helpers/worker.ts'

const count = (id: string, createTime?: number) =>
  forgePushXml('text', { openid: id, content: 'count', ...(createTime && { createTime }) })

/** Sends a push through the test bot and reads the reply's Content. */
async function said(xml: string, overrides: Partial<Env> = {}): Promise<string | undefined> {
  const response = await fetchWith(await signedRequest(xml), overrides)
  return /<Content><!\[CDATA\[(.*?)\]\]><\/Content>/.exec(await response.text())?.[1]
}

/** The real USERS namespace, counting every stub asked for. */
/** The real USERS namespace, every call to a user's object counted (not its stubs). */
function countingUsers(): { users: Env['USERS']; calls: () => number } {
  let calls = 0
  const users = {
    getByName(name: string) {
      const stub = env.USERS.getByName(name)
      return new Proxy(stub, {
        get(target, method, receiver) {
          const value = Reflect.get(target, method, receiver)
          if (typeof value !== 'function') return value
          return (...args: unknown[]) => {
            calls++
            // An RPC method is called as it is: `.apply` on it would name a remote method.
            return Reflect.apply(value, target, args)
          }
        },
      })
    },
  } as unknown as Env['USERS']
  return { users, calls: () => calls }
}

describe('the session, exactly once', () => {
  it('counts each push once: concurrent retries get the same reply and one increment', async () => {
    const id = openid('count-concurrent')
    const xml = count(id)
    const answers = await Promise.all([exchange(xml), exchange(xml), exchange(xml)])
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200])
    const contents = answers.map((answer) => /count: \d+/.exec(answer.reply)?.[0])
    expect(contents).toEqual(['count: 1', 'count: 1', 'count: 1'])
    expect(await said(count(id, Math.floor(Date.now() / 1000) + 1))).toBe('count: 2')
  })

  it('counts a retry that misses KV once: it answers the first reply', async () => {
    const id = openid('count-miss')
    const xml = count(id)
    expect(await said(xml)).toBe('count: 1')
    const missing = {
      get: async () => null,
      put: async () => undefined,
    } as unknown as Env['DEAD_LETTERS']
    expect(await said(xml, { DEAD_LETTERS: missing })).toBe('count: 1')
    expect(await said(count(id, Math.floor(Date.now() / 1000) + 1))).toBe('count: 2')
  })

  it('shows the next push what the previous one wrote, before the Queue has run', async () => {
    const id = openid('count-next')
    const now = Math.floor(Date.now() / 1000)
    const replies: (string | undefined)[] = []
    for (let i = 0; i < 3; i++) replies.push(await said(count(id, now + i)))
    expect(replies).toEqual(['count: 1', 'count: 2', 'count: 3'])
  })

  it('restarts after an unfollow and a new follow', async () => {
    const id = openid('count-refollow')
    const now = Math.floor(Date.now() / 1000) - 20
    expect(await said(count(id, now))).toBe('count: 1')
    expect(await said(count(id, now + 1))).toBe('count: 2')
    await exchange(forgePushXml('unsubscribe', { openid: id, createTime: now + 2 }))
    await eventually(async () => expect(await userState(id)).toBeNull())
    await exchange(forgePushXml('subscribe', { openid: id, createTime: now + 3 }))
    expect(await said(count(id, now + 4))).toBe('count: 1')
  })

  it('is purged by an authorization revoke for the user’s OpenID', async () => {
    const id = openid('count-revoke')
    const now = Math.floor(Date.now() / 1000) - 20
    expect(await said(count(id, now))).toBe('count: 1')
    await exchange(forgePushXml('user_authorization_revoke', { openid: id, createTime: now + 1 }))
    await eventually(async () => expect(await userState(id)).toBeNull())
    expect(await said(count(id, now + 2))).toBe('count: 1')
  })

  it('shows the session’s keys and size to the admin, never its values', async () => {
    const id = openid('count-admin')
    await said(count(id))
    const state = await userState(id)
    expect(state?.session).toEqual({ keys: ['count'], bytes: 'count'.length + '1'.length })
    expect(JSON.stringify(state)).not.toContain('"count":1')
  })
})

describe('the session, bounded and lazy', () => {
  it('refuses a write past the size limit with an error the handler sees, and stores nothing', async () => {
    const id = openid('too-big')
    const big = new Router<Env, { blob: string }>().on('text', async (_, { session }) => {
      try {
        await session.set('blob', 'x'.repeat(MAX_SESSION_BYTES))
        return reply.text('stored')
      } catch (error) {
        return reply.text(error instanceof SessionLimitError ? 'too large' : 'other error')
      }
    })
    const response = await fetchWith(
      await signedRequest(forgePushXml('text', { openid: id })),
      {},
      big,
    )
    expect(await response.text()).toContain('too large')
    await eventually(async () => expect(await userState(id)).toMatchObject({ eventCount: 1 }))
    expect((await userState(id))?.session).toEqual({ keys: [], bytes: 0 })
  })

  it('costs no Durable Object call beyond the one that receives the push, unless it is used', async () => {
    const id = openid('lazy')
    const plain = countingUsers()
    expect(
      await said(forgePushXml('text', { openid: id, content: 'hello' }), { USERS: plain.users }),
    ).toBe('hello')
    expect(plain.calls()).toBe(1)
    const counting = countingUsers()
    expect(await said(count(id), { USERS: counting.users })).toBe('count: 1')
    expect(counting.calls()).toBe(2)
  })

  it('tells the handler when the session cannot be reached in time, rather than hanging', async () => {
    const hanging = {
      getByName: () => ({ readSession: () => new Promise(() => {}) }),
    } as unknown as Env['USERS']
    const careful = new Router<Env, { step: number }>().on('text', async (_, { session }) => {
      try {
        await session.get('step')
        return reply.text('read')
      } catch (error) {
        return reply.text(error instanceof SessionUnavailableError ? 'unavailable' : 'other')
      }
    })
    const response = await fetchWith(
      await signedRequest(forgePushXml('text', { openid: openid('hang') })),
      { USERS: hanging, REPLY_BUDGET_MS: '1200' },
      careful,
    )
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('unavailable')
  })

  it('gives a handler the user’s stored profile', async () => {
    const id = openid('profile')
    await exchange(forgePushXml('subscribe', { openid: id, scene: 'poster' }))
    await eventually(async () => expect(await userState(id)).toMatchObject({ scene: 'poster' }))
    const profiled = new Router<Env>().on('text', async (_, { profile }) =>
      reply.text(`scene ${(await profile())?.scene}`),
    )
    const response = await fetchWith(
      await signedRequest(forgePushXml('text', { openid: id })),
      {},
      profiled,
    )
    expect(await response.text()).toContain('scene poster')
  })
})
