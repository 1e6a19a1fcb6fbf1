/**
 * The account a request names, or its refusal: unknown ids are a 404 found from the
 * configuration alone (no binding is touched), and an account whose settings are wrong a 503
 * naming them, as the env account's always was.
 */

import { type AccountSettings, readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { logProblem } from '../log.ts'
import { WechatError } from '../wechat/errors.ts'
import { authorizerAccount } from './settings.ts'

/**
 * Which accounts an id may name: `configured` (the env account and WECHAT_ACCOUNTS: their
 * callback URLs), `authorizer` (the platform's, by AppID: theirs), `any` (the admin API, the
 * Queue consumers).
 */
export type Among = 'configured' | 'authorizer' | 'any'

/**
 * @example
 * const account = accountToServe(c.env, c.req.param('account') ?? ENV_ACCOUNT, 'configured')
 */
export function accountToServe(env: Env, id: string, among: Among = 'any'): AccountSettings {
  const account = findAccount(env, id, among)
  if (!account) throw new WechatError(404, 'not found')
  if (account.problems.length > 0) {
    logProblem('not_configured', { account: id, problems: account.problems.join('; ') })
    throw new WechatError(503, `wechat-edge is not configured: ${account.problems.join('; ')}`)
  }
  return account
}

/**
 * An account by id: the env account, one of WECHAT_ACCOUNTS, or (with the third-party platform
 * on) an authorizer by its AppID. From the configuration alone: whether an authorizer has in
 * fact authorized the platform is for its owners to check (src/platform/).
 */
export function findAccount(env: Env, id: string, among: Among = 'any'): AccountSettings | null {
  const config = readConfig(env)
  const configured = config.accounts.get(id)
  if (configured) return among === 'authorizer' ? null : configured
  if (among === 'configured' || !config.platform || !isAppId(id)) return null
  return authorizerAccount(config.platform, id)
}

/** Whether an account is one of the platform's authorizers (an AppID, not a configured id). */
export function isAuthorizer(env: Env, id: string): boolean {
  const config = readConfig(env)
  return config.platform !== null && !config.accounts.has(id) && isAppId(id)
}

/** An AppID as WeChat issues them: `wx` and 16 hexadecimal characters. */
export function isAppId(id: string): boolean {
  return /^wx[0-9a-f]{16}$/.test(id)
}
