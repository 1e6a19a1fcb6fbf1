/**
 * The assistant on an account without customer-service messages (48001; `aiPassiveOnly`):
 * answers go out passively only. A first attempt whose answer is not ready answers nothing, so
 * that WeChat sends the push again; the retry that finds it ready answers it; what may be
 * WeChat's last attempt (its third, or one 9 s after the first) tells the user to send `?`, which fetches the answer (a long one part by part).
 */

import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { fakeAnswer } from '../../src/debug/fake-model.ts'
import { accounts } from '../helpers/accounts.ts'
import { eventually } from '../helpers/eventually.ts'
import { fakeModel } from '../helpers/fake-model.ts'
import { attempt, mark, openid, plaintextAttempt, sentTo, textPush } from './helpers.ts'

const quiet = (xml: string) => attempt(xml, {}, accounts.quiet)
const MORE = '(Send “?” for more.)'

/** Whether the push was received without a reply: an attempt of it was held. */
function held(id: string): Promise<boolean> {
  return runInDurableObject(env.USERS.getByName(`quiet/${id}`), async (_instance, state) => {
    const sql = state.storage.sql
    const made = sql.exec(`SELECT 1 FROM sqlite_master WHERE name = 'received'`).toArray()
    if (made.length === 0) return false
    return sql.exec('SELECT 1 FROM received WHERE reply IS NULL').toArray().length > 0
  })
}

/** How many attempts of the user's question their object has seen. */
function arrivals(id: string): Promise<number> {
  return runInDurableObject(env.USERS.getByName(`quiet/${id}`), async (_instance, state) => {
    const row = state.storage.sql
      .exec<{ arrivals: number }>(`SELECT arrivals FROM assistant_asks WHERE op = 'ask'`)
      .toArray()[0]
    return row?.arrivals ?? 0
  })
}

describe('an account without customer-service messages', () => {
  it('answers a fast question passively', async () => {
    const id = openid('quiet-fast')
    const q = mark('quiet-fast')
    expect(await quiet(textPush(id, `ask ${q}`))).toBe(`Answer to “${q}” (a new conversation).`)
  })

  it('holds a slow answer past WeChat’s 5 s, and answers it on the retry that finds it ready', async () => {
    const id = openid('quiet-slow')
    const q = mark('quiet-slow')
    const xml = textPush(id, `ask ${q} [hold=${q}]`)
    const started = Date.now()
    const first = quiet(xml)
    // The first attempt gave up waiting, and was received without a reply.
    await eventually(async () => expect(await held(id)).toBe(true))
    await fakeModel.release(q)
    // WeChat's retry (it sends one when the first attempt did not answer in 5 s).
    expect(await quiet(xml)).toBe(`Answer to “${q}” (a new conversation).`)
    // The first attempt answered nothing WeChat could take: only after 5 s.
    expect(await first).toBe('success')
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_000)
    expect(await quiet(xml)).toBe(`Answer to “${q}” (a new conversation).`)
    expect(await fakeModel.calls(q)).toHaveLength(1)
    expect(await sentTo(id)).toEqual([])
  }, 30_000)

  it('tells the user on WeChat’s last attempt to send ?, which fetches the answer once', async () => {
    const id = openid('quiet-fetch')
    const q = mark('quiet-fetch')
    const now = Math.floor(Date.now() / 1000)
    const xml = textPush(id, `ask ${q} [hold=${q}]`, now)
    const waiting = 'Still thinking. Send “?” in a moment to get the answer.'
    const first = quiet(xml)
    await eventually(async () => expect(await held(id)).toBe(true))
    // WeChat's first retry is held too; its second may be its last (the third arrival is
    // treated so): it tells the user to fetch the answer.
    const retry = quiet(xml)
    await eventually(async () => expect(await arrivals(id)).toBe(2))
    expect(await quiet(xml)).toBe(waiting)
    // Held, each answered nothing WeChat took; one still waiting gets the last one's answer.
    expect(await first).toBe('success')
    expect(['success', waiting]).toContain(await retry)
    await fakeModel.release(q)
    const fetch = textPush(id, '?', now + 1)
    expect(await quiet(fetch)).toBe(`Answer to “${q}” (a new conversation).`)
    expect(await quiet(fetch)).toBe(`Answer to “${q}” (a new conversation).`)
    expect(await quiet(textPush(id, '?', now + 2))).toBe('Nothing is waiting for you.')
    expect(await fakeModel.calls(q)).toHaveLength(1)
    expect(await sentTo(id)).toEqual([])
  }, 30_000)

  it('serves no plaintext fetch word: a forged ? never gets another push’s answer', async () => {
    const id = openid('quiet-forged-fetch')
    const q = mark('quiet-forged-fetch')
    const now = Math.floor(Date.now() / 1000)
    const first = quiet(textPush(id, `ask ${q} [hold=${q}]`, now))
    await eventually(async () => expect(await held(id)).toBe(true))
    await fakeModel.release(q)
    await eventually(async () => expect(await fakeModel.calls(q)).toHaveLength(1))
    // The answer is ready and waits; anyone holding a signed URL posts "?" as the user.
    const forged = await plaintextAttempt(textPush(id, '?', now + 1), {}, accounts.quiet)
    expect(forged).not.toContain(q)
    expect(await first).toBe('success')
    // The user's own (sealed) ? still gets it.
    expect(await quiet(textPush(id, '?', now + 2))).toBe(`Answer to “${q}” (a new conversation).`)
  }, 30_000)

  it('gives a long answer part by part, each ? the next, joined equal to the answer', async () => {
    const id = openid('quiet-long')
    const q = mark('quiet-long')
    const now = Math.floor(Date.now() / 1000)
    const question = `${q} [length=5000]`
    const replies = [await quiet(textPush(id, `ask ${question}`, now))]
    for (let i = 1; replies.at(-1)?.endsWith(MORE) && i < 6; i++) {
      replies.push(await quiet(textPush(id, '?', now + i)))
    }
    expect(replies.length).toBeGreaterThanOrEqual(3)
    const encoder = new TextEncoder()
    for (const text of replies) expect(encoder.encode(text).length).toBeLessThanOrEqual(2048)
    const parts = replies.map((text) =>
      text.endsWith(MORE) ? text.slice(0, -MORE.length - 1) : text,
    )
    expect(parts.join('')).toBe(fakeAnswer(question, [], 5000))
    expect(await quiet(textPush(id, '?', now + 9))).toBe('Nothing is waiting for you.')
  }, 30_000)
})
