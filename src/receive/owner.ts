/**
 * Whose a push is: the one function that finds the owner of a push, the user's object (by the
 * OpenID its kind names: the sender, or the revoked OpenID) or a ledger shard (pushes of
 * nobody: job results, `user_info_modified`, unknown kinds), each the account's own. The
 * request path, the Queue consumers, the jobs and the dead letters all reach an owner through
 * it. Binding code, thin.
 */

import type { AccountObjects } from '../accounts/objects.ts'
import type { UserState } from '../user/state.ts'
import { type Push, stateOwnerOf } from '../wechat/push.ts'
import type { Ledger } from './ledger.ts'

/** Ledger shards per account: a burst of template results is spread over this many objects. */
export const LEDGER_SHARDS = 16

export type Owner =
  | { readonly kind: 'user'; readonly openid: string; readonly stub: DurableObjectStub<UserState> }
  | { readonly kind: 'ledger'; readonly stub: DurableObjectStub<Ledger> }

/**
 * @example
 * const owner = ownerOf(objectsOf(env, account), push, key)
 * const receipt = await owner.stub.receive(arrival)
 */
export function ownerOf(objects: AccountObjects, push: Push, key: string): Owner {
  const openid = stateOwnerOf(push)
  if (openid !== null) return { kind: 'user', openid, stub: objects.user(openid) }
  // By the account's ToUserName and the key, as shards were always named.
  let hash = 0
  for (const char of key) hash = (hash * 31 + char.charCodeAt(0)) >>> 0
  return { kind: 'ledger', stub: objects.ledger(`${push.toUserName}:${hash % LEDGER_SHARDS}`) }
}
