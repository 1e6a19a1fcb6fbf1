import { describe, expect, it } from 'vitest'
import { failureOf, WechatApiError } from '../../src/wechat/api.ts'

/** What each errcode comes to, as the customer-service and global return-code pages list them. */
const TABLE: [number, string, 'soon' | 'late' | 'final'][] = [
  [-1, 'busy', 'soon'],
  [40001, 'token_invalid', 'soon'],
  [40014, 'token_invalid', 'soon'],
  [42001, 'token_invalid', 'soon'],
  [40164, 'ip_not_whitelisted', 'late'],
  [89503, 'ip_needs_confirmation', 'late'],
  [45009, 'api_quota', 'late'],
  [45011, 'api_quota', 'late'],
  [48001, 'not_permitted', 'late'],
  [45015, 'window_closed', 'final'],
  [45047, 'quota_used', 'final'],
  [43004, 'not_a_follower', 'final'],
  [40003, 'bad_openid', 'final'],
  [45002, 'too_long', 'final'],
  [45080, 'typing_refused', 'final'],
  [45081, 'typing_refused', 'final'],
  // In no table: WeChat's errmsg says "Cannot make concurrent calls to the same OpenID, please
  // try again"; nothing was taken, so another try is safe.
  [43108, 'concurrent_call', 'soon'],
  // A code not in the table is a final refusal: dead-lettered with it, never dropped.
  [40007, 'refused', 'final'],
]

describe('WeChat’s failures, in one table', () => {
  it.each(TABLE)('errcode %i is %s, retried %s', (code, failure, failureClass) => {
    const error = new WechatApiError(failureOf(code), code, 'refused')
    expect(error.failure).toBe(failure)
    expect(error.failureClass).toBe(failureClass)
    expect(error.retryable).toBe(failureClass === 'soon')
  })
})
