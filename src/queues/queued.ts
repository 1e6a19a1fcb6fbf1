/**
 * What travels on the Queues from the request path to the consumers, and what a dead letter
 * keeps: a leaf module, so that the producer, the consumers and the dead letters share the
 * types without importing each other. Each message says what it is (`type`), so that no
 * consumer guesses from its fields; which queue a batch came from is read in one place.
 */

import { ENV_ACCOUNT } from '../accounts/settings.ts'
import type { PushMode } from '../wechat/envelope.ts'
import type { Push } from '../wechat/push.ts'

interface Queued {
  /** The account the push came to; absent for the env account (and every message sent before accounts). */
  readonly account?: string
  /** The push's dedup key: its owner receives each key at most once. */
  readonly key: string
  readonly push: Push
  /** Milliseconds since the epoch when the Worker accepted it. */
  readonly receivedAt: number
  /** The Worker's origin the push reached, for a job's sign-in links; absent in older ones. */
  readonly workerOrigin?: string
  /**
   * The mode the push came in: whether its body is authenticated (`bodyAuthenticated`,
   * src/wechat/envelope.ts). Absent in older messages, which are taken as not authenticated.
   */
  readonly mode?: PushMode
}

/** A push the request path could not hand to its owner: the consumer hands it over later. */
export interface QueuedPush extends Queued {
  readonly type: 'push'
  /**
   * The reply WeChat was given, when the request path answered while the push's owner was
   * unreachable: the owner keeps it, so that a later retry gets the same reply.
   */
  readonly answered?: { readonly mode: PushMode; readonly reply: string }
  /** The deferred route's job, which the owner queues when it first receives the push. */
  readonly job?: string
}

/** A deferred handler's work, on the later queue: the push, and which handler runs it. */
export interface QueuedJob extends Queued {
  readonly type: 'job'
  /** The deferred route's name (`later(run, { name })`, or the route's own): stable across deploys. */
  readonly job: string
}

export type QueuedMessage = QueuedPush | QueuedJob

/** A message as sent before messages carried `type`: a dead letter can outlive an upgrade. */
type Unmarked = Queued & {
  readonly answered?: QueuedPush['answered']
  readonly job?: string
}

/**
 * A message or a dead letter as it was sent: those sent before messages carried `type` (a
 * letter is kept up to a week, across an upgrade) are told apart as they always were, here only.
 */
export function queuedMessageOf(body: QueuedMessage | Unmarked): QueuedMessage {
  if ('type' in body) return body
  const { job, ...rest } = body
  return typeof job === 'string' ? { ...rest, type: 'job', job } : { ...rest, type: 'push' }
}

/** A push's deferred job, as its owner queues it. */
export function jobOf(queued: Queued, job: string): QueuedJob {
  const { account, key, push, receivedAt, workerOrigin, mode } = queued
  return {
    type: 'job',
    ...(account !== undefined && { account }),
    key,
    push,
    receivedAt,
    ...(workerOrigin !== undefined && { workerOrigin }),
    ...(mode !== undefined && { mode }),
    job,
  }
}

/** The account a message belongs to. */
export function accountOfQueued(queued: Queued): string {
  return queued.account ?? ENV_ACCOUNT
}

/** The queues the Worker consumes. */
export type QueueRole = 'pushes' | 'later' | 'dead_letters'

/**
 * Which queue a batch came from, by its name as wrangler.toml gives it (`<worker>-pushes`,
 * `<worker>-later`, `<worker>-pushes-dlq`, whatever the deployment is called): the one place
 * the names are read.
 */
export function queueRoleOf(queueName: string): QueueRole {
  if (queueName.endsWith('-dlq')) return 'dead_letters'
  if (queueName.endsWith('-later')) return 'later'
  return 'pushes'
}

/**
 * After this many attempts the later queue's consumer dead-letters a failing job itself, with
 * its reason; wrangler.toml's `max_retries` for that queue is the same number (a test holds
 * them together), so the platform's own dead-lettering is reached only by a crashed consumer.
 */
export const LATER_MAX_ATTEMPTS = 5
