/**
 * The Worker: the HTTP app around the bot, the Queue consumer, and the per-user Durable Object.
 */

import { createApp } from './app.ts'
import { bot } from './bot.ts'
import { readConfig } from './config.ts'
import type { Env } from './env.ts'
import { handleLaterBatch } from './later.ts'
import { handleQueueBatch, retryDelaySeconds } from './queue.ts'
import type { QueuedJob, QueuedPush } from './queued-push.ts'

/** Deferred handlers' queue: its name ends so, whatever the deployment calls its queues. */
const LATER_QUEUE_SUFFIX = '-later'

export { AccessToken } from './access-token.ts'
export { UserState } from './user-state.ts'

const app = createApp(bot)

export default {
  fetch: app.fetch,
  queue(batch, env) {
    if (batch.queue.endsWith(LATER_QUEUE_SUFFIX)) {
      const base = readConfig(env).queueRetryBaseSeconds
      return handleLaterBatch(batch as MessageBatch<QueuedJob>, env, bot, (attempts) =>
        retryDelaySeconds(attempts, base),
      )
    }
    return handleQueueBatch(batch as MessageBatch<QueuedPush>, env)
  },
} satisfies ExportedHandler<Env, QueuedPush | QueuedJob>
