/**
 * The Durable Object classes, which every entry of the Worker exports by name (wrangler.toml
 * binds them by class name): the production entry, the dev entry and the tests' entry.
 */

export { AssistantQuota } from './assistant/quota.ts'
export { Campaigns } from './campaigns.ts'
export { LoginGate, LoginSession } from './login/session.ts'
export { Platform } from './platform/platform.ts'
export { Ledger } from './receive/ledger.ts'
export { AccessToken } from './talk/access-token.ts'
export { JsapiTicket } from './talk/jsapi-ticket.ts'
export { UserState } from './user/state.ts'
export { WebAuthorization } from './web/authorization.ts'
