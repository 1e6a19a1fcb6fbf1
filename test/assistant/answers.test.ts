/**
 * The AI assistant on an account with customer-service messages, against the fake model and
 * the strict fake WeChat: a fast answer goes out passively, a slow one as a customer-service
 * message after `success`, a long one in parts; one model call per push whatever is retried.
 */

import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { type AssistantOptions, assistant, Router } from '../../src/bot/index.ts'
import { fakeAnswer } from '../../src/debug/fake-model.ts'
import { fakeUserNameOf } from '../../src/debug/fake-platform.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { listDeadLetters } from '../../src/queues/dead-letters.ts'
import { parseXmlRoot } from '../../src/wechat/xml.ts'
import { eventually } from '../helpers/eventually.ts'
import { fakeModel } from '../helpers/fake-model.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { captureLogs } from '../helpers/logs.ts'
import { authorizedAccount, sendAs } from '../helpers/platform.ts'
import { parsedPush, queuedJob } from '../helpers/pushes.ts'
import { signedRequest } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'
import {
  attempt,
  floodThenPrune,
  mark,
  openid,
  QUICK,
  sentTo,
  textPush,
  userOf,
} from './helpers.ts'

describe('an answer', () => {
  it('that is ready within the reply budget goes out as the passive reply, after one call', async () => {
    const id = openid('fast')
    const q = mark('fast')
    expect(await attempt(textPush(id, `ask ${q}`))).toBe(`Answer to “${q}” (a new conversation).`)
    expect(await fakeModel.calls(q)).toHaveLength(1)
    expect(await sentTo(id)).toEqual([])
  })

  it('that is slow is answered success, then comes as a customer-service message, typing first', async () => {
    const id = openid('slow')
    const q = mark('slow')
    expect(await attempt(textPush(id, `ask ${q} [hold=${q}]`))).toBe('success')
    await fakeModel.release(q)
    const sent = await eventually(async () => {
      const texts = await sentTo(id)
      expect(texts).toHaveLength(1)
      return texts
    }, 20_000)
    expect(sent).toEqual([`Answer to “${q}” (a new conversation).`])
    const [typing] = await fakeWechat.typing(id)
    const [message] = await fakeWechat.sent(id)
    expect(typing?.body).toMatchObject({ command: 'Typing' })
    expect(typing!.at).toBeLessThanOrEqual(message!.at)
    expect(await fakeModel.calls(q)).toHaveLength(1)
  }, 30_000)

  it('that is long comes in parts within the text limit, joined equal to the answer', async () => {
    const id = openid('long')
    const q = mark('long')
    const question = `${q} [length=5000]`
    // Ready at once, but past one passive reply: success, and the parts as messages.
    expect(await attempt(textPush(id, `ask ${question}`))).toBe('success')
    const parts = await eventually(async () => {
      const texts = await sentTo(id)
      expect(texts.length).toBeGreaterThanOrEqual(3)
      return texts
    }, 20_000)
    const encoder = new TextEncoder()
    for (const part of parts) expect(encoder.encode(part).length).toBeLessThanOrEqual(2048)
    expect(parts.join('')).toBe(fakeAnswer(question, [], 5000))
    expect(await fakeModel.calls(q)).toHaveLength(1)
  }, 30_000)
})

/** How many answers' rests the user's object keeps for their next push. */
function restsOf(id: string): Promise<number> {
  return runInDurableObject(userOf(id), async (_instance, state) => {
    const sql = state.storage.sql
    const made = sql.exec(`SELECT name FROM sqlite_master WHERE name = 'assistant_asks'`).toArray()
    if (made.length === 0) return 0
    return sql
      .exec<{ n: number }>('SELECT count(*) AS n FROM assistant_asks WHERE rest IS NOT NULL')
      .one().n
  })
}

describe('an answer longer than the window allows', () => {
  const REST = '(The rest comes when you write again.)'

  it('sends what fits, ending with a notice, and the rest first on the next push', async () => {
    const id = openid('window-long')
    const [q1, q2] = [mark('window-long'), mark('after')]
    const question = `${q1} [length=15000]`
    const now = Math.floor(Date.now() / 1000)
    expect(await attempt(textPush(id, `ask ${question}`, now))).toBe('success')
    // The push's window carries 5 messages: 4 parts, then a part ending with the notice.
    const first = await eventually(async () => {
      const texts = await sentTo(id)
      expect(texts).toHaveLength(5)
      return texts
    }, 20_000)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(await sentTo(id)).toHaveLength(5)
    expect(first[4]!.endsWith(`\n${REST}`)).toBe(true)
    // The next question: the rest goes first (in its new window), then its own answer.
    expect(await attempt(textPush(id, `ask ${q2}`, now + 1))).toBe('success')
    const all = await eventually(async () => {
      const texts = await sentTo(id)
      expect(texts.at(-1)).toContain(`Answer to “${q2}”`)
      return texts
    }, 20_000)
    const answer = fakeAnswer(question, [], 15000)
    const received = all.slice(0, -1).join('').replace(`\n${REST}`, '')
    expect(received).toBe(answer)
    const encoder = new TextEncoder()
    for (const part of all) expect(encoder.encode(part).length).toBeLessThanOrEqual(2048)
    expect(await fakeModel.calls(q1)).toHaveLength(1)
    expect((await listDeadLetters(env.DEAD_LETTERS, 'env')).some((l) => l.openid === id)).toBe(
      false,
    )
  }, 45_000)

  it('keeps its rest once whatever the Queue redelivers, and deletes it with the user', async () => {
    const id = openid('window-redelivered')
    const q = mark('window-redelivered')
    const xml = textPush(id, `ask ${q} [length=15000]`)
    expect(await attempt(xml)).toBe('success')
    await eventually(async () => expect(await sentTo(id)).toHaveLength(5), 20_000)
    // The job again, as a Queue may deliver it: nothing is sent twice, the rest is kept.
    await env.LATER.send(await queuedJob(parsedPush(xml), 'ask'))
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(await sentTo(id)).toHaveLength(5)
    expect(await restsOf(id)).toBe(1)
    // The user unfollows: the rest goes with everything else.
    await attempt(forgePushXml('unsubscribe', { openid: id }))
    expect(await restsOf(id)).toBe(0)
  }, 30_000)
})

