/**
 * When the model fails: bounded attempts with backoff, one short notice, one dead letter, and
 * nothing more on a replay; a window closed ends in a dead letter; rate limits; a call lost
 * with the user's object is made again by its alarm.
 */

import { abortAllDurableObjects, runDurableObjectAlarm } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { listDeadLetters } from '../../src/queues/dead-letters.ts'
import type { QueuedMessage } from '../../src/queues/queued.ts'
import { accounts } from '../helpers/accounts.ts'
import { eventually } from '../helpers/eventually.ts'
import { fakeModel } from '../helpers/fake-model.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { captureLogs } from '../helpers/logs.ts'
import { attempt, floodThenPrune, mark, openid, sentTo, textPush, userOf } from './helpers.ts'

const FAILED = 'Sorry, I could not answer that just now. Please try again later.'
const LIMITED = 'You have asked a lot in a short while. Please try again later.'
/** The whole reply budget: time for a failure, its backoff and a second failure. */
const FULL = { REPLY_BUDGET_MS: '4500' }

async function letterOf(id: string, account = 'env') {
  return eventually(async () => {
    const found = (await listDeadLetters(env.DEAD_LETTERS, account)).find((l) => l.openid === id)
    expect(found).toBeDefined()
    return found!
  }, 20_000)
}

describe('a model that fails', () => {
  it('is tried twice, 2 s apart; the user gets one notice and a dead letter says why', async () => {
    const id = openid('fails')
    const q = mark('fails')
    expect(await attempt(textPush(id, `ask ${q} [fail=500]`), FULL)).toBe(FAILED)
    const calls = await fakeModel.calls(q)
    expect(calls).toHaveLength(2)
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(1_900)
    expect(await letterOf(id)).toMatchObject({
      queue: 'later',
      reason: 'model: server_error (HTTP 500)',
      attempts: 2,
    })
    expect(await sentTo(id)).toEqual([])
  }, 30_000)

  it('that recovers on its second attempt answers as if nothing happened', async () => {
    const id = openid('recovers')
    const q = mark('recovers')
    expect(await attempt(textPush(id, `ask ${q} [fail=500*1]`), FULL)).toBe(
      `Answer to “${q}” (a new conversation).`,
    )
    expect(await fakeModel.calls(q)).toHaveLength(2)
  })

  it('that times out is given up at AI_TIMEOUT_MS, with a notice and a dead letter', async () => {
    const id = openid('timeout')
    const q = mark('timeout')
    const overrides = { ...FULL, AI_TIMEOUT_MS: '300', AI_MAX_ATTEMPTS: '1' }
    expect(await attempt(textPush(id, `ask ${q} [fail=timeout]`), overrides)).toBe(FAILED)
    expect(await letterOf(id)).toMatchObject({ reason: 'model: timeout', attempts: 1 })
    expect(await fakeModel.calls(q)).toHaveLength(1)
  })

  it('after the answer was deferred sends the notice as a message, once, and a replay adds nothing', async () => {
    const id = openid('fails-later')
    const q = mark('fails-later')
    expect(await attempt(textPush(id, `ask ${q} [hold=${q}] [fail=500]`))).toBe('success')
    await fakeModel.release(q)
    await eventually(async () => expect(await sentTo(id)).toEqual([FAILED]), 20_000)
    const letter = await letterOf(id)
    expect(letter.reason).toBe('model: server_error (HTTP 500)')
    // The operator replays the letter: its job finds the failure delivered, and calls nothing.
    const kept = await env.DEAD_LETTERS.get<{ queued: QueuedMessage }>(
      `dead:${id}:${letter.key}`,
      'json',
    )
    if (kept?.queued.type !== 'job') throw new Error('the letter is not a job')
    await env.LATER.send(kept.queued)
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(await sentTo(id)).toEqual([FAILED])
    expect(await fakeModel.calls(q)).toHaveLength(2)
  }, 30_000)
})

