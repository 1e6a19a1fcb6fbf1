/** A route context for exercising a router alone: no user, so its session is unavailable. */

import type { RouteContext } from '../../src/bot/router.ts'
import { PushSession } from '../../src/bot/session.ts'

export function routeContext(): RouteContext {
  return {
    env: {},
    signal: new AbortController().signal,
    session: new PushSession(null, () => 1_000),
    profile: async () => null,
    log: {},
    wechat: null,
    account: { id: 'env', appId: null },
    webLink: () => {
      throw new TypeError('webLink: no web side in a router alone')
    },
    key: 'test-key',
    authenticated: true,
    msLeft: () => 1_000,
    hold: () => {},
  }
}
