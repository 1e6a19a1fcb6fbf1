/**
 * The Worker: the HTTP app around the bot, the Queue consumer, and the per-user Durable Object.
 */

import { readConfig } from './config.ts'
import { bot } from './default-bot.ts'
import type { Env } from './env.ts'
import { createApp } from './http/app.ts'
import { withRequestId } from './log.ts'
import { handleLaterBatch } from './queues/later.ts'
import { handleQueueBatch, retryDelaySeconds } from './queues/pushes.ts'
import type { QueuedJob, QueuedPush } from './queues/queued.ts'

/** Deferred handlers' queue: its name ends so, whatever the deployment calls its queues. */
const LATER_QUEUE_SUFFIX = '-later'

export { Campaigns } from './campaigns.ts'
export { Ledger } from './ledger.ts'
export { LoginGate, LoginSession } from './login/session.ts'
export { AccessToken } from './talk/access-token.ts'
export { UserState } from './user/state.ts'

const app = createApp(bot)

export default {
  fetch(request, env, ctx) {
    // Cloudflare's id for the request: the one an operator also finds in its dashboard.
    return withRequestId(request.headers.get('Cf-Ray'), () => app.fetch(request, env, ctx))
  },
  queue(batch, env) {
    return withRequestId(null, function consume() {
      if (batch.queue.endsWith(LATER_QUEUE_SUFFIX)) {
        const base = readConfig(env).queueRetryBaseSeconds
        return handleLaterBatch(batch as MessageBatch<QueuedJob>, env, bot, (attempts) =>
          retryDelaySeconds(attempts, base),
        )
      }
      return handleQueueBatch(batch as MessageBatch<QueuedPush>, env)
    })
  },
} satisfies ExportedHandler<Env, QueuedPush | QueuedJob>
