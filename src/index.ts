/**
 * The Worker as `wrangler deploy` uploads it: the HTTP app around the bot, the Queue consumers,
 * and the Durable Objects. No debugging tool is imported here (src/dev.ts adds them).
 */

import { bot } from './default-bot.ts'
import { createWorker } from './worker.ts'

// By name, not `export *`: `wrangler types` reads this entry's export names to type env's
// Durable Object namespaces.
export {
  AccessToken,
  AssistantQuota,
  Campaigns,
  JsapiTicket,
  Ledger,
  LoginGate,
  LoginSession,
  Platform,
  UserState,
  WebAuthorization,
} from './durable-objects.ts'

export default createWorker(bot)
