/**
 * An account's Durable Objects, each by its name under the one scoping rule (scope.ts): every
 * path that reaches an account's users, ledger, token, campaigns or logins goes through here,
 * so that no call can forget whose they are. Binding code, thin.
 */

import type { AssistantQuota } from '../assistant/quota.ts'
import type { Campaigns } from '../campaigns.ts'
import type { Env } from '../env.ts'
import type { LoginGate, LoginSession } from '../login/session.ts'
import type { Ledger } from '../receive/ledger.ts'
import type { AccessToken } from '../talk/access-token.ts'
import type { UserState } from '../user/state.ts'
import { scoped } from './scope.ts'

export interface AccountObjects {
  /** `account` as the objects know it. */
  readonly account: string
  user(openid: string): DurableObjectStub<UserState>
  ledger(shard: string): DurableObjectStub<Ledger>
  /** The access token's holder, one per AppID. */
  token(appId: string): DurableObjectStub<AccessToken>
  /** The campaigns object, named by the AppID as it always was ('account' without one). */
  campaigns(appId: string | null): DurableObjectStub<Campaigns>
  login(id: string): DurableObjectStub<LoginSession>
  loginGate(): DurableObjectStub<LoginGate>
  /** How many questions the account's users put to the AI assistant this hour. */
  assistantQuota(): DurableObjectStub<AssistantQuota>
}

/**
 * @example
 * const user = objectsOf(env, 'shop').user(openid)
 */
export function objectsOf(env: Env, account: string): AccountObjects {
  const name = (local: string) => scoped(account, local)
  return {
    account,
    user: (openid) => env.USERS.getByName(name(openid)),
    ledger: (shard) => env.LEDGER.getByName(name(shard)),
    token: (appId) => env.ACCESS_TOKENS.getByName(name(appId)),
    campaigns: (appId) => env.CAMPAIGNS.getByName(name(appId ?? 'account')),
    login: (id) => env.LOGINS.getByName(name(id)),
    loginGate: () => env.LOGIN_GATE.getByName(name('gate')),
    assistantQuota: () => env.ASSISTANT_QUOTAS.getByName(name('assistant')),
  }
}
