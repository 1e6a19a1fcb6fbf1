/**
 * The Worker's handlers around an app: fetch with the request's id for the logs, and the Queue
 * consumers. Shared by the production entry (src/index.ts) and the dev entry (src/dev.ts).
 */

import type { Hono } from 'hono/tiny'
import type { Router } from './bot/router.ts'
import type { SessionSchema } from './bot/session.ts'
import { readConfig } from './config.ts'
import type { Env } from './env.ts'
import { withRequestId } from './log.ts'
import { handleLaterBatch } from './queues/later.ts'
import { handleQueueBatch, retryDelaySeconds } from './queues/pushes.ts'
import { type QueuedMessage, queueRoleOf } from './queues/queued.ts'

/**
 * @example
 * export default workerFor(createApp(bot), bot)
 */
export function workerFor<S extends SessionSchema<S>>(
  app: Hono<{ Bindings: Env }>,
  bot: Router<Env, S>,
) {
  return {
    fetch(request, env, ctx) {
      // Cloudflare's id for the request: the one an operator also finds in its dashboard.
      return withRequestId(request.headers.get('Cf-Ray'), () => app.fetch(request, env, ctx))
    },
    queue(batch, env) {
      return withRequestId(null, function consume() {
        if (queueRoleOf(batch.queue) === 'later') {
          const base = readConfig(env).queueRetryBaseSeconds
          return handleLaterBatch(batch, env, bot, (attempts) => retryDelaySeconds(attempts, base))
        }
        return handleQueueBatch(batch, env)
      })
    },
  } satisfies ExportedHandler<Env, QueuedMessage>
}
