/**
 * What the dev entry serves while the bot cannot be built (src/debug/broken-bot.ts): the
 * RouterDefinitionError named in every answer, a page for a browser, the Queue's messages kept.
 * test/e2e/dev.e2e.test.ts sees wrangler keep running through such a bot.
 */

import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { Router } from '../src/bot/router.ts'
import { brokenBotWorker } from '../src/debug/broken-bot.ts'
import type { Env } from '../src/env.ts'
import { createApp } from '../src/http/app.ts'
import { defineMenu } from '../src/wechat/menu.ts'
import { reply } from '../src/wechat/reply.ts'

/** What createApp throws for a menu button without a handler. */
function unbuildable(): unknown {
  const menu = defineMenu([{ type: 'click', name: 'Help', key: 'HELP' }] as const)
  try {
    createApp(new Router<Env>().withMenu(menu).on('text', () => reply.text('hi')))
  } catch (error) {
    return error
  }
  throw new Error('createApp built a bot whose menu key has no handler')
}

describe('a bot that cannot be built, in the dev server', () => {
  const worker = brokenBotWorker(unbuildable())

  it('answers every request 503, naming the RouterDefinitionError and its message', async () => {
    for (const path of ['/wechat', '/admin/users/oSomeone', '/']) {
      const response = worker.fetch(new Request(`http://localhost:8787${path}`, { method: 'POST' }))
      expect(response.status).toBe(503)
      expect(await response.text()).toBe(
        "the bot cannot run as written: RouterDefinitionError: the menu's keys HELP have no .menu() handler\n",
      )
    }
  })

  it('shows a browser a page that says so', async () => {
    const response = worker.fetch(
      new Request('http://localhost:8787/debug', { headers: { Accept: 'text/html,*/*' } }),
    )
    expect(response.status).toBe(503)
    expect(response.headers.get('Content-Type')).toContain('text/html')
    const html = await response.text()
    expect(html).toContain(
      "<pre>RouterDefinitionError: the menu's keys HELP have no .menu() handler</pre>",
    )
  })

  it('keeps what the Queue delivers, for the bot once it is fixed', async () => {
    const batch = createMessageBatch('wechat-edge-later', [
      { id: 'job-1', timestamp: new Date(), attempts: 1, body: {} },
    ])
    const ctx = createExecutionContext()
    worker.queue(batch, env)
    const result = await getQueueResult(batch, ctx)
    expect(result.retryBatch.retry).toBe(true)
    expect(result.explicitAcks).toEqual([])
  })
})
