import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { eventually } from '../helpers/eventually.ts'
import { exchange, openid } from '../helpers/wechat.ts'

const USERS = 1_000
const ATTEMPTS = 3

/** Runs `task` over `items`, at most `limit` at a time. */
async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  async function worker() {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: limit }, worker))
  return results
}

describe('load', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it(`${USERS} users at once, each pushed ${ATTEMPTS} times concurrently: one reply per key, one effect each`, async () => {
    // Replies carry the second they were made in: hold the clock so all attempts share it.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() })
    const users = Array.from({ length: USERS }, (_, i) => openid(`load${i}`))
    const answers = await pool(users, 50, async (id) => {
      const xml = forgePushXml('subscribe', { openid: id, scene: id.slice(-8) })
      return Promise.all(Array.from({ length: ATTEMPTS }, () => exchange(xml)))
    })
    vi.useRealTimers()

    for (const [i, attempts] of answers.entries()) {
      expect(attempts.map((answer) => answer.status)).toEqual([200, 200, 200])
      expect(new Set(attempts.map((answer) => answer.reply)).size).toBe(1)
      expect(attempts[0]?.reply).toContain(users[i]?.slice(-8))
    }

    await eventually(async () => {
      const counts = await pool(
        users,
        100,
        async (id) => (await env.USERS.getByName(id).snapshot())?.eventCount ?? 0,
      )
      expect(counts.filter((count) => count !== 1)).toEqual([])
    }, 120_000)
  }, 240_000)
})
