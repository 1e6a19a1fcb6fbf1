/**
 * The Worker as `npm run dev` runs it: production's, plus the debugging tools
 * (src/debug/tools.ts), which still answer only with DEBUG_CONSOLE=true. A bot that cannot be
 * built does not stop the dev server: every request is answered with the reason
 * (src/debug/broken-bot.ts) until the bot is fixed and reloaded.
 */

import { brokenBotWorker } from './debug/broken-bot.ts'
import { debugTools } from './debug/tools.ts'
import type { Env } from './env.ts'
import type { QueuedMessage } from './queues/queued.ts'
import { createWorker } from './worker.ts'

export * from './durable-objects.ts'

// Imported, and its app built, as the module loads, but as a promise: what the bot throws (at
// its definition, or in createApp's check of the menu) rejects it rather than the module.
const worker = import('./default-bot.ts')
  .then(({ bot }) => createWorker(bot, { debugTools }))
  .catch(brokenBotWorker)

export default {
  async fetch(request, env, ctx) {
    return (await worker).fetch(request, env, ctx)
  },
  async queue(batch, env) {
    return (await worker).queue(batch, env)
  },
} satisfies ExportedHandler<Env, QueuedMessage>
