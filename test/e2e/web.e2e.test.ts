/**
 * The web side end to end in Chromium against `npm run dev`'s server: the demo page (a
 * website's page) signs in through /oauth/start, the fake's authorize page (the user chooses
 * who they are and agrees), the callback and the backend's exchange, then shows its JS-SDK
 * config, which the fake checks as wx.config would. A reload of the callback after that shows a
 * clear page; a refusal lands back on the page, signed out.
 */

import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.ts'
import { type DevServer, startDevServer } from './dev-server.ts'

let server: DevServer
let browser: Browser

beforeAll(async () => {
  server = await startDevServer()
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

/** The callback URLs the page's browser was sent to by WeChat's (the fake's) page. */
function callbacksOf(page: Page): string[] {
  const seen: string[] = []
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/oauth/callback') seen.push(request.url())
  })
  return seen
}

describe('sign in with WeChat, and the JS-SDK', () => {
  it('signs the demo page in with the profile, and shows a config wx.config accepts', async () => {
    const site = await browser.newPage()
    const callbacks = callbacksOf(site)
    await site.goto(`${server.url}/web/demo`)
    await site.click('#userinfo')
    // WeChat's authorize page, as the fake plays it: who the user is, and their consent.
    await site.waitForSelector('#allow', { timeout: 10_000 })
    const openid = `oWebE2e${Date.now()}`
    await site.fill('#openid', openid)
    await site.click('#allow')
    await expect
      .poll(() => site.locator('#result').textContent(), { timeout: 10_000 })
      .toBe(`Signed in as ${openid} (Fake user ${openid.slice(-6)})`)
    // The ticket left the address bar before anything else.
    expect(new URL(site.url()).search).toBe('')
    await expect
      .poll(() => site.locator('#check').textContent(), { timeout: 10_000 })
      .toBe('config:ok')
    const config = JSON.parse((await site.locator('#config').textContent()) ?? '{}')
    expect(config).toMatchObject({
      appId: 'wx2c2769f8efd9abc2',
      timestamp: expect.any(Number),
      nonceStr: expect.stringMatching(/^[A-Za-z0-9]{16}$/),
      signature: expect.stringMatching(/^[0-9a-f]{40}$/),
    })

    // The browser back on the callback (a reload, history): a clear page, not WeChat's 40163.
    expect(callbacks).toHaveLength(1)
    const again = await site.goto(callbacks[0] ?? '')
    expect(again?.status()).toBe(400)
    expect(await site.locator('#message').textContent()).toContain('complete already')
    expect(await site.content()).not.toContain('40163')
  })

  it('lands a user who refused back on the page, signed out', async () => {
    const site = await browser.newPage()
    await site.goto(`${server.url}/web/demo`)
    await site.click('#base')
    await site.waitForSelector('#refuse', { timeout: 10_000 })
    await site.click('#refuse')
    await expect
      .poll(() => site.locator('#status').textContent(), { timeout: 10_000 })
      .toBe('You refused: not signed in.')
    expect(await site.locator('#result').isHidden()).toBe(true)
  })

  it('refuses a callback this browser did not start', async () => {
    const attacker = await browser.newContext()
    const page = await attacker.newPage()
    const callbacks = callbacksOf(page)
    await page.goto(`${server.url}/web/demo`)
    await page.click('#base')
    await page.waitForSelector('#allow', { timeout: 10_000 })
    // The attacker stops at the callback: the request is seen, then aborted.
    await page.route('**/oauth/callback*', (route) => route.abort())
    await page.click('#allow').catch(() => {})
    await expect.poll(() => callbacks.length, { timeout: 10_000 }).toBe(1)
    await attacker.close()
    // The victim's browser is sent to the attacker's callback: it holds no cookie of its state.
    const victim = await browser.newPage()
    const response = await victim.goto(callbacks[0] ?? '')
    expect(response?.status()).toBe(400)
    expect(await victim.locator('#message').textContent()).toContain('not started in this browser')
  })
})
