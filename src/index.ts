/**
 * The Worker: the HTTP app around the bot, the Queue consumer, and the per-user Durable Object.
 */

import { createApp } from './app.ts'
import { bot } from './bot.ts'
import type { Env } from './env.ts'
import { handleQueueBatch } from './queue.ts'
import type { QueuedPush } from './queued-push.ts'

export { UserState } from './user-state.ts'

const app = createApp(bot)

export default {
  fetch: app.fetch,
  queue: handleQueueBatch,
} satisfies ExportedHandler<Env, QueuedPush>
