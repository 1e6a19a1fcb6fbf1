/**
 * Receiving a push, as a rule: what a push's owner (the user's object, or the ledger) decides
 * when a push arrives, from what it kept of earlier arrivals with the same dedup key. The one
 * place a retry is recognised: the request path, the Queue consumers and every job arrive
 * here. Pure; the owners (src/user/state.ts, src/receive/ledger.ts) hold the rows.
 */

import type { QueuedJob } from '../queues/queued.ts'
import type { SessionWrites } from '../user/session-rows.ts'
import type { PushMode } from '../wechat/envelope.ts'
import type { Push } from '../wechat/push.ts'
import { NO_REPLY } from '../wechat/reply.ts'

/** A push as it reaches its owner: from the request path, the Queue, or a job. */
export interface Arrival {
  readonly key: string
  readonly push: Push
  /**
   * The mode WeChat was answered in, with the reply it got; null for an arrival that answers
   * nobody (a job, a Queue message the request path did not answer, or an attempt the handler
   * held: `context.hold()`, whose retry answers).
   */
  readonly answered: { readonly mode: PushMode; readonly reply: string } | null
  /**
   * The mode the push came to the Worker in, which says whether its body is authenticated
   * (`bodyAuthenticated`, src/wechat/envelope.ts); null when not known (a message queued before
   * messages carried it), taken as not authenticated.
   */
  readonly mode: PushMode | null
  /** The handler's session writes, taken with the push or not at all. */
  readonly writes: SessionWrites
  /** A deferred route's job, queued by the owner when it first receives the push. */
  readonly job: QueuedJob | null
}

/** What receiving a push came to: how it was taken, and what to answer. */
export type Receipt =
  /** `too_large`: received, but its session writes did not fit and were dropped. */
  | { readonly outcome: 'received' | 'too_large' }
  /** Received before, with no reply to give (a Queue redelivery, a job's own arrival). */
  | { readonly outcome: 'duplicate' }
  /** Received before with a reply: that reply (`success` in another mode). */
  | { readonly outcome: 'replay'; readonly reply: string }
  /** From before the user's unfollow (`stale`), or the unfollow itself (`purged`). */
  | { readonly outcome: 'stale' | 'purged' }
  /** The account does not have its pushes taken (it revoked the platform): nothing kept. */
  | { readonly outcome: 'refused' }
  /** Nothing was taken; the caller should retry (storage refused the push). */
  | { readonly outcome: 'failed' }

/** What an owner kept of a key's earlier arrival: the reply it was answered with, if any. */
export interface Earlier {
  readonly mode: string | null
  readonly reply: string | null
}

/**
 * What to do with an arrival. `first`: apply it (and queue its job). `reply_only`: the Queue
 * applied it first, or an earlier attempt was held, without a reply or session writes: keep
 * this arrival's reply for the retries, and its writes. `duplicate` and `replay`: nothing. So a
 * held attempt is never replayed: the first attempt that answers is, to every later one.
 */
export type Admission =
  | { readonly take: 'first' }
  | { readonly take: 'reply_only' }
  | { readonly take: 'duplicate' }
  | { readonly take: 'replay'; readonly reply: string }

/**
 * The reply a retry gets: the first one, in the mode it was first answered in. A reply first
 * sent encrypted is never served in clear (nor the other way round): `success` instead.
 *
 * @example
 * replayOf({ mode: 'encrypted', reply: xml }, 'plaintext') // 'success'
 */
export function replayOf(earlier: Earlier, mode: PushMode | null): string {
  return mode !== null && earlier.mode === mode && earlier.reply !== null ? earlier.reply : NO_REPLY
}

/**
 * The admit rule, for every owner and every path.
 *
 * @example
 * const admission = admit(receivedRowFor(key), arrival)
 * if (admission.take === 'first' && arrival.job) await env.LATER.send(arrival.job)
 */
export function admit(earlier: Earlier | undefined, arrival: Pick<Arrival, 'answered'>): Admission {
  if (earlier === undefined) return { take: 'first' }
  if (earlier.reply !== null) {
    return { take: 'replay', reply: replayOf(earlier, arrival.answered?.mode ?? null) }
  }
  return arrival.answered === null ? { take: 'duplicate' } : { take: 'reply_only' }
}
