/**
 * The Worker's handlers around its bots: fetch with the request's id for the logs, and the
 * Queue consumers, from one set of bots checked once. Shared by the production entry
 * (src/index.ts), the dev entry (src/dev.ts) and the tests' entry.
 */

import { type BotSource, botsOf } from './bot/bots.ts'
import { readConfig } from './config.ts'
import type { Env } from './env.ts'
import { type AppOptions, appFor } from './http/app.ts'
import { withRequestId } from './log.ts'
import { handleLaterBatch } from './queues/later.ts'
import { handleQueueBatch, retryDelaySeconds } from './queues/pushes.ts'
import { type QueuedMessage, queueRoleOf } from './queues/queued.ts'

/**
 * @example
 * export default createWorker(bot, { accounts: { shop: shopBot } })
 */
export function createWorker(bot: BotSource, options: AppOptions = {}) {
  const bots = botsOf(bot, options.accounts)
  const app = appFor(bots, options)
  return {
    fetch(request, env, ctx) {
      // Cloudflare's id for the request: the one an operator also finds in its dashboard.
      return withRequestId(request.headers.get('Cf-Ray'), () => app.fetch(request, env, ctx))
    },
    queue(batch, env) {
      return withRequestId(null, function consume() {
        if (queueRoleOf(batch.queue) === 'later') {
          const base = readConfig(env).queueRetryBaseSeconds
          return handleLaterBatch(batch, env, bots, (attempts) => retryDelaySeconds(attempts, base))
        }
        return handleQueueBatch(batch, env)
      })
    },
  } satisfies ExportedHandler<Env, QueuedMessage>
}
