import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.ts'
import { type DevServer, startDevServer } from './dev-server.ts'

// `UPDATE_SCREENSHOT=1 npm run test:e2e` refreshes the README's picture.
const SCREENSHOT = new URL('../../docs/debug-console.png', import.meta.url).pathname

let server: DevServer
let browser: Browser
let page: Page

beforeAll(async () => {
  server = await startDevServer()
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

describe('the debugging console', () => {
  const openid = `oBrowser${Date.now()}`

  it('is locked without the admin token, whatever the address says', async () => {
    await page.goto(`${server.url}/debug`)
    await expect
      .poll(() => page.locator('#status').textContent())
      .toContain('Enter the admin token')
    expect(await page.locator('#token-box').isVisible()).toBe(true)
  })

  it('sends a QR follow and shows the welcome naming the scene, and the stored state', async () => {
    // The link `npm run dev` prints: the token rides in the fragment, which no server sees.
    await page.goto(`${server.url}/debug#token=local-admin-token`)
    await expect.poll(() => page.evaluate(() => location.hash)).toBe('')
    await page.selectOption('#kind', 'subscribe')
    await page.selectOption('#mode', 'safe')
    await page.fill('#openid', openid)
    await page.fill('#scene', 'spring')
    await page.click('#send')
    await expect
      .poll(() => page.locator('#chat .msg.account .bubble').last().textContent())
      .toBe('Welcome! Thanks for following via QR scene spring.')
    await expect.poll(() => page.locator('#status').textContent()).toContain('signature holds')
    await expect
      .poll(() => page.locator('.state-scene').textContent(), { timeout: 10_000 })
      .toBe('spring')
    expect(await page.locator('.state-eventCount').textContent()).toBe('1')
    // A date a person reads, not epoch seconds.
    expect(await page.locator('.state-subscribedAt').textContent()).not.toMatch(/^\d+$/)
    expect(await page.locator('.state-subscribedAt').textContent()).toMatch(/\d{1,2}:\d{2}/)
    expect(await page.locator('#reply-plain').textContent()).toContain(
      '<MsgType><![CDATA[text]]></MsgType>',
    )
  })

  it('answers a retry with the same reply and applies it once', async () => {
    await page.click('#retry')
    await expect
      .poll(() => page.locator('#chat .system').last().textContent())
      .toBe('WeChat retried the same push')
    await expect
      .poll(() => page.locator('#chat .msg.account .bubble').last().textContent())
      .toBe('Welcome! Thanks for following via QR scene spring.')
    await page.waitForTimeout(1_500)
    expect(await page.locator('.state-eventCount').textContent()).toBe('1')
    if (process.env.UPDATE_SCREENSHOT) {
      // The picture shows the QR panel too: a code of the follow's scene, with its count.
      await page.click('#qr-make')
      await page.locator('.qr[data-scene="spring"] img').waitFor()
      await page.screenshot({ path: SCREENSHOT, fullPage: true })
    }
  })

  it('shows the session’s keys and size next to the state, never its values', async () => {
    await page.selectOption('#kind', 'text')
    await page.fill('#content', 'count')
    await page.click('#send')
    await expect
      .poll(() => page.locator('#chat .msg.account .bubble').last().textContent())
      .toBe('count: 1')
    await expect
      .poll(() => page.locator('.state-session').textContent(), { timeout: 10_000 })
      .toBe('count (6 bytes)')
  })

  it('shows a slow AI answer arrive: success, typing…, then the answer as a message', async () => {
    // The default bot's assistant, on the dev server's fake model, told to take 6 s. (Before
    // the `later` route's: WeChat shows one typing at a time, 15 s, and refuses another, 45081.)
    const typingBefore = await page.locator('#chat .system.typing').count()
    await page.fill('#content', 'tell me slowly [delay=6000]')
    await page.click('#send')
    // The model is not ready within the reply budget (4.5 s): the answer is success.
    await expect
      .poll(() => page.locator('#chat .system:not(.typing)').last().textContent(), {
        timeout: 10_000,
      })
      .toBe('No reply (success)')
    await expect
      .poll(() => page.locator('#chat .system.typing').count(), { timeout: 10_000 })
      .toBeGreaterThan(typingBefore)
    await expect
      .poll(() => page.locator('#chat .bubble.cs').last().textContent(), { timeout: 20_000 })
      .toBe('Answer to “tell me slowly” (a new conversation).')
    // typing… came before the answer.
    const order = await page.evaluate(() =>
      [...document.querySelectorAll('#chat .system.typing, #chat .bubble.cs')].map((node) =>
        node.classList.contains('typing') ? 'typing' : 'answer',
      ),
    )
    expect(order.lastIndexOf('typing')).toBeLessThan(order.lastIndexOf('answer'))
  })

  it('shows a deferred reply arriving as a customer-service message', async () => {
    await page.fill('#content', 'later from the browser')
    await page.click('#send')
    await expect
      .poll(() => page.locator('#chat .bubble.cs').last().textContent(), { timeout: 15_000 })
      .toBe('later: from the browser')
  })

  it('shows a customer-service link as a card', async () => {
    // A message of the user's: the console watches for what is sent to them after it.
    await page.fill('#content', 'a link, please')
    await page.click('#send')
    await expect
      .poll(() => page.locator('#chat .msg.account .bubble').last().textContent())
      .toMatch(/^Answer to “a link, please”/)
    const sent = await fetch(`${server.url}/admin/users/${openid}/messages`, {
      method: 'POST',
      headers: { Authorization: 'Bearer local-admin-token' },
      body: JSON.stringify({
        msgtype: 'news',
        news: { articles: [{ title: 'More', description: 'Read on', url: 'https://example.com' }] },
      }),
    })
    expect(sent.status).toBe(200)
    const card = page.locator('#chat .cs .card').last()
    await expect.poll(() => card.locator('b').textContent(), { timeout: 15_000 }).toBe('More')
    expect(await card.locator('span').textContent()).toBe('Read on')
  })

  it('has an icon of its own: the browser asks for no missing one', async () => {
    const icon = await page.evaluate(async () => {
      const link = document.querySelector<HTMLLinkElement>('link[rel="icon"]')
      const response = link && (await fetch(link.href))
      return response && { status: response.status, type: response.headers.get('Content-Type') }
    })
    expect(icon).toEqual({ status: 200, type: 'image/svg+xml' })
  })

  it('sends an unfollow, and the stored state is gone', async () => {
    await page.selectOption('#kind', 'unsubscribe')
    await page.click('#send')
    await expect
      .poll(() => page.locator('#state').textContent(), { timeout: 10_000 })
      .toBe(`No stored state for ${openid}.`)
    expect(await page.locator('#chat .system').last().textContent()).toBe('No reply (success)')
  })

  it('is usable at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    )
    expect(overflow).toBeLessThanOrEqual(0)
    expect(await page.locator('#send').isVisible()).toBe(true)
  })
})

describe('the console, for each account of the deployment', () => {
  it('acts as the account picked: its callback, its users, apart from the others', async () => {
    const accountPage = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await accountPage.goto(`${server.url}/debug#token=local-admin-token`)
    // npm run dev's .dev.vars serves a second sample account, demo, at /wechat/demo.
    await expect.poll(() => accountPage.locator('#account option').count()).toBe(2)
    expect(await accountPage.locator('#account-box').isVisible()).toBe(true)
    const user = `oAccounts${Date.now()}`
    const count = async () => {
      await accountPage.selectOption('#kind', 'text')
      await accountPage.selectOption('#mode', 'safe')
      await accountPage.fill('#openid', user)
      await accountPage.fill('#content', 'count')
      await accountPage.click('#send')
    }
    const lastReply = () => accountPage.locator('#chat .msg.account .bubble').last().textContent()
    // A switch sets the form up afresh for that account: fill it once that is done.
    const switchTo = async (id: string) => {
      await accountPage.selectOption('#account', id)
      await accountPage.locator(`body[data-ready="${id}"]`).waitFor()
    }
    await switchTo('demo')
    await count()
    await expect.poll(lastReply).toBe('count: 1')
    await count()
    await expect.poll(lastReply).toBe('count: 2')
    // The same OpenID at the env account is another user.
    await switchTo('env')
    await count()
    await expect.poll(lastReply).toBe('count: 1')
    await accountPage.close()
  })
})