describe('an answer to a user of a platform authorizer', () => {
  /** A text to the authorizer, as WeChat forwards it to the platform. */
  const toAuthorizer = (user: string, content: string, appId: string) =>
    forgePushXml('text', { openid: user, content, account: fakeUserNameOf(appId) })
  const contentOf = (xml: string) => String((parseXmlRoot(xml) as Record<string, unknown>).Content)

  it('goes out passively when quick, as for a configured account', async () => {
    const appId = await authorizedAccount()
    const id = openid('pf-fast')
    const q = mark('pf-fast')
    const answered = await sendAs(appId, toAuthorizer(id, `ask ${q}`, appId))
    expect(contentOf(answered.reply)).toBe(`Answer to “${q}” (a new conversation).`)
    expect(await fakeModel.calls(q)).toHaveLength(1)
  })

  it('comes as a customer-service message when slow', async () => {
    const appId = await authorizedAccount()
    const id = openid('pf-slow')
    const q = mark('pf-slow')
    const xml = toAuthorizer(id, `ask ${q} [hold=${q}]`, appId)
    await fakeWechat.interact(xml)
    expect((await sendAs(appId, xml)).reply).toBe('success')
    await fakeModel.release(q)
    await eventually(
      async () => expect(await sentTo(id)).toEqual([`Answer to “${q}” (a new conversation).`]),
      20_000,
    )
  }, 30_000)
})

describe('one push, one call and one answer', () => {
  it('whatever WeChat retries, concurrently, and the Queue redelivers', async () => {
    const id = openid('retried')
    const q = mark('retried')
    const xml = textPush(id, `ask ${q} [hold=${q}]`)
    // WeChat's four attempts, two of them at once.
    const answers = await Promise.all([attempt(xml), attempt(xml)])
    answers.push(await attempt(xml), await attempt(xml))
    expect(answers).toEqual(['success', 'success', 'success', 'success'])
    await fakeModel.release(q)
    await eventually(async () => expect(await sentTo(id)).toHaveLength(1), 20_000)
    // The job delivered again, as a Queue may: it finds the answer sent.
    await env.LATER.send(await queuedJob(parsedPush(xml), 'ask'))
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(await sentTo(id)).toEqual([`Answer to “${q}” (a new conversation).`])
    expect(await fakeModel.calls(q)).toHaveLength(1)
  }, 30_000)

  it('whatever a flood after it left to trim: its job, redelivered, calls nothing again', async () => {
    const id = openid('trimmed')
    const q = mark('trimmed')
    const xml = textPush(id, `ask ${q}`)
    expect(await attempt(xml)).toBe(`Answer to “${q}” (a new conversation).`)
    await floodThenPrune(id, 600)
    // The push's job, as a Queue redelivery or a dead letter's replay brings it.
    await env.LATER.send({ ...(await queuedJob(parsedPush(xml), 'ask')), mode: 'encrypted' })
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(await fakeModel.calls(q)).toHaveLength(1)
    expect(await sentTo(id)).toEqual([])
  }, 30_000)

  it('answers a retry that finds the answer ready with the first attempt’s reply', async () => {
    const id = openid('ready-retry')
    const q = mark('ready-retry')
    const xml = textPush(id, `ask ${q}`)
    const first = await attempt(xml)
    expect(await attempt(xml)).toBe(first)
    expect(await fakeModel.calls(q)).toHaveLength(1)
  })

  it('never hands one user’s answer or memory to another, even for the same words in the same second', async () => {
    const [alice, bob] = [openid('alice'), openid('bob')]
    const q = mark('same')
    const now = Math.floor(Date.now() / 1000)
    await attempt(textPush(alice, `ask my name is Alice ${q}`, now - 5))
    const [forAlice, forBob] = await Promise.all([
      attempt(textPush(alice, `ask what is my name ${q}`, now)),
      attempt(textPush(bob, `ask what is my name ${q}`, now)),
    ])
    expect(forAlice).toContain('I remember 1 earlier message; the last: “my name is Alice')
    expect(forBob).toBe(`Answer to “what is my name ${q}” (a new conversation).`)
  })
})

