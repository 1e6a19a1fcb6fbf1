/**
 * Talking back: customer-service messages and the typing indicator, with the account's token
 * from its AccessToken Durable Object. A call refused for an invalid or expired token is made
 * once more with a fresh one. Binding code, kept thin: the protocol is in src/wechat/api.ts.
 */

import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import {
  type ApiCall,
  type CustomMessage,
  sendCustomMessage,
  sendTyping,
  WechatApiError,
} from '../wechat/api.ts'
import type { TokenResult } from './access-token.ts'

export interface Talker {
  /** Sends one customer-service message. Throws a {@link WechatApiError}. */
  send(openid: string, message: CustomMessage): Promise<void>
  /** Shows or cancels "typing…". Throws a {@link WechatApiError}. */
  typing(openid: string, on: boolean): Promise<void>
}

/** The account's talker, or null when talking back is off (no AppID). */
export function talkerFor(env: Env): Talker | null {
  const talkBack = readConfig(env).talkBack
  if (!talkBack) return null
  const tokens = env.ACCESS_TOKENS.getByName(talkBack.appId)
  const call: ApiCall = { fetch: (input, init) => fetch(input, init), base: talkBack.apiBase }
  const withToken = async (use: (token: string) => Promise<void>) => {
    const token = tokenOf(await tokens.token())
    try {
      await use(token)
    } catch (error) {
      if (!(error instanceof WechatApiError) || error.failure !== 'token_invalid') throw error
      await use(tokenOf(await tokens.invalidate(token)))
    }
  }
  return {
    send: (openid, message) =>
      withToken((token) => sendCustomMessage(call, token, openid, message)),
    typing: (openid, on) => withToken((token) => sendTyping(call, token, openid, on)),
  }
}

function tokenOf(result: TokenResult): string {
  if (result.ok) return result.token
  throw new WechatApiError(result.failure, result.code, result.message)
}
