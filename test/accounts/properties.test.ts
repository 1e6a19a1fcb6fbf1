/**
 * No sequence of pushes to two accounts lets one's reply, session or count reach the other: the
 * same OpenIDs follow, count, scan a scene and unfollow at both, in any order, and every reply
 * and every count is what that account alone would have given.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { accounts, adminOf, exchangeWith } from '../helpers/accounts.ts'
import { eventually } from '../helpers/eventually.ts'
import { openid } from '../helpers/wechat.ts'

type AccountId = 'env' | 'shop'
type Step = { account: AccountId; user: 0 | 1; action: 'count' | 'scan' | 'unfollow' }

const step = fc.record<Step>({
  account: fc.constantFrom('env', 'shop'),
  user: fc.constantFrom(0, 1),
  action: fc.constantFrom('count', 'count', 'scan', 'unfollow'),
})

describe('two accounts, any sequence of pushes', () => {
  it('never lets one account’s reply, session or campaign count reach the other', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 10 }), async (steps) => {
        run++
        const users = [openid(`prop${run}a`), openid(`prop${run}b`)] as const
        const scene = `prop-${run}-${Date.now()}`
        const counts: Record<AccountId, [number, number]> = { env: [0, 0], shop: [0, 0] }
        const scans: Record<AccountId, number> = { env: 0, shop: 0 }
        let at = Math.floor(Date.now() / 1000) - 100
        for (const { account, user, action } of steps) {
          at++
          const openidOf = users[user]
          const fields = { openid: openidOf, createTime: at }
          const xml =
            action === 'count'
              ? forgePushXml('text', { ...fields, content: 'count', msgId: `${at}${run}` })
              : action === 'scan'
                ? forgePushXml('scan', { ...fields, scene })
                : forgePushXml('unsubscribe', fields)
          const { reply } = await exchangeWith(accounts[account], xml)
          if (action === 'count') {
            counts[account][user]++
            expect(reply).toContain(`count: ${counts[account][user]}`)
          } else if (action === 'scan') {
            scans[account]++
          } else {
            counts[account][user] = 0
          }
        }
        for (const account of ['env', 'shop'] as const) {
          await eventually(async () => {
            const response = await adminOf(accounts[account], `qrcodes/${scene}/stats`)
            expect(((await response.json()) as { scans: number }).scans).toBe(scans[account])
          })
        }
      }),
      { numRuns: 12 },
    )
  }, 120_000)
})
