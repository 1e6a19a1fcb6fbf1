/**
 * The account a request names, or its refusal: unknown ids are a 404 found from the
 * configuration alone (no binding is touched), and an account whose settings are wrong a 503
 * naming them, as the env account's always was.
 */

import { type AccountSettings, readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { logProblem } from '../log.ts'
import { WechatError } from '../wechat/errors.ts'

/**
 * @example
 * const account = accountToServe(c.env, c.req.param('account') ?? ENV_ACCOUNT)
 */
export function accountToServe(env: Env, id: string): AccountSettings {
  const account = readConfig(env).accounts.get(id)
  if (!account) throw new WechatError(404, 'not found')
  if (account.problems.length > 0) {
    logProblem('not_configured', { account: id, problems: account.problems.join('; ') })
    throw new WechatError(503, `wechat-edge is not configured: ${account.problems.join('; ')}`)
  }
  return account
}
