/**
 * The account's client of WeChat's API: customer-service messages, "typing…", notifications,
 * QR codes, the menu, and a generic call for any other endpoint, each with the account's token from its
 * AccessToken Durable Object (nobody fetches a token by hand), through this isolate's copy
 * (src/talk/holder.ts). A call refused for an invalid or expired token is made once more with a
 * fresh one. Binding code, kept thin: the protocol is in
 * src/wechat/ (api.ts, qrcode.ts, menu.ts).
 */

import { scoped } from '../accounts/scope.ts'
import type { AccountSettings } from '../config.ts'
import type { Env } from '../env.ts'
import {
  type ApiCall,
  type CallOptions,
  type CustomMessage,
  requestJson,
  sendCustomMessage,
  sendNotification,
  sendTyping,
  WechatApiError,
} from '../wechat/api.ts'
import type { Menu } from '../wechat/menu.ts'
import type { Notification } from '../wechat/notification.ts'
import { createQrCode, type QrCode, type QrCodeRequest, qrImageUrl } from '../wechat/qrcode.ts'
import { IsolateCopies, isTokenRefusal, withHeld } from './holder.ts'

/** What WeChat's `get_current_selfmenu_info` answers: whether a menu is on, and its buttons. */
export interface CurrentMenu {
  readonly is_menu_open: number
  readonly selfmenu_info?: { readonly button: readonly unknown[] }
}

/**
 * The account's WeChat API, as bot handlers (`context.wechat`), deferred handlers and the
 * admin API reach it. Every method throws a {@link WechatApiError} on failure.
 *
 * @example
 * const info = await context.wechat?.call<{ nickname?: string }>('cgi-bin/user/info', {
 *   query: { openid: push.fromUserName, lang: 'zh_CN' },
 * })
 */
export interface WechatClient {
  /** Sends one customer-service message now (deferred handlers' `send` adds the outbox). */
  send(openid: string, message: CustomMessage): Promise<void>
  /** Shows or cancels "typing…". */
  typing(openid: string, on: boolean): Promise<void>
  /**
   * Sends one notification now (bizsend, or template/send with `clientMsgId` as its
   * `client_msg_id`): WeChat's msgid, or null when it answers none. `notify` on a handler's
   * context adds the user's consent and the outbox (src/talk/notify.ts).
   */
  sendNotification(
    openid: string,
    notification: Notification,
    clientMsgId: string,
  ): Promise<string | null>
  /**
   * Any endpoint under WeChat's API, with the token: a POST of `body` as JSON, or a GET without
   * one; `query` values are encoded as data. A path that would leave the API (another host, `..`,
   * a query of its own) or a query naming `access_token` is refused without a request.
   */
  call<T = Record<string, unknown>>(path: string, options?: CallOptions): Promise<T>
  /** A parametric QR code with a string scene (src/wechat/qrcode.ts). */
  createQrCode(request: QrCodeRequest): Promise<QrCode & { readonly image: string }>
  /** Publishes the custom menu (`menu/create`). */
  createMenu(menu: Menu): Promise<void>
  /** The menu WeChat shows now (`get_current_selfmenu_info`). */
  currentMenu(): Promise<CurrentMenu>
}

/** One client per account and env, as readConfig keeps one config: a push builds none anew. */
const clients = new WeakMap<Env, Map<string, WechatClient | null>>()

/**
 * The account's client, or null when talking back is off (no AppID).
 *
 * @example
 * const wechat = talkerFor(env, account)
 */
export function talkerFor(env: Env, account: AccountSettings): WechatClient | null {
  let perAccount = clients.get(env)
  if (!perAccount) {
    perAccount = new Map()
    clients.set(env, perAccount)
  }
  let client = perAccount.get(account.id)
  if (client === undefined) {
    client = clientFor(env, account)
    perAccount.set(account.id, client)
  }
  return client
}

function clientFor(env: Env, account: AccountSettings): WechatClient | null {
  const { talkBack } = account
  if (!talkBack) return null
  // The token's holder, by its name under the account's scope (src/accounts/scope.ts).
  const holder = tokenHolderName(account.id, talkBack.appId)
  const api: ApiCall = { fetch: (input, init) => fetch(input, init), base: talkBack.apiBase }
  const copies = talkBack.source === 'authorizer' ? 'none' : 'isolate'
  const withToken = <T>(use: (token: string) => Promise<T>): Promise<T> =>
    withAccessToken(env, holder, use, copies)
  return {
    send: (openid, message) => withToken((token) => sendCustomMessage(api, token, openid, message)),
    typing: (openid, on) => withToken((token) => sendTyping(api, token, openid, on)),
    sendNotification: (openid, notification, clientMsgId) =>
      withToken((token) => sendNotification(api, token, openid, notification, clientMsgId)),
    call: <T>(path: string, options?: CallOptions) =>
      withToken((token) => requestJson<T>(api, path, options, token)),
    createQrCode: async (request) => {
      const code = await withToken((token) => createQrCode(api, token, request))
      return { ...code, image: qrImageUrl(talkBack.apiBase, code.ticket) }
    },
    createMenu: async (menu) => {
      await withToken((token) =>
        requestJson(api, 'cgi-bin/menu/create', { body: { button: menu } }, token),
      )
    },
    currentMenu: () =>
      withToken((token) =>
        requestJson<CurrentMenu>(api, 'cgi-bin/get_current_selfmenu_info', {}, token),
      ),
  }
}

/** An account's token holders' name (its AccessToken's, its JsapiTicket's): by AppID, scoped. */
export function tokenHolderName(account: string, appId: string): string {
  return scoped(account, appId)
}

/** This isolate's copies of each account's access token, by its holder's name. */
const accessTokens = new IsolateCopies()
/**
 * An authorizer's token is never copied: a revoke drops it from its holder, and from that moment
 * no isolate may send with it (an operator's drop leaves it valid at WeChat).
 */
const authorizerTokens = new IsolateCopies({ keep: false })

/**
 * Calls `use` with an account's access token: this isolate's copy, or its AccessToken object's
 * (named `holder`: {@link tokenHolderName}). Refused as invalid or expired (40001, 40014,
 * 42001), only that token is dropped, the object renews it once for everyone, and `use` runs
 * once more with the new one.
 *
 * @example
 * const ticket = await withAccessToken(env, holder, (token) => fetchJsapiTicket(api, token))
 */
export function withAccessToken<T>(
  env: Env,
  holder: string,
  use: (token: string) => Promise<T>,
  copies: 'isolate' | 'none' = 'isolate',
): Promise<T> {
  return withHeld(
    copies === 'isolate' ? accessTokens : authorizerTokens,
    holder,
    () => env.ACCESS_TOKENS.getByName(holder),
    use,
    isTokenRefusal,
  )
}
