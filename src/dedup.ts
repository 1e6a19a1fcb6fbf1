/**
 * The fast path of dedup: KV remembers the reply given to each push for DEDUP_TTL_SECONDS, so a
 * retry gets the same body back without running the bot. KV is eventually consistent and may
 * fail or stall, so a miss here is never trusted for effects: the Durable Object is the
 * authority (invariant 2). A failing KV degrades to a miss.
 */

import { settleWithin } from './deadline.ts'
import { errorName, logProblem } from './log.ts'

/** How long a lookup may take before the push is treated as unseen. */
export const DEDUP_LOOKUP_TIMEOUT_MS = 500

export interface ReplyCache {
  /** The reply body given to this push before, or null when unknown. Never throws. */
  lookup(key: string): Promise<string | null>
  /** Remembers a reply body. Never throws. */
  remember(key: string, body: string): Promise<void>
}

export function kvReplyCache(kv: KVNamespace, ttlSeconds: number): ReplyCache {
  return {
    lookup(key) {
      const read = kv.get(`reply:${key}`).catch((error: unknown) => {
        logProblem('dedup_lookup_failed', { key, error: errorName(error) })
        return null
      })
      return settleWithin(read, DEDUP_LOOKUP_TIMEOUT_MS, () => {
        logProblem('dedup_lookup_timeout', { key })
        return null
      })
    },
    async remember(key, body) {
      try {
        await kv.put(`reply:${key}`, body, { expirationTtl: ttlSeconds })
      } catch (error) {
        logProblem('dedup_store_failed', { key, error: errorName(error) })
      }
    },
  }
}
