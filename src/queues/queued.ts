/**
 * What travels on the Queues from the request path to the consumer: a leaf module, so that the
 * producer, the consumer and the dead letters share the type without importing each other.
 */

import type { PushMode } from '../wechat/envelope.ts'
import type { Push } from '../wechat/push.ts'

export interface QueuedPush {
  /** The push's dedup key: the Durable Object applies each key at most once. */
  readonly key: string
  readonly push: Push
  /** Milliseconds since the epoch when the Worker accepted it. */
  readonly receivedAt: number
  /**
   * The reply WeChat was given, when the request path answered while the push's owner was
   * unreachable: the owner keeps it, so that a later retry gets the same reply.
   */
  readonly answered?: { readonly mode: PushMode; readonly reply: string }
}

/** A deferred handler's work, on the later queue: the push, and which handler runs it. */
export interface QueuedJob extends QueuedPush {
  /** The deferred route's name (`later(run, { name })`, or the route's own): stable across deploys. */
  readonly job: string
  /** The Worker's origin the push reached, for the job's sign-in links; absent in older jobs. */
  readonly workerOrigin?: string
}