describe('a model that misbehaves', () => {
  it('with a response over 256 KiB fails at once: one notice, a dead letter too_large', async () => {
    const id = openid('huge')
    const q = mark('huge')
    expect(await attempt(textPush(id, `ask ${q} [fail=huge]`))).toBe(FAILED)
    expect(await letterOf(id)).toMatchObject({ reason: 'model: too_large', attempts: 1 })
    expect(await fakeModel.calls(q)).toHaveLength(1)
  })

  it('whose reasoning max tokens cut never sends the reasoning: a notice, reasoning_unfinished', async () => {
    const id = openid('think-cut')
    const q = mark('think-cut')
    expect(await attempt(textPush(id, `ask ${q} [think=cut]`))).toBe(FAILED)
    expect(await letterOf(id)).toMatchObject({ reason: 'model: reasoning_unfinished' })
    expect(await sentTo(id)).toEqual([])
  })

  it('that reasons first answers without the reasoning', async () => {
    const id = openid('think-done')
    const q = mark('think-done')
    expect(await attempt(textPush(id, `ask ${q} [think=done]`))).toBe(
      `Answer to “${q}” (a new conversation).`,
    )
  })
})

describe('a closed window', () => {
  it('ends the answer’s job in a dead letter window_closed, sending nothing', async () => {
    const id = openid('closed')
    const q = mark('closed')
    await fakeWechat.fail('send', id, 45015)
    expect(await attempt(textPush(id, `ask ${q} [hold=${q}]`))).toBe('success')
    await fakeModel.release(q)
    expect(await letterOf(id)).toMatchObject({
      queue: 'later',
      reason: 'WeChat: window_closed (errcode 45015)',
    })
    expect(await sentTo(id)).toEqual([])
  }, 30_000)
})

describe('WeChat’s refusals around a deferred answer', () => {
  // 45080: typing needs a message interaction in the last 30 s (WeChat's typing page); 43108:
  // "Cannot make concurrent calls to the same OpenID, please try again" (in no table of
  // WeChat's: its errmsg, and WeChat's answer in its developer community).
  it.each([45080, 43108])(
    '“typing…” refused (%i) neither fails nor retries the answer',
    async (code) => {
      const id = openid(`typing-${code}`)
      const q = mark(`typing-${code}`)
      await fakeWechat.fail('typing', id, code)
      const lines = captureLogs('log', 'warn')
      expect(await attempt(textPush(id, `ask ${q} [hold=${q}]`))).toBe('success')
      await fakeModel.release(q)
      await eventually(async () => expect(await sentTo(id)).toHaveLength(1), 20_000)
      expect(await sentTo(id)).toEqual([`Answer to “${q}” (a new conversation).`])
      expect(await fakeModel.calls(q)).toHaveLength(1)
      const letters = await listDeadLetters(env.DEAD_LETTERS, 'env')
      expect(letters.filter((letter) => letter.openid === id)).toEqual([])
      expect(lines.text()).toContain('typing_unavailable')
      expect(lines.text()).not.toContain('later_retry')
    },
  )

  it('a send refused with 43108 (a concurrent call to the user) is tried again, not dead-lettered', async () => {
    const id = openid('send-43108')
    const q = mark('send-43108')
    await fakeWechat.fail('send', id, 43108)
    const lines = captureLogs('warn')
    expect(await attempt(textPush(id, `ask ${q} [hold=${q}]`))).toBe('success')
    await fakeModel.release(q)
    await eventually(async () => expect(await sentTo(id)).toHaveLength(1), 20_000)
    expect(await sentTo(id)).toEqual([`Answer to “${q}” (a new conversation).`])
    expect(await fakeModel.calls(q)).toHaveLength(1)
    const letters = await listDeadLetters(env.DEAD_LETTERS, 'env')
    expect(letters.filter((letter) => letter.openid === id)).toEqual([])
    expect(lines.text()).toContain('WeChat: concurrent_call (errcode 43108)')
  }, 30_000)
})

