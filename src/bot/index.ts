/**
 * Everything a bot author imports, from one place: the router and its deferred routes, the
 * context and session types, passive replies, customer-service messages and notification
 * templates.
 *
 * @example
 * import { later, message, reply, Router } from './bot/index.ts'
 *
 * export const bot = new Router<Env>()
 *   .on('subscribe', () => reply.text('Welcome!'))
 *   .text(/^ask /, later(async (push, { send }) => send(message.text('…'))))
 */

export {
  type AssistantContext,
  type AssistantNotices,
  type AssistantOptions,
  assistant,
} from '../assistant/assistant.ts'
export type { NotifyOutcome } from '../talk/notify.ts'
export type { WechatClient } from '../talk/talk.ts'
export { oauthStartLink, type WebLink } from '../web/link.ts'
export { message, WechatApiError } from '../wechat/api.ts'
export { defineMenu, type Menu, type MenuKeys } from '../wechat/menu.ts'
export {
  type MiniProgramLink,
  NotificationInputError,
  type NotificationOutcome,
} from '../wechat/notification.ts'
export type { Push, PushKind, PushOf } from '../wechat/push.ts'
export { type Reply, reply } from '../wechat/reply.ts'
export {
  defineTemplates,
  type KeywordKind,
  type SubscriptionKind,
  type TemplateData,
  TemplateDataError,
  type TemplateDefinition,
  type Templates,
} from '../wechat/templates.ts'
export type { Notify, NotifyInput } from './notify.ts'
export {
  type Handler,
  type HandlerContext,
  type LaterContext,
  type LaterHandler,
  later,
  type Middleware,
  NextCalledTwiceError,
  type NowContext,
  type NowHandler,
  Router,
  RouterDefinitionError,
} from './router.ts'
export {
  type Json,
  type Session,
  SessionLimitError,
  type SessionSchema,
  SessionUnavailableError,
} from './session.ts'
