/**
 * Routes that act for one account (its admin API, its logins): which account a request names
 * (the path's `:account`, a `?account=` query, else the env account), resolved once and handed
 * to the handlers with its objects, so that no handler reaches another account's.
 */

import type { MiddlewareHandler } from 'hono'
import { type AccountObjects, objectsOf } from '../accounts/objects.ts'
import { accountToServe } from '../accounts/served.ts'
import { ENV_ACCOUNT } from '../accounts/settings.ts'
import type { AccountSettings } from '../config.ts'
import type { Env } from '../env.ts'

/** A Hono app whose handlers act for one account (`c.var.account`, `c.var.objects`). */
export interface AccountScoped {
  Bindings: Env
  Variables: { account: AccountSettings; objects: AccountObjects }
}

/**
 * Resolves the account the request names, or answers for it: 404 unknown, 503 misconfigured.
 *
 * @example
 * new Hono<AccountScoped>().use('*', forAccount('path'))
 */
export function forAccount(from: 'path' | 'query'): MiddlewareHandler<AccountScoped> {
  return async function resolveAccount(c, next) {
    const named = from === 'path' ? c.req.param('account') : c.req.query('account')
    const account = accountToServe(c.env, named ?? ENV_ACCOUNT)
    c.set('account', account)
    c.set('objects', objectsOf(c.env, account.id))
    await next()
  }
}
