/**
 * Pushes that belong to no user (job results, unknown events) are received once by the ledger:
 * a retry gets the first reply, a deferred route runs once however often WeChat delivers the
 * push, and no user state is ever made for WeChat's senders.
 */

import { env } from 'cloudflare:workers'
import { describe, expect, it, vi } from 'vitest'
import { botsOf } from '../../src/bot/bots.ts'
import { later, Router } from '../../src/bot/router.ts'
import { forgePushXml, openReply } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { runLaterJob } from '../../src/queues/later.ts'
import type { QueuedJob } from '../../src/queues/queued.ts'
import type { PushKind } from '../../src/wechat/push.ts'
import { reply } from '../../src/wechat/reply.ts'
import { account, signedRequest } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

/** A bot answering each delivery anew (a random reply) and deferring work on it. */
function countingBot(kind: PushKind) {
  const runs: string[] = []
  const bot = new Router<Env>()
    .on(kind, () => reply.text(`first answer ${crypto.randomUUID()}`))
    .fallback(
      later(
        async (push) => {
          runs.push(push.kind)
        },
        { name: 'count' },
      ),
    )
  return { bot, runs }
}

describe('pushes of nobody, in the ledger', () => {
  it.each([
    ['a template job result', 'template_send_job_finish'],
    ['an unknown event', 'unknown'],
  ] as const)('%s delivered three times, two at once: one reply for all', async (_, kind) => {
    const { bot } = countingBot(kind)
    const xml = forgePushXml(kind, {
      msgId: String(Date.now()),
      event: `event_${crypto.randomUUID().slice(0, 8)}`,
    })
    const answers = await Promise.all([
      fetchWith(await signedRequest(xml), {}, bot),
      fetchWith(await signedRequest(xml), {}, bot),
    ])
    const third = await fetchWith(await signedRequest(xml), {}, bot)
    const replies = await Promise.all(
      [...answers, third].map(
        async (response) => (await openReply(await response.text(), account)).plaintext,
      ),
    )
    expect(new Set(replies).size).toBe(1)
    expect(replies[0]).toContain('first answer')
  })

  it('runs a deferred route once, however often the push is delivered', async () => {
    const { bot, runs } = countingBot('text')
    const jobs: QueuedJob[] = []
    // The ledger queues the job; here the test takes it off the queue and runs it itself.
    vi.spyOn(env.LATER, 'send').mockImplementation(async (job: unknown) => {
      jobs.push(job as QueuedJob)
      return undefined as never
    })
    const xml = forgePushXml('publish_job_finish', { msgId: String(Date.now()) })
    await Promise.all([
      fetchWith(await signedRequest(xml), {}, bot),
      fetchWith(await signedRequest(xml), {}, bot),
    ])
    await fetchWith(await signedRequest(xml), {}, bot)
    // The first delivery the ledger received queued the job; the retries queued none…
    expect(jobs.map((job) => job.job)).toEqual(['count'])
    // …and a redelivery of that one Queue message, or another message, finds it done.
    const outcomes = [
      await runLaterJob(jobs[0] as QueuedJob, env, botsOf(bot), 'message-0'),
      await runLaterJob(jobs[0] as QueuedJob, env, botsOf(bot), 'message-0'),
      await runLaterJob(jobs[0] as QueuedJob, env, botsOf(bot), 'message-1'),
    ]
    expect(outcomes).toEqual(['done', 'replayed', 'replayed'])
    expect(runs).toEqual(['publish_job_finish'])
  })
})
