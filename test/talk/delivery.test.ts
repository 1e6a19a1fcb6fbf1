/**
 * Talking back as WeChat really behaves, against the strict fake WeChat API: a send accepted but
 * answered late, long text, "typing…" by WeChat's rules, and replays after the outbox's first day.
 * Jobs run as the later queue's consumer runs them (`runLaterJob`), a redelivery with the same
 * Queue message id.
 */

import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { botsOf } from '../../src/bot/bots.ts'
import { later, Router } from '../../src/bot/router.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { giveUp, runLaterJob } from '../../src/queues/later.ts'
import { RETENTION_MS } from '../../src/receive/retention.ts'
import type { UserState } from '../../src/user/state.ts'
import { message } from '../../src/wechat/api.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { captureLogs } from '../helpers/logs.ts'
import { parsedPush, queuedJob } from '../helpers/pushes.ts'
import { openid } from '../helpers/wechat.ts'

/** A bot whose one deferred route sends what `messages` gives for the push's text. */
function botSending(messages: (content: string) => ReturnType<typeof message.text>[]) {
  return new Router<Env>().text(
    /.*/,
    later(
      async (push, { send }) => {
        for (const each of messages(push.content)) await send(each)
      },
      { name: 'sends' },
    ),
  )
}

/** The user writes `content`: WeChat learns of it (its windows), and the job is queued for it. */
async function userWrites(id: string, content: string, createTime?: number) {
  const xml = forgePushXml('text', {
    openid: id,
    content,
    ...(createTime !== undefined && { createTime }),
  })
  await fakeWechat.interact(xml)
  return queuedJob(parsedPush(xml), 'sends')
}

const five = botSending(() => [0, 1, 2, 3, 4].map((i) => message.text(`m${i}`)))
const contents = async (id: string) =>
  (await fakeWechat.sent(id)).map((sent) => sent.body.text?.content)

describe('a send WeChat took but answered late', () => {
  it('keeps its place in the window: one more try at most, and never past the window', async () => {
    const id = openid('late-answer')
    const queued = await userWrites(id, 'five please')
    await fakeWechat.late(id, 6_000)
    expect(await runLaterJob(queued, env, botsOf(five), 'queue-message-1')).toMatchObject({
      retry: 'WeChat: busy',
    })
    // The redelivery tries m0 once more, in a place of its own: WeChat may have counted both.
    const outcome = await runLaterJob(queued, env, botsOf(five), 'queue-message-1')
    expect(outcome).toEqual({ deadLetter: 'WeChat: window_closed' })
    // Five places, five sends: WeChat never had to refuse one for its window (45047).
    expect(await contents(id)).toEqual(['m0', 'm0', 'm1', 'm2', 'm3'])
  }, 30_000)

  it('is not tried a third time: two unanswered tries end in a dead letter', async () => {
    const id = openid('unanswered')
    const queued = await userWrites(id, 'five please')
    await fakeWechat.late(id, 6_000, 2)
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await runLaterJob(queued, env, botsOf(five), 'queue-message-2')).toMatchObject({
        retry: 'WeChat: busy',
      })
    }
    expect(await runLaterJob(queued, env, botsOf(five), 'queue-message-2')).toEqual({
      deadLetter: 'WeChat: unconfirmed',
    })
    expect(await contents(id)).toEqual(['m0', 'm0'])
  }, 40_000)

  it('gives the place back when WeChat answered a refusal (-1): all five go on the retry', async () => {
    const id = openid('answered-busy')
    const queued = await userWrites(id, 'five please')
    await fakeWechat.fail('send', id, -1)
    expect(await runLaterJob(queued, env, botsOf(five), 'queue-message-3')).toEqual({
      retry: 'WeChat: busy (errcode -1)',
    })
    expect(await runLaterJob(queued, env, botsOf(five), 'queue-message-3')).toBe('done')
    expect(await contents(id)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
  })
})

