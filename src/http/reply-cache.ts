/**
 * The reply of a push whose owner could not be reached, kept in KV for WeChat's retries: while
 * the user's Durable Object (or the ledger) is down, the push goes to the Queue, and a retry
 * must still get the reply the first attempt gave. Read and written only then: normal traffic
 * spends no KV operation (the Free plan allows 1,000 KV writes a day).
 */

import { scoped } from '../accounts/scope.ts'
import { settleWithin } from '../deadline.ts'
import { errorName, logProblem } from '../log.ts'
import type { PushMode } from '../wechat/envelope.ts'

/** KV's shortest TTL; WeChat's three retries come within 15 s of the first attempt. */
export const REPLY_CACHE_TTL_SECONDS = 60

export interface CachedReply {
  readonly mode: PushMode
  readonly reply: string
}

export interface ReplyCache {
  /** The reply kept for this key, or null (none, or KV did not answer within `ms`). */
  get(key: string, ms: number): Promise<CachedReply | null>
  /** Keeps the reply; a failure is logged, never thrown: the Queue still takes the push. */
  put(key: string, cached: CachedReply, ms: number): Promise<void>
}

/**
 * @example
 * const replies = kvReplyCache(env.REPLY_CACHE, account.id)
 */
export function kvReplyCache(kv: KVNamespace, account: string): ReplyCache {
  const name = (key: string) => `reply:${scoped(account, key)}`
  return {
    async get(key, ms) {
      const read = kv.get<CachedReply>(name(key), 'json').catch((error: unknown) => {
        logProblem('reply_cache_unavailable', { key, error: errorName(error) })
        return null
      })
      return settleWithin(read, ms, () => null)
    },
    async put(key, cached, ms) {
      const write = kv
        .put(name(key), JSON.stringify(cached), { expirationTtl: REPLY_CACHE_TTL_SECONDS })
        .catch((error: unknown) => {
          logProblem('reply_cache_unavailable', { key, error: errorName(error) })
        })
      await settleWithin(write, ms, () => undefined)
    },
  }
}