describe('two questions while the first is pending', () => {
  it('are answered in order, the second knowing the first', async () => {
    const id = openid('order')
    const [q1, q2] = [mark('first'), mark('second')]
    const now = Math.floor(Date.now() / 1000)
    expect(await attempt(textPush(id, `ask ${q1} [hold=${q1}]`, now))).toBe('success')
    expect(await attempt(textPush(id, `ask ${q2}`, now + 1))).toBe('success')
    // The second waits for the first: nothing is asked of the model for it yet.
    expect(await fakeModel.calls(q2)).toHaveLength(0)
    await fakeModel.release(q1)
    const sent = await eventually(async () => {
      const texts = await sentTo(id)
      expect(texts).toHaveLength(2)
      return texts
    }, 25_000)
    expect(sent[0]).toBe(`Answer to “${q1}” (a new conversation).`)
    expect(sent[1]).toBe(`Answer to “${q2}” (I remember 1 earlier message; the last: “${q1}”).`)
  }, 30_000)
})

describe('the log', () => {
  it('says how an answer went, never the question, the answer, the prompt or the OpenID', async () => {
    const lines = captureLogs('log', 'warn', 'error')
    const id = openid('logged')
    const q = mark('secret-question')
    const answer = await attempt(textPush(id, `ask ${q} [fail=500*1]`), { REPLY_BUDGET_MS: '4500' })
    expect(answer).toBe(`Answer to “${q}” (a new conversation).`)
    const events = lines.records.map((record) => record.event)
    expect(events).toEqual(
      expect.arrayContaining(['assistant_retry', 'assistant_answered', 'push']),
    )
    expect(lines.records.find((record) => record.event === 'assistant_answered')).toMatchObject({
      provider: 'openai',
      attempts: 2,
      promptTokens: expect.any(Number),
      completionTokens: expect.any(Number),
    })
    const text = lines.text()
    expect(text).not.toContain(q)
    expect(text).not.toContain(id)
    expect(text).not.toContain('test bot’s assistant')
  })
})

describe('a handler past the reply budget', () => {
  it('loses no answer: the push is answered success, and its job sends the answer', async () => {
    // A middleware that keeps the bot past the budget after the assistant answered.
    const slowBot = new Router<Env>()
      .use(async (_push, _context, next) => {
        const answer = await next()
        await new Promise((resolve) => setTimeout(resolve, 1_500))
        return answer
      })
      .text(
        /^ask /,
        assistant({ system: 'x', question: (push) => push.content.slice(4), name: 'ask' }),
      )
    const id = openid('over-budget')
    const q = mark('over-budget')
    const xml = textPush(id, `ask ${q}`)
    await fakeWechat.interact(xml)
    const response = await fetchWith(await signedRequest(xml), QUICK, slowBot)
    expect(await response.text()).toBe('success')
    await eventually(
      async () => expect(await sentTo(id)).toEqual([`Answer to “${q}” (a new conversation).`]),
      20_000,
    )
    expect(await fakeModel.calls(q)).toHaveLength(1)
  }, 30_000)

  /** Sends the push to `bot`: its answer reaches the user once, passively or as a message. */
  async function answeredOnce(bot: Router<Env>, label: string): Promise<void> {
    const id = openid(label)
    const q = mark(label)
    const xml = textPush(id, `ask ${q}`)
    await fakeWechat.interact(xml)
    const response = await fetchWith(await signedRequest(xml), QUICK, bot)
    const body = await response.text()
    const passive =
      body === 'success' ? [] : [String((parseXmlRoot(body) as Record<string, unknown>).Content)]
    await eventually(
      async () =>
        expect([...passive, ...(await sentTo(id))]).toEqual([
          `Answer to “${q}” (a new conversation).`,
        ]),
      20_000,
    )
    await pause(2_000)
    expect([...passive, ...(await sentTo(id))]).toHaveLength(1)
    expect(await fakeModel.calls(q)).toHaveLength(1)
  }

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  const ask = (options: Partial<AssistantOptions> = {}) =>
    assistant({ system: 'x', question: (push) => push.content.slice(4), name: 'ask', ...options })

  it('before it asked, kept there by middleware: the question is still asked and answered', async () => {
    const slowBot = new Router<Env>()
      .use(async (_push, _context, next) => {
        await pause(1_500)
        return next()
      })
      .text(/^ask /, ask())
    await answeredOnce(slowBot, 'late-middleware')
  }, 30_000)

  it('kept there by a slow context: the question is asked without it, in time', async () => {
    const lines = captureLogs('log', 'warn', 'error')
    const slowContext = new Router<Env>().text(
      /^ask /,
      ask({
        context: async () => {
          await pause(5_000)
          return { never: 'given' }
        },
      }),
    )
    await answeredOnce(slowContext, 'slow-context')
    expect(lines.records.map((record) => record.event)).toContain('assistant_context_failed')
  }, 30_000)
})
