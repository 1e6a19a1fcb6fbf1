/**
 * The account's client of WeChat's API: customer-service messages, "typing…", QR codes, the
 * menu, and a generic call for any other endpoint, each with the account's token from its
 * AccessToken Durable Object (nobody fetches a token by hand). A call refused for an invalid or
 * expired token is made once more with a fresh one. Binding code, kept thin: the protocol is in
 * src/wechat/ (api.ts, qrcode.ts, menu.ts).
 */

import { objectsOf } from '../accounts/objects.ts'
import { scoped } from '../accounts/scope.ts'
import type { AccountSettings } from '../config.ts'
import type { Env } from '../env.ts'
import {
  type ApiCall,
  type CallOptions,
  type CustomMessage,
  requestJson,
  sendCustomMessage,
  sendTyping,
  WechatApiError,
} from '../wechat/api.ts'
import type { Menu } from '../wechat/menu.ts'
import { createQrCode, type QrCode, type QrCodeRequest, qrImageUrl } from '../wechat/qrcode.ts'
import { REFRESH_AHEAD_MS, type TokenResult } from './access-token.ts'

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
  // The token's holder, by its name under the account's scope: also this isolate's key for it.
  const holder = scoped(account.id, talkBack.appId)
  // A stub only when the object is asked: a warm isolate's sends never ask it.
  const tokenObject = () => objectsOf(env, account.id).token(talkBack.appId)
  const api: ApiCall = { fetch: (input, init) => fetch(input, init), base: talkBack.apiBase }
  const withToken = async <T>(use: (token: string) => Promise<T>): Promise<T> => {
    const token = heldToken(holder) ?? (await askOnce(holder, () => tokenObject().token()))
    try {
      return await use(token)
    } catch (error) {
      if (!(error instanceof WechatApiError) || error.failure !== 'token_invalid') throw error
      // Only the token that failed is dropped; the object refreshes it once for everyone.
      if (heldTokens.get(holder)?.token === token) heldTokens.delete(holder)
      return use(keep(holder, await tokenObject().invalidate(token)))
    }
  }
  return {
    send: (openid, message) => withToken((token) => sendCustomMessage(api, token, openid, message)),
    typing: (openid, on) => withToken((token) => sendTyping(api, token, openid, on)),
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

/**
 * This isolate's copy of each account's token, by its holder's name, so that sends on a warm
 * isolate make no call to the AccessToken object. Used until the object would refresh it
 * ({@link REFRESH_AHEAD_MS} before it expires), dropped when WeChat refuses it.
 */
const heldTokens = new Map<string, { readonly token: string; readonly expiresAt: number }>()

function heldToken(holder: string): string | null {
  const held = heldTokens.get(holder)
  return held && Date.now() < held.expiresAt - REFRESH_AHEAD_MS ? held.token : null
}

/** Asks in flight, by holder: sends that find no copy at once share one call to the object. */
const asking = new Map<string, Promise<string>>()

function askOnce(holder: string, ask: () => Promise<TokenResult>): Promise<string> {
  let pending = asking.get(holder)
  if (!pending) {
    pending = ask()
      .then((result) => keep(holder, result))
      .finally(() => asking.delete(holder))
    asking.set(holder, pending)
  }
  return pending
}

/** The object's answer: its token, kept for this isolate, or its failure thrown. */
function keep(holder: string, result: TokenResult): string {
  if (!result.ok) throw new WechatApiError(result.failure, result.code, result.message)
  heldTokens.set(holder, { token: result.token, expiresAt: result.expiresAt })
  return result.token
}