describe('long text', () => {
  const paragraph = `${'这是一个很长的回答。'.repeat(40)}\n`
  const answer = paragraph.repeat(4) // 4 × 1,201 bytes: over WeChat's limit of about 2,048
  const long = botSending(() => [message.text(answer)])

  it('goes out in parts, each within the limit, cut at line ends, joined the original', async () => {
    const id = openid('long-text')
    expect(await runLaterJob(await userWrites(id, 'tell me'), env, botsOf(long), 'long-1')).toBe(
      'done',
    )
    const parts = await contents(id)
    expect(parts.length).toBeGreaterThan(1)
    for (const part of parts) {
      expect(new TextEncoder().encode(part).length).toBeLessThanOrEqual(2048)
      expect(part?.endsWith('\n')).toBe(true)
    }
    expect(parts.join('')).toBe(answer)
  })

  it('sends no part unless all fit in the window', async () => {
    const id = openid('long-no-room')
    // Two messages in the same window: the later one's job runs second.
    const queued = await userWrites(id, 'tell me', Math.floor(Date.now() / 1000) - 1)
    const threeShort = botSending(() => [1, 2, 3].map((i) => message.text(`short ${i}`)))
    const first = await userWrites(id, 'warm up')
    expect(await runLaterJob(first, env, botsOf(threeShort), 'long-2a')).toBe('done')
    // Two places left of five; the answer needs three.
    expect(await runLaterJob(queued, env, botsOf(long), 'long-2b')).toEqual({
      deadLetter: 'WeChat: window_closed',
    })
    expect(await contents(id)).toEqual(['short 1', 'short 2', 'short 3'])
  })
})

describe('"typing…" by WeChat’s rules', () => {
  const quick = botSending(() => [message.text('done')])

  it('is not asked for when the user’s interaction is over 30 s old (45080)', async () => {
    const id = openid('typing-old')
    const lines = captureLogs('log')
    const queued = await userWrites(id, 'hello', Math.floor(Date.now() / 1000) - 40)
    expect(await runLaterJob(queued, env, botsOf(quick), 'typing-1')).toBe('done')
    expect(await fakeWechat.typing(id)).toEqual([])
    expect(lines.text()).not.toContain('typing_unavailable')
    expect(await contents(id)).toEqual(['done'])
  })

  it('is shown once, and not retried when WeChat says it already shows (45081)', async () => {
    const id = openid('typing-shown')
    const queued = await userWrites(id, 'hello')
    await fakeWechat.fail('typing', id, 45081)
    const lines = captureLogs('log')
    expect(await runLaterJob(queued, env, botsOf(quick), 'typing-2')).toBe('done')
    expect(await fakeWechat.typing(id)).toEqual([])
    expect(lines.text().match(/typing_unavailable/g)).toHaveLength(1)
    const second = await userWrites(id, 'again', Math.floor(Date.now() / 1000) + 1)
    expect(await runLaterJob(second, env, botsOf(quick), 'typing-3')).toBe('done')
    expect((await fakeWechat.typing(id)).map((call) => call.body.command)).toEqual(['Typing'])
  })
})

describe('a dead letter replayed after the outbox’s first day', () => {
  it('never resends what WeChat accepted', async () => {
    const id = openid('replay-late')
    // WeChat takes the first and refuses the second for good (empty text, 44004).
    const twice = botSending(() => [message.text('first'), message.text('')])
    const queued = await userWrites(id, 'two please')
    const outcome = await runLaterJob(queued, env, botsOf(twice), 'replay-1')
    expect(outcome).toEqual({ deadLetter: 'WeChat: refused (errcode 44004)' })
    await giveUp(env, queued, 1, 'WeChat: refused (errcode 44004)')
    // A day and an hour on, the user's object has pruned what it keeps a day.
    const user = env.USERS.getByName(id)
    await runInDurableObject(user, (_: UserState, state) => {
      const dayAgo = Date.now() - RETENTION_MS - 60 * 60 * 1000
      state.storage.sql.exec('UPDATE outbox SET at = ?', dayAgo)
      state.storage.sql.exec('UPDATE jobs SET at = ?', dayAgo)
      state.storage.sql.exec('UPDATE received SET received_at = ?', dayAgo)
    })
    await runDurableObjectAlarm(user)
    // The operator replays the dead letter: a new Queue message for the same job.
    expect(await runLaterJob(queued, env, botsOf(twice), 'replay-2')).toEqual(outcome)
    expect(await contents(id)).toEqual(['first'])
  })
})
