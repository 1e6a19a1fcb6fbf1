/** Asking the test bot's assistant (`ask …`, test/fixtures/bot.ts) as WeChat would, and what came of it. */

import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { type ForgeMode, forgePushXml, openReply } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { parseXmlRoot } from '../../src/wechat/xml.ts'
import { accounts, signedFor, type TestAccount } from '../helpers/accounts.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { openid } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

/** A short reply budget keeps the tests quick; the rules are the same at 4.5 s. */
export const QUICK: Partial<Env> = { REPLY_BUDGET_MS: '1500' }

/** A unique mark for a test's questions: the fake model's calls are found by it. */
export function mark(label: string): string {
  return `${label}-${crypto.randomUUID().slice(0, 8)}`
}

/** A text push as WeChat would send it. */
export function textPush(user: string, content: string, createTime?: number): string {
  return forgePushXml('text', {
    openid: user,
    content,
    ...(createTime !== undefined && { createTime }),
  })
}

/**
 * One attempt of a push to the account's callback, sealed as WeChat seals it in safe mode (a
 * plaintext push's body is not authenticated, and the assistant treats it so): the reply's
 * text, or `success`.
 */
export async function attempt(
  xml: string,
  overrides: Partial<Env> = {},
  account: TestAccount = accounts.env,
  mode: ForgeMode = 'safe',
): Promise<string> {
  await fakeWechat.interact(xml)
  const response = await fetchWith(await signedFor(account, xml, mode), {
    ...QUICK,
    ...overrides,
  })
  const body = await response.text()
  if (response.status !== 200) throw new Error(`answered ${response.status}: ${body}`)
  if (body === 'success') return body
  const opened = await openReply(body, account)
  return String((parseXmlRoot(opened.plaintext) as Record<string, unknown>).Content)
}

/** One attempt of a plaintext push: its body signed by nothing, as anyone holding a signed URL can post. */
export function plaintextAttempt(
  xml: string,
  overrides: Partial<Env> = {},
  account: TestAccount = accounts.env,
): Promise<string> {
  return attempt(xml, overrides, account, 'plaintext')
}

/** The texts the fake WeChat took for the user as customer-service messages, in order. */
export async function sentTo(user: string): Promise<string[]> {
  return (await fakeWechat.sent(user)).map((sent) => sent.body.text?.content ?? '')
}

/** What is left of the user's assistant tables (question rows and memory turns). */
export function userOf(id: string) {
  return env.USERS.getByName(id)
}

export { openid }

/**
 * What a flood of questions past the user's limit leaves in their object (`n` rows, each
 * limited, no call made), then the object's alarm, which prunes and trims its tables.
 */
export async function floodThenPrune(id: string, n: number): Promise<void> {
  await runInDurableObject(userOf(id), async (_instance, state) => {
    const sql = state.storage.sql
    const now = Date.now()
    const start = sql
      .exec<{ seq: number | null }>('SELECT max(seq) AS seq FROM assistant_asks')
      .one()
    for (let i = 1; i <= n; i++) {
      sql.exec(
        `INSERT INTO assistant_asks (key, seq, op, state, reason, arrivals, first_at, answered_at, at)
         VALUES (?, ?, 'ask', 'limited', 'user', 1, ?, ?, ?)`,
        `flood-${i}`,
        (start.seq ?? 0) + i,
        now,
        now,
        now,
      )
    }
  })
  await runDurableObjectAlarm(userOf(id))
}
