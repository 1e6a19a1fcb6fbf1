/**
 * The Worker as `wrangler deploy` uploads it: the HTTP app around the bot, the Queue consumers,
 * and the Durable Objects. No debugging tool is imported here (src/dev.ts adds them).
 */

import { bot } from './default-bot.ts'
import { createApp } from './http/app.ts'
import { workerFor } from './worker.ts'

export { Campaigns } from './campaigns.ts'
export { Ledger } from './ledger.ts'
export { LoginGate, LoginSession } from './login/session.ts'
export { AccessToken } from './talk/access-token.ts'
export { JsapiTicket } from './talk/jsapi-ticket.ts'
export { UserState } from './user/state.ts'
export { WebAuthorization } from './web/authorization.ts'

export default workerFor(createApp(bot), bot)