describe('rate limits', () => {
  it('bound a user’s questions an hour: past them, a notice and no call', async () => {
    const id = openid('busy-user')
    const now = Math.floor(Date.now() / 1000)
    const qs = [mark('one'), mark('two'), mark('three')]
    const answers: string[] = []
    for (const [i, q] of qs.entries()) {
      answers.push(await attempt(textPush(id, `ask ${q}`, now + i), { AI_USER_PER_HOUR: '2' }))
    }
    expect(answers[2]).toBe(LIMITED)
    expect(await fakeModel.calls(qs[2]!)).toHaveLength(0)
  })

  it('bound a user’s questions an hour whatever a flood of limited pushes left to trim', async () => {
    const id = openid('busy-flood')
    const now = Math.floor(Date.now() / 1000)
    const qs = [mark('one'), mark('two'), mark('three')]
    const busy = { AI_USER_PER_HOUR: '2' }
    await attempt(textPush(id, `ask ${qs[0]}`, now), busy)
    await attempt(textPush(id, `ask ${qs[1]}`, now + 1), busy)
    await floodThenPrune(id, 600)
    expect(await attempt(textPush(id, `ask ${qs[2]}`, now + 2), busy)).toBe(LIMITED)
    expect(await fakeModel.calls(qs[2]!)).toHaveLength(0)
  })

  it('bound a user’s questions waiting for an answer at once: past them, a notice and no call', async () => {
    const id = openid('backlog')
    const now = Math.floor(Date.now() / 1000)
    const qs = [mark('one'), mark('two'), mark('three')]
    const bounded = { AI_USER_PENDING: '2' }
    expect(await attempt(textPush(id, `ask ${qs[0]} [hold=${qs[0]}]`, now), bounded)).toBe(
      'success',
    )
    expect(await attempt(textPush(id, `ask ${qs[1]} [hold=${qs[1]}]`, now + 1), bounded)).toBe(
      'success',
    )
    expect(await attempt(textPush(id, `ask ${qs[2]}`, now + 2), bounded)).toBe(LIMITED)
    await fakeModel.release(qs[0]!)
    await fakeModel.release(qs[1]!)
    await eventually(async () => expect(await sentTo(id)).toHaveLength(2), 25_000)
    expect(await fakeModel.calls(qs[2]!)).toHaveLength(0)
  }, 30_000)

  it('bound the account’s questions an hour, whoever asks', async () => {
    const taken = await env.ASSISTANT_QUOTAS.getByName('shop/assistant').taken()
    const limit = { AI_ACCOUNT_PER_HOUR: String(taken + 1) }
    const [first, second] = [mark('first'), mark('second')]
    const one = await attempt(textPush(openid('shop1'), `ask ${first}`), limit, accounts.shop)
    const two = await attempt(textPush(openid('shop2'), `ask ${second}`), limit, accounts.shop)
    expect(one).toBe(`Answer to “${first}” (a new conversation).`)
    expect(two).toBe(LIMITED)
    expect(await fakeModel.calls(second)).toHaveLength(0)
  })
})

describe('a call lost with the user’s object', () => {
  it('is made again by the object’s alarm, and the answer still goes out once', async () => {
    const id = openid('evicted')
    const q = mark('evicted')
    expect(await attempt(textPush(id, `ask ${q} [hold=${q}]`))).toBe('success')
    await eventually(async () => expect(await fakeModel.calls(q)).toHaveLength(1))
    // The object goes, its call in flight with it (as on an eviction or a deploy).
    await abortAllDurableObjects()
    await fakeModel.release(q)
    // The alarm finds the call lost: it counts as an attempt, and the next one is made.
    expect(await runDurableObjectAlarm(userOf(id))).toBe(true)
    await eventually(async () => expect(await sentTo(id)).toHaveLength(1), 25_000)
    expect(await sentTo(id)).toEqual([`Answer to “${q}” (a new conversation).`])
    expect(await fakeModel.calls(q)).toHaveLength(2)
  }, 30_000)
})
