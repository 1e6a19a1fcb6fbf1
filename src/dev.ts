/**
 * The Worker as `npm run dev` and the tests run it: production's, plus the debugging tools
 * (src/debug/tools.ts), which still answer only with DEBUG_CONSOLE=true.
 */

import { debugTools } from './debug/tools.ts'
import { bot } from './default-bot.ts'
import { createApp } from './http/app.ts'
import { workerFor } from './worker.ts'

export {
  AccessToken,
  Campaigns,
  JsapiTicket,
  Ledger,
  LoginGate,
  LoginSession,
  UserState,
  WebAuthorization,
} from './index.ts'

export default workerFor(createApp(bot, { debugTools }), bot)
