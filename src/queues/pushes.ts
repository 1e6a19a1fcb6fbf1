/**
 * The Queue between the request path and per-user state. The producer side makes a push
 * durable before it is answered; the consumer applies each message to the user's Durable
 * Object, acknowledging or retrying each message on its own, and records what the dead-letter
 * queue receives so that nothing accepted is lost.
 */

import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { ledgerFor } from '../ledger.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { stateOwnerOf } from '../wechat/push.ts'
import { keepDeadLetter } from './dead-letters.ts'
import { giveUp } from './later.ts'
import type { QueuedJob, QueuedPush } from './queued.ts'

/** The dead-letter queue's name ends so, whatever the deployment calls its queues. */
const DEAD_LETTER_SUFFIX = '-dlq'
/** No retry waits longer than this, whatever the attempt. */
const MAX_RETRY_DELAY_SECONDS = 300

/** Exponential backoff: base · 2^(attempt − 1), capped. */
export function retryDelaySeconds(attempts: number, baseSeconds: number): number {
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.round(baseSeconds * 2 ** Math.max(0, attempts - 1)))
}

/** The Queue consumer: both the pushes queue and its dead-letter queue arrive here. */
export async function handleQueueBatch(batch: MessageBatch<QueuedPush>, env: Env): Promise<void> {
  const deadLetters = batch.queue.endsWith(DEAD_LETTER_SUFFIX)
  const apply = deadLetters ? keepLetter : applyToUser
  const baseSeconds = readConfig(env).queueRetryBaseSeconds
  await Promise.all(
    batch.messages.map(async function settle(message) {
      try {
        await apply(message, env)
        message.ack()
      } catch (error) {
        const delaySeconds = retryDelaySeconds(message.attempts, baseSeconds)
        logProblem('queue_retry', {
          queue: batch.queue,
          key: message.body.key,
          attempts: message.attempts,
          delaySeconds,
          error: errorName(error),
        })
        message.retry({ delaySeconds })
      }
    }),
  )
}

async function applyToUser(message: Message<QueuedPush>, env: Env): Promise<void> {
  const { key, push, receivedAt, answered } = message.body
  const owner = stateOwnerOf(push)
  // A push of nobody's goes to the ledger, never to a UserState.
  if (owner === null) {
    const receipt = await ledgerFor(env.LEDGER, push, key).receive(
      key,
      answered?.mode ?? null,
      answered?.reply ?? null,
    )
    if (receipt.outcome === 'failed') throw new Error('the ledger could not receive the push')
    logEvent('applied', {
      kind: push.kind,
      key,
      outcome: receipt.outcome,
      lagMs: Date.now() - receivedAt,
    })
    return
  }
  const outcome = await env.USERS.getByName(owner).apply(key, push, answered)
  if (outcome === 'failed') throw new Error('UserState could not apply the push')
  logEvent('applied', { kind: push.kind, key, outcome, lagMs: Date.now() - receivedAt })
}

/** What the platform moved to the dead-letter queue: a push, or a job that outran its retries. */
async function keepLetter(message: Message<QueuedPush | QueuedJob>, env: Env): Promise<void> {
  const queued = message.body
  if ('job' in queued) await giveUp(env, queued, message.attempts, 'the Queue gave up')
  else await keepDeadLetter(env, { queued, attempts: message.attempts, reason: null })
}
