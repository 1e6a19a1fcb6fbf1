/**
 * The assistant's memory of a conversation: bounded by turns and bytes, cleared by the reset
 * word (in its place among pending questions), and gone with the user on unfollow.
 */

import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { eventually } from '../helpers/eventually.ts'
import { fakeModel } from '../helpers/fake-model.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { parsedPush, queuedJob } from '../helpers/pushes.ts'
import { attempt, mark, openid, plaintextAttempt, sentTo, textPush, userOf } from './helpers.ts'

/** The names of the user's tables that hold rows, and how many memory turns they keep. */
async function stored(id: string) {
  return runInDurableObject(userOf(id), async (_instance, state) => {
    const sql = state.storage.sql
    const tables = sql
      .exec<{ name: string }>(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'schema_version_%'`,
      )
      .toArray()
      .map((row) => row.name)
    const holding = tables.filter(
      (name) => sql.exec<{ n: number }>(`SELECT count(*) AS n FROM "${name}"`).one().n > 0,
    )
    const turns = tables.includes('assistant_memory')
      ? sql.exec<{ n: number }>('SELECT count(*) AS n FROM assistant_memory').one().n
      : 0
    return { holding, turns }
  })
}

/**
 * Every text the user's questions keep beside the memory (their plans, answers and pushes), and
 * the memory's own: what a question and its answer leave behind.
 */
async function texts(id: string) {
  return runInDurableObject(userOf(id), async (_instance, state) => {
    const sql = state.storage.sql
    const asks = sql
      .exec<{ text: string }>(
        `SELECT coalesce(plan, '') || coalesce(answer, '') || coalesce(letter, '') ||
           coalesce(sends, '') || coalesce(rest, '') AS text FROM assistant_asks`,
      )
      .toArray()
      .map((row) => row.text)
      .join('\n')
    const memory = sql
      .exec<{ text: string }>(`SELECT question || answer AS text FROM assistant_memory`)
      .toArray()
      .map((row) => row.text)
      .join('\n')
    return { asks, memory }
  })
}

describe('what a delivered answer leaves', () => {
  it('is the memory’s turn only: no question or answer text with the push’s own row', async () => {
    const id = openid('left-fast')
    const now = Math.floor(Date.now() / 1000)
    const [fast, slow] = [mark('fast'), mark('slow')]
    expect(await attempt(textPush(id, `ask ${fast}`, now))).toBe(
      `Answer to “${fast}” (a new conversation).`,
    )
    const afterFast = await texts(id)
    expect(afterFast.asks).not.toContain(fast)
    expect(afterFast.memory).toContain(fast)
    // A slow one, sent by its job as a customer-service message.
    expect(await attempt(textPush(id, `ask ${slow} [hold=${slow}]`, now + 1))).toBe('success')
    await fakeModel.release(slow)
    await eventually(async () => expect(await sentTo(id)).toHaveLength(1), 20_000)
    await eventually(async () => expect((await texts(id)).asks).not.toContain(slow))
  }, 30_000)

  it('after a reset, is nothing of the earlier pushes’ text', async () => {
    const id = openid('left-reset')
    const now = Math.floor(Date.now() / 1000)
    const before = mark('before')
    await attempt(textPush(id, `ask ${before}`, now))
    expect(await attempt(textPush(id, '/reset', now + 1))).toBe(
      'Done: our conversation is forgotten.',
    )
    const left = await texts(id)
    expect(left.asks).not.toContain(before)
    expect(left.memory).toBe('')
  })
})

describe('the memory', () => {
  it('keeps the last turns the bot allows (3 here), oldest forgotten first', async () => {
    const id = openid('turns')
    const now = Math.floor(Date.now() / 1000)
    const qs = Array.from({ length: 5 }, (_, i) => mark(`turn${i}`))
    const answers: string[] = []
    for (const [i, q] of qs.entries())
      answers.push(await attempt(textPush(id, `ask ${q}`, now + i)))
    expect(answers[4]).toBe(
      `Answer to “${qs[4]}” (I remember 3 earlier messages; the last: “${qs[3]}”).`,
    )
    expect((await stored(id)).turns).toBe(3)
  })

  it('keeps no more bytes than the bot allows (2,000 here), the newest turn always', async () => {
    const id = openid('bytes')
    const now = Math.floor(Date.now() / 1000)
    const [a, b, c] = [mark('a'), mark('b'), mark('c')]
    await attempt(textPush(id, `ask ${a} [length=1500]`, now))
    await attempt(textPush(id, `ask ${b} [length=1500]`, now + 1))
    const third = await attempt(textPush(id, `ask ${c}`, now + 2))
    expect(third).toContain('(I remember 1 earlier message; the last: “')
    expect(third).toContain(b)
    expect(third).not.toContain(a)
  })

  it('is cleared by the reset word, and a retry of the reset answers the same', async () => {
    const id = openid('reset')
    const now = Math.floor(Date.now() / 1000)
    const [before, after] = [mark('before'), mark('after')]
    await attempt(textPush(id, `ask ${before}`, now))
    const reset = textPush(id, '/reset', now + 1)
    expect(await attempt(reset)).toBe('Done: our conversation is forgotten.')
    expect(await attempt(reset)).toBe('Done: our conversation is forgotten.')
    expect(await attempt(textPush(id, `ask ${after}`, now + 2))).toBe(
      `Answer to “${after}” (a new conversation).`,
    )
    expect(await fakeModel.calls('/reset')).toHaveLength(0)
  })

  it('is cleared by a reset whose push reached only its job (the user’s object unreachable then)', async () => {
    const id = openid('reset-deferred')
    const now = Math.floor(Date.now() / 1000)
    const [before, after] = [mark('before'), mark('after')]
    await attempt(textPush(id, `ask ${before}`, now))
    // The request path deferred the reset (context.defer()): its job alone brings it.
    const reset = textPush(id, '/reset', now + 1)
    await fakeWechat.interact(reset)
    const job = await queuedJob(parsedPush(reset), 'ask')
    await env.LATER.send({ ...job, mode: 'encrypted' })
    await eventually(
      async () => expect(await sentTo(id)).toEqual(['Done: our conversation is forgotten.']),
      20_000,
    )
    expect(await fakeModel.calls('/reset')).toHaveLength(0)
    expect((await stored(id)).turns).toBe(0)
    expect(await attempt(textPush(id, `ask ${after}`, now + 2))).toBe(
      `Answer to “${after}” (a new conversation).`,
    )
  }, 30_000)

  it('is cleared by a reset sent while a question is pending only after that question', async () => {
    const id = openid('reset-pending')
    const now = Math.floor(Date.now() / 1000)
    const [pending, after] = [mark('pending'), mark('after')]
    expect(await attempt(textPush(id, `ask ${pending} [hold=${pending}]`, now))).toBe('success')
    expect(await attempt(textPush(id, '/reset', now + 1))).toBe(
      'Done: our conversation is forgotten.',
    )
    await fakeModel.release(pending)
    await eventually(async () => expect(await sentTo(id)).toHaveLength(1), 20_000)
    expect(await attempt(textPush(id, `ask ${after}`, now + 2))).toBe(
      `Answer to “${after}” (a new conversation).`,
    )
  }, 30_000)
})

describe('a plaintext question', () => {
  // Its body is signed by nothing: anyone holding one signed URL can post one for any OpenID.
  it('is answered from itself alone, and leaves the conversation as it was', async () => {
    const id = openid('plain-memory')
    const now = Math.floor(Date.now() / 1000)
    const [secret, forged, after] = [mark('secret'), mark('forged'), mark('after')]
    await attempt(textPush(id, `ask ${secret}`, now))
    const answer = await plaintextAttempt(textPush(id, `ask ${forged}`, now + 1))
    expect(answer).toBe(`Answer to “${forged}” (a new conversation).`)
    expect(answer).not.toContain(secret)
    expect((await stored(id)).turns).toBe(1)
    expect(await attempt(textPush(id, `ask ${after}`, now + 2))).toBe(
      `Answer to “${after}” (I remember 1 earlier message; the last: “${secret}”).`,
    )
  })

  it('of the reset word clears nothing', async () => {
    const id = openid('plain-reset')
    const now = Math.floor(Date.now() / 1000)
    const [before, after] = [mark('before'), mark('after')]
    await attempt(textPush(id, `ask ${before}`, now))
    await plaintextAttempt(textPush(id, '/reset', now + 1))
    expect(await attempt(textPush(id, `ask ${after}`, now + 2))).toBe(
      `Answer to “${after}” (I remember 1 earlier message; the last: “${before}”).`,
    )
  })
})

describe('an unfollow', () => {
  it('deletes the conversation with the user: a later follow starts a new one', async () => {
    const id = openid('purged')
    const now = Math.floor(Date.now() / 1000)
    const [q1, q2] = [mark('q1'), mark('q2')]
    await attempt(textPush(id, `ask ${q1}`, now - 2))
    expect((await stored(id)).turns).toBe(1)
    await attempt(forgePushXml('unsubscribe', { openid: id, createTime: now - 1 }))
    expect((await stored(id)).holding).toEqual(['tombstone'])
    await attempt(forgePushXml('subscribe', { openid: id, createTime: now }))
    expect(await attempt(textPush(id, `ask ${q2}`, now + 1))).toBe(
      `Answer to “${q2}” (a new conversation).`,
    )
  })

  it('while the model answers: the answer is sent to nobody and kept nowhere', async () => {
    const id = openid('purged-pending')
    const now = Math.floor(Date.now() / 1000)
    const q = mark('gone')
    expect(await attempt(textPush(id, `ask ${q} [hold=${q}]`, now - 1))).toBe('success')
    await eventually(async () => expect(await fakeModel.calls(q)).toHaveLength(1))
    await attempt(forgePushXml('unsubscribe', { openid: id, createTime: now }))
    await fakeModel.release(q)
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(await sentTo(id)).toEqual([])
    expect((await stored(id)).holding).toEqual(['tombstone'])
  }, 30_000)
})
