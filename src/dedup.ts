/**
 * The fast path of dedup: KV remembers the reply given to each push for DEDUP_TTL_SECONDS, so a
 * retry gets the same body back without running the bot. KV is eventually consistent and may
 * fail or stall, so a miss here is never trusted for effects: the Durable Object is the
 * authority (invariant 2). A failing KV degrades to a miss.
 */

import { settleWithin } from './deadline.ts'
import { errorName, logProblem } from './log.ts'
import type { PushMode } from './wechat/envelope.ts'

/** How long a lookup may take before the push is treated as unseen. */
export const DEDUP_LOOKUP_TIMEOUT_MS = 500

export interface ReplyCache {
  /** The reply body given to this push in this mode before, or null when unknown. Never throws. */
  lookup(key: string, mode: PushMode): Promise<string | null>
  /** Remembers a reply body. Never throws. */
  remember(key: string, mode: PushMode, body: string): Promise<void>
}

/**
 * Where a reply is kept: per dedup key and per mode, so that an encrypted push's reply is
 * never served in clear to the same push sent again in plaintext.
 */
function storageKey(key: string, mode: PushMode): string {
  return `reply:${key}:${mode}`
}

/**
 * @example
 * const cache = kvReplyCache(env.DEDUP, 600)
 * await cache.lookup(key, 'encrypted') // null on a first delivery
 */
export function kvReplyCache(kv: KVNamespace, ttlSeconds: number): ReplyCache {
  return {
    lookup(key, mode) {
      const read = kv.get(storageKey(key, mode)).catch((error: unknown) => {
        logProblem('dedup_lookup_failed', { key, error: errorName(error) })
        return null
      })
      return settleWithin(read, DEDUP_LOOKUP_TIMEOUT_MS, () => {
        logProblem('dedup_lookup_timeout', { key })
        return null
      })
    },
    async remember(key, mode, body) {
      try {
        await kv.put(storageKey(key, mode), body, { expirationTtl: ttlSeconds })
      } catch (error) {
        logProblem('dedup_store_failed', { key, error: errorName(error) })
      }
    },
  }
}
