/**
 * What the user's Durable Object holds for one push, read straight from its tables: the reply a
 * retry of it would get back (null when it holds the push without one, or not at all).
 */

import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import type { UserState } from '../../src/user/state.ts'
import { dedupKey } from '../../src/wechat/dedup-key.ts'
import type { Push } from '../../src/wechat/push.ts'

export async function storedReply(push: Push): Promise<string | null> {
  const key = await dedupKey(push)
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
