/**
 * The one rule for durable names of many accounts: an account's name for anything (a user's
 * object, a ledger shard, its token, its campaigns, a login, a dead letter's key) is the env
 * account's name for it behind `<id>/`. The env account keeps the names it always had, so that
 * an existing deployment keeps every user, session, dead letter and count across the upgrade;
 * a `/` is in no OpenID, AppID, ToUserName, dedup key or login id, so no account's name can
 * be another's. Pure.
 */

import { ENV_ACCOUNT } from './settings.ts'

/** What an account id may be: what `/wechat/<id>` and `/admin/accounts/<id>/…` take. */
export const ACCOUNT_ID = /^[a-z0-9-]{1,32}$/

/**
 * Ids no configured account may take: the env account's, the third-party platform's route
 * (`/wechat/platform`), and anything shaped like an AppID (a platform authorizer is named by
 * its AppID).
 */
export function reservedAccountId(id: string): boolean {
  return id === ENV_ACCOUNT || id === 'platform' || /^wx[0-9a-f]{16}$/.test(id)
}

/**
 * @example
 * scoped('env', 'oUser') // 'oUser'
 * scoped('shop', 'oUser') // 'shop/oUser'
 */
export function scoped(account: string, name: string): string {
  return account === ENV_ACCOUNT ? name : `${account}/${name}`
}

/** The account and the env-style name a scoped name stands for. */
export function unscoped(name: string): { readonly account: string; readonly name: string } {
  const slash = name.indexOf('/')
  return slash === -1
    ? { account: ENV_ACCOUNT, name }
    : { account: name.slice(0, slash), name: name.slice(slash + 1) }
}
