/**
 * What the user's Durable Object holds for one push, read straight from its tables: the reply a
 * retry of it would get back (null when it holds the push without one, or not at all).
 */

import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import type { UserState } from '../../src/user/state.ts'
import { dedupKey } from '../../src/wechat/dedup-key.ts'
import type { Push } from '../../src/wechat/push.ts'

export async function storedReply(push: Push): Promise<string | null> {
  const key = await dedupKey(push, env.WECHAT_TOKEN)
  return runInDurableObject(env.USERS.getByName(push.fromUserName), (_: UserState, state) => {
    const made = state.storage.sql
      .exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'received'`)
      .toArray()
    if (made.length === 0) return null
    const row = state.storage.sql
      .exec<{ reply: string | null }>('SELECT reply FROM received WHERE key = ?', key)
      .toArray()[0]
    return row?.reply ?? null
  })
}

/**
 * Runs the user's alarm as if the minute after their purge had passed: the sweep of their dead
 * letters is due (KV lists are eventually consistent, so it waits that long in production).
 */
export async function sweepDeadLettersNow(openid: string): Promise<void> {
  const user = env.USERS.getByName(openid)
  await runInDurableObject(user, (_: UserState, state) => {
    state.storage.sql.exec('UPDATE tombstone SET sweep_at = 0')
  })
  await runDurableObjectAlarm(user)
}

/**
 * How many rows each named table of the user's object holds; a table that does not exist
 * (a purge leaves only the tombstone's, the others come back with the next write) holds none.
 */
export function rowCounts<T extends string>(
  openid: string,
  tables: readonly T[],
): Promise<Record<T, number>> {
  return runInDurableObject(env.USERS.getByName(openid), (_: UserState, state) => {
    const sql = state.storage.sql
    const count = (table: string) =>
      sql.exec(`SELECT 1 FROM sqlite_master WHERE name = ?`, table).toArray().length > 0
        ? sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n
        : 0
    return Object.fromEntries(tables.map((table) => [table, count(table)])) as Record<T, number>
  })
}
