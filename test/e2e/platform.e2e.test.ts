/**
 * The third-party platform end to end through `npm run dev`'s server: the full-network release
 * test for each of WeChat's five groups, as the console runs it against the fake WeChat API
 * (which pushes its events to /wechat/platform as WeChat does); and an administrator
 * authorizing in a browser, then the console sending as the account that authorized.
 */

import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.ts'
import { type DevServer, startDevServer } from './dev-server.ts'

const ADMIN = { Authorization: 'Bearer local-admin-token' }

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

async function consoleApi(path: string, body: object = {}) {
  const response = await fetch(`${server.url}/debug/api/platform/${path}`, {
    method: 'POST',
    headers: { ...ADMIN, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  expect(response.status, await response.clone().text()).toBe(200)
  return response.json()
}

describe('the full-network release test, through npm run dev', () => {
  for (const group of [0, 1, 2, 3, 4]) {
    it(`passes for group ${group + 1}`, async () => {
      const report = (await consoleApi('release-test', { group })) as {
        pass: boolean
        steps: { case: string; expected: string; got: string; pass: boolean }[]
      }
      expect(report.steps.map((step) => step.case)).toEqual([
        'event',
        'text',
        'api: answered at once',
        'api: customer-service message',
      ])
      for (const step of report.steps) expect(step.got, step.case).toBe(step.expected)
      expect(report.pass).toBe(true)
    })
  }
})

describe('an administrator authorizing, in a browser', () => {
  it('opens the Worker’s page, then WeChat’s, lands on /platform/authorized, and the console sends as the account', async () => {
    await consoleApi('ticket')
    const link = await fetch(`${server.url}/admin/platform/authorize-link`, {
      method: 'POST',
      headers: ADMIN,
    })
    const { page: start } = (await link.json()) as { page: string }
    const appId = `wx${Date.now().toString(16).padStart(16, '0').slice(-16)}`
    const page = await browser.newPage()
    // From the Worker's own page: WeChat opens its page only for a browser that comes from there.
    await page.goto(start)
    await page.click('#desktop')
    await page.fill('#authorizer', appId)
    await page.click('#allow')
    await page.waitForURL(/\/platform\/authorized\?/)
    expect(await page.locator('#message').textContent()).toContain(appId)
    // The redirect and the `authorized` event the fake pushed made one authorizer.
    const listed = await fetch(`${server.url}/admin/platform/authorizers`, { headers: ADMIN })
    const { authorizers } = (await listed.json()) as { authorizers: { appId: string }[] }
    expect(authorizers.filter((entry) => entry.appId === appId)).toHaveLength(1)

    await page.goto(`${server.url}/debug#token=local-admin-token`)
    await expect.poll(() => page.locator('#platform-box').isVisible()).toBe(true)
    await page.selectOption('#account', appId)
    await page.selectOption('#kind', 'text')
    await page.fill('#content', 'hello, platform')
    await page.click('#send')
    // The default bot's assistant (the dev server's fake model) answers the authorizer's user
    // as it answers any account's.
    await expect
      .poll(() => page.locator('#chat .msg.account .bubble').last().textContent())
      .toBe('Answer to “hello, platform” (a new conversation).')
    await page.close()
  })
})
