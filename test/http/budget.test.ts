import { describe, expect, it } from 'vitest'
import { Router } from '../../src/bot/router.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { HELD_FOR_MS } from '../../src/http/answer.ts'
import { reply } from '../../src/wechat/reply.ts'
import { userState } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { captureLogs } from '../helpers/logs.ts'
import { openid, signedRequest } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

async function post(xml: string, bot: Router<Env>, overrides: Partial<Env> = {}) {
  return fetchWith(await signedRequest(xml), overrides, bot)
}

describe('the reply budget', () => {
  it('sends success for a handler still running at REPLY_BUDGET_MS, and aborts its signal', async () => {
    let aborted = false
    const slow = new Router<Env>().on('text', async (_, { signal }) => {
      signal.addEventListener('abort', () => {
        aborted = true
      })
      await new Promise((resolve) => setTimeout(resolve, 2_000))
      return reply.text('too late')
    })
    const id = openid('slow')
    const response = await post(forgePushXml('text', { openid: id }), slow, {
      REPLY_BUDGET_MS: '100',
    })
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('success')
    expect(aborted).toBe(true)
    // Past the budget, the push is still made durable (by its Durable Object, or the Queue).
    await eventually(async () => expect(await userState(id)).toMatchObject({ eventCount: 1 }))
  })

  it('sends the reply of a handler that finishes within the budget', async () => {
    const quick = new Router<Env>().on('text', async () => {
      await new Promise((resolve) => setTimeout(resolve, 10))
      return reply.text('in time')
    })
    const response = await post(forgePushXml('text', { openid: openid('quick') }), quick, {
      REPLY_BUDGET_MS: '1000',
    })
    expect(await response.text()).toContain('in time')
  })

  it('sends success when a handler throws, and says nothing of the error', async () => {
    const failing = new Router<Env>().on('text', () => {
      throw new Error('secret detail')
    })
    const response = await post(forgePushXml('text', { openid: openid('throws') }), failing)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('success')
  })
})

describe('errors in middleware', () => {
  it('are answered success with a log line, like a handler’s', async () => {
    const warnings = captureLogs('warn')
    const failing = new Router<Env>()
      .use(() => {
        throw new TypeError('middleware broke')
      })
      .on('text', () => reply.text('never'))
    const response = await post(forgePushXml('text', { openid: openid('mw-error') }), failing)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('success')
    expect(warnings.records).toContainEqual({
      event: 'handler_error',
      kind: 'text',
      error: 'TypeError',
    })
  })

  it('calling next() twice: the handler runs once, the push is answered success and logged', async () => {
    const warnings = captureLogs('warn')
    let runs = 0
    const twice = new Router<Env>()
      .use(async (_push, _context, next) => {
        await next()
        await next()
      })
      .on('text', () => {
        runs++
        return reply.text('once')
      })
    const response = await post(forgePushXml('text', { openid: openid('next-twice') }), twice)
    expect(await response.text()).toBe('success')
    expect(runs).toBe(1)
    expect(warnings.records).toContainEqual({
      event: 'handler_error',
      kind: 'text',
      error: 'NextCalledTwiceError',
    })
  })
})

describe('a held attempt (context.hold())', () => {
  it('is received without its reply or writes, answers only past 5 s, and the retry that answers is replayed', async () => {
    let attempts = 0
    const bot = new Router<Env>().on('text', async (_, { session, hold }) => {
      attempts++
      await session.set('seen', Number((await session.get('seen')) ?? 0) + 1)
      if (attempts === 1) {
        hold()
        return reply.text('never sent')
      }
      return reply.text(`answered on attempt ${attempts}`)
    })
    const id = openid('held')
    const xml = forgePushXml('text', { openid: id })
    const started = Date.now()
    const first = await post(xml, bot)
    expect(await first.text()).toBe('success')
    expect(Date.now() - started).toBeGreaterThanOrEqual(HELD_FOR_MS - 50)
    // The push took effect once, with no reply: WeChat's retry is run, not replayed.
    expect(await userState(id)).toMatchObject({ eventCount: 1, session: { keys: [] } })
    const second = await (await post(xml, bot)).text()
    expect(second).toContain('answered on attempt 2')
    // Every later attempt gets that answer (its handler runs, its reply is not sent); the
    // session holds the answering attempt's write.
    expect(await (await post(xml, bot)).text()).toBe(second)
    expect(await userState(id)).toMatchObject({ eventCount: 1, session: { keys: ['seen'] } })
  }, 20_000)
})
