/**
 * How the HTTP surface answers a call WeChat refused: 409 for the user's window (passed or
 * used) or consent (not subscribed), or a notification another attempt holds; 503 when worth
 * trying again soon, 502 otherwise; WeChat's errcode when it gave one.
 */

import type { ApiFailure, WechatApiError } from '../wechat/api.ts'

/** The refusals that are the user's state, not WeChat's trouble: the window, the consent. */
const USER_CONFLICTS: readonly ApiFailure[] = [
  'window_closed',
  'quota_used',
  'not_subscribed',
  'in_progress',
]

export interface RefusalAnswer {
  readonly status: 409 | 502 | 503
  readonly body: { readonly error: ApiFailure; readonly code?: number }
}

/**
 * @example
 * const { body, status } = refusalAnswer(error)
 * return c.json(body, status)
 */
export function refusalAnswer(error: WechatApiError): RefusalAnswer {
  const status = USER_CONFLICTS.includes(error.failure) ? 409 : error.retryable ? 503 : 502
  return {
    status,
    body: { error: error.failure, ...(error.code !== null && { code: error.code }) },
  }
}
