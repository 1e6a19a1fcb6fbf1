/**
 * The Queue between the request path and per-user state. The producer side makes a push
 * durable before it is answered; the consumer applies each message to the user's Durable
 * Object, acknowledging or retrying each message on its own, and records what the dead-letter
 * queue receives so that nothing accepted is lost.
 */

import { objectsOf } from '../accounts/objects.ts'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { ownerOf } from '../receive/owner.ts'
import { keepDeadLetter } from './dead-letters.ts'
import { giveUp } from './later.ts'
import {
  accountOfQueued,
  jobOf,
  type QueuedMessage,
  type QueuedPush,
  queuedMessageOf,
  queueRoleOf,
} from './queued.ts'

/** No retry waits longer than this, whatever the attempt. */
const MAX_RETRY_DELAY_SECONDS = 300

/** Exponential backoff: base · 2^(attempt − 1), capped. */
export function retryDelaySeconds(attempts: number, baseSeconds: number): number {
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.round(baseSeconds * 2 ** Math.max(0, attempts - 1)))
}

/** The Queue consumer: both the pushes queue and its dead-letter queue arrive here. */
export async function handleQueueBatch(
  batch: MessageBatch<QueuedMessage>,
  env: Env,
): Promise<void> {
  const deadLetters = queueRoleOf(batch.queue) === 'dead_letters'
  const baseSeconds = readConfig(env).queueRetryBaseSeconds
  await Promise.all(
    batch.messages.map(async function settle(message) {
      const queued = queuedMessageOf(message.body)
      try {
        if (deadLetters) await keepLetter(queued, message.attempts, env)
        else if (queued.type === 'push') await receiveQueued(queued, env)
        else throw new Error('a job on the pushes queue')
        message.ack()
      } catch (error) {
        const delaySeconds = retryDelaySeconds(message.attempts, baseSeconds)
        logProblem('queue_retry', {
          queue: batch.queue,
          key: queued.key,
          attempts: message.attempts,
          delaySeconds,
          error: errorName(error),
        })
        message.retry({ delaySeconds })
      }
    }),
  )
}

/** Hands a push to its owner, with the reply WeChat was given and its job, if any. */
async function receiveQueued(queued: QueuedPush, env: Env): Promise<void> {
  const { key, push, receivedAt, answered, job } = queued
  const account = accountOfQueued(queued)
  const receipt = await ownerOf(objectsOf(env, account), push, key).stub.receive({
    key,
    push,
    answered: answered ?? null,
    // One queued before messages carried the mode has it from the reply it was answered with.
    mode: queued.mode ?? answered?.mode ?? null,
    writes: {},
    job: job === undefined ? null : jobOf(queued, job),
  })
  if (receipt.outcome === 'failed') throw new Error('the push’s owner could not receive it')
  logEvent('applied', {
    kind: push.kind,
    key,
    outcome: receipt.outcome,
    lagMs: Date.now() - receivedAt,
  })
}

/** What the platform moved to the dead-letter queue: a push, or a job that outran its retries. */
async function keepLetter(queued: QueuedMessage, attempts: number, env: Env): Promise<void> {
  if (queued.type === 'job') await giveUp(env, queued, attempts, 'the Queue gave up')
  else await keepDeadLetter(env, { queued, attempts, reason: null })
}
