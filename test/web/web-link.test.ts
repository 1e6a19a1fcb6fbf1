/**
 * `context.webLink`: a bot's handlers (and deferred handlers) build the link that opens a page
 * of the website signed in, starting at the Worker's own /oauth/start.
 */

import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { botsOf } from '../../src/bot/bots.ts'
import { later, message, Router, reply } from '../../src/bot/index.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { runLaterJob } from '../../src/queues/later.ts'
import { jobOf, type QueuedJob } from '../../src/queues/queued.ts'
import { oauthStartLink } from '../../src/web/link.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import { parsedPush, queuedPush } from '../helpers/pushes.ts'
import { openid, signedRequest } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const ORDERS = 'https://shop.example.com/orders?tab=open'

describe('context.webLink', () => {
  it('links a reply to the page through /oauth/start on the Worker the push reached', async () => {
    const bot = new Router<Env>().text('orders', (_push, { webLink }) =>
      reply.news([{ title: 'Your orders', url: webLink(ORDERS, 'snsapi_userinfo') }]),
    )
    const xml = forgePushXml('text', { openid: openid('web-link'), content: 'orders' })
    const answer = await (await fetchWith(await signedRequest(xml), {}, bot)).text()
    const link = oauthStartLink('https://edge.test', ORDERS, 'snsapi_userinfo')
    expect(answer).toContain(`<Url><![CDATA[${link}]]></Url>`)
    // The link works: it starts a sign-in for that page.
    const started = await fetchWith(new Request(link))
    expect(started.status).toBe(302)
    expect(started.headers.get('Location')).toContain('scope=snsapi_userinfo')
  })

  it('refuses, in the handler, a page off WEB_ORIGINS or a Worker without web authorization', async () => {
    const thrown: string[] = []
    const bot = new Router<Env>().text('link', (_push, { webLink }) => {
      try {
        webLink('https://evil.test/')
      } catch (error) {
        thrown.push((error as Error).message)
      }
      return reply.text('done')
    })
    const xml = forgePushXml('text', { openid: openid('web-link-off'), content: 'link' })
    await fetchWith(await signedRequest(xml), {}, bot)
    await fetchWith(await signedRequest(xml), { WEB_SECRET: '' }, bot)
    expect(thrown).toEqual([
      'webLink: the page is not on one of WEB_ORIGINS',
      'webLink: web authorization is off (WEB_ORIGINS, WEB_SECRET, WECHAT_APPSECRET)',
    ])
  })

  it('reaches deferred handlers, which send the link after the answer', async () => {
    const user = openid('web-link-later')
    const bot = new Router<Env>().text(
      'later orders',
      later(
        async (_push, { send, webLink }) => {
          await send(message.link({ title: 'Your orders', url: webLink(ORDERS) }))
        },
        { name: 'orders' },
      ),
    )
    const xml = forgePushXml('text', { openid: user, content: 'later orders' })
    await fakeWechat.interact(xml)
    const queued = await queuedPush(parsedPush(xml))
    const job: QueuedJob = jobOf({ ...queued, workerOrigin: 'https://edge.test' }, 'orders')
    expect(await runLaterJob(job, env, botsOf(bot), 'web-link-message')).toBe('done')
    const [sent] = await fakeWechat.sent(user)
    expect(sent?.body).toMatchObject({
      msgtype: 'news',
      news: { articles: [{ url: oauthStartLink('https://edge.test', ORDERS) }] },
    })
  })
})
