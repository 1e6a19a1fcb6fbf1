/**
 * Scan to log in, end to end in Chromium against `npm run dev`'s server: the demo page (a
 * website's sign-in page) starts a login and shows its code; the console scans it as a user
 * would in WeChat; the page learns it was signed in, through its backend's exchange. On the same
 * server: the console's menu and QR codes, and `npm run menu`.
 */

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.ts'
import { type DevServer, startDevServer } from './dev-server.ts'

const ROOT = new URL('../..', import.meta.url).pathname
const run = promisify(execFile)

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

describe('scan to log in', () => {
  it('signs the demo page in when the console scans its code', async () => {
    const site = await browser.newPage()
    await site.goto(`${server.url}/login/demo`)
    await expect
      .poll(() => site.locator('#status').textContent(), { timeout: 10_000 })
      .toBe('Waiting for the scan…')
    const ticket = (await site.locator('#ticket').textContent()) ?? ''
    expect(ticket).toMatch(/^gQ/)
    // The code's image loads, from the fake WeChat API's showqrcode.
    await expect
      .poll(() => site.locator('#qr').evaluate((img: HTMLImageElement) => img.naturalWidth), {
        timeout: 10_000,
      })
      .toBeGreaterThan(0)

    const wechat = await browser.newPage()
    await wechat.goto(`${server.url}/debug#token=local-admin-token`)
    await expect
      .poll(() => wechat.locator('#kind option').count(), { timeout: 10_000 })
      .toBeGreaterThan(1)
    const openid = `oLoginE2e${Date.now()}`
    await wechat.selectOption('#kind', 'scan')
    await wechat.selectOption('#mode', 'safe')
    await wechat.fill('#openid', openid)
    await wechat.fill('#ticket', ticket)
    await wechat.click('#send')
    // The scan only asks: the user agrees by replying 1, from the same WeChat.
    await expect
      .poll(() => wechat.locator('#chat .msg.account .bubble').last().textContent(), {
        timeout: 10_000,
      })
      .toContain('Reply 1 within')
    await expect
      .poll(() => site.locator('#status').textContent(), { timeout: 10_000 })
      .toBe('Scanned: confirm in WeChat…')
    await wechat.selectOption('#kind', 'text')
    await wechat.fill('#content', '1')
    await wechat.click('#send')
    await expect
      .poll(() => wechat.locator('#chat .msg.account .bubble').last().textContent(), {
        timeout: 10_000,
      })
      .toBe('Signed in.')

    await expect
      .poll(() => site.locator('#result').textContent(), { timeout: 10_000 })
      .toBe(`Signed in as ${openid}`)

    // The login is over once traded: the same code scanned again signs nobody in.
    await wechat.selectOption('#kind', 'scan')
    await wechat.fill('#ticket', ticket)
    await wechat.fill('#openid', `oLoginOther${Date.now()}`)
    await wechat.click('#send')
    await expect
      .poll(() => wechat.locator('#chat .msg.account .bubble').last().textContent(), {
        timeout: 10_000,
      })
      .toContain('Refresh the page for a new one.')
  })
})

describe('the console draws the menu the bot declares', () => {
  it('sends a tap on a sub-button as that button’s push', async () => {
    const page = await browser.newPage()
    await page.goto(`${server.url}/debug#token=local-admin-token`)
    await expect
      .poll(() => page.locator('#menu button').count(), { timeout: 10_000 })
      .toBeGreaterThan(1)
    await page.fill('#openid', `oMenuE2e${Date.now()}`)
    // Closed until "More" is tapped, as in WeChat: it would cover the conversation.
    const sub = page.locator('#menu .sub')
    expect(await sub.isVisible()).toBe(false)
    await page.click('#menu button:text-is("More")')
    expect(await sub.isVisible()).toBe(true)
    await page.click('#menu button:text-is("More")')
    expect(await sub.isVisible()).toBe(false)
    await page.click('#menu button:text-is("More")')
    await page.click('#menu button:text-is("Count")')
    // A tap on a sub-button closes the sub-menu.
    expect(await sub.isVisible()).toBe(false)
    await expect
      .poll(() => page.locator('#chat .msg.account .bubble').last().textContent(), {
        timeout: 10_000,
      })
      .toBe('count: 1')
    await page.click('#menu button:text-is("Today")')
    await expect
      .poll(() => page.locator('#chat .msg.account .bubble').last().textContent(), {
        timeout: 10_000,
      })
      .toBe('Today: a menu declared in code (src/default-bot.ts).')
  })
})

describe('the console’s QR codes', () => {
  it('makes a code, shows its image, scans it, and counts the scan', async () => {
    const page = await browser.newPage()
    await page.goto(`${server.url}/debug#token=local-admin-token`)
    await expect
      .poll(() => page.locator('#kind option').count(), { timeout: 10_000 })
      .toBeGreaterThan(1)
    const scene = `e2e-${Date.now()}`
    await page.fill('#qr-scene', scene)
    await page.click('#qr-make')
    const row = page.locator(`.qr[data-scene="${scene}"]`)
    await expect
      .poll(() => row.locator('img').evaluate((img: HTMLImageElement) => img.naturalWidth), {
        timeout: 10_000,
      })
      .toBeGreaterThan(0)
    await page.fill('#openid', `oScanE2e${Date.now()}`)
    // The form's scene field holds another scene: the scan is the code's, bubble and reply alike.
    expect(await page.inputValue('#scene')).not.toBe(scene)
    await row.locator('button').click()
    await expect
      .poll(() => page.locator('#chat .msg.account .bubble').last().textContent(), {
        timeout: 10_000,
      })
      .toBe(`You scanned QR scene ${scene}.`)
    expect(await page.locator('#chat .msg.me .bubble').last().textContent()).toBe(
      `Scans QR scene ${scene}`,
    )
    const stats = page.locator(`.qr[data-scene="${scene}"] .qr-stats`)
    await expect.poll(() => stats.textContent(), { timeout: 10_000 }).toContain('1 scan,')
    expect(await stats.textContent()).toContain('0 follows')
    // The chart has a scale and says which colour is which.
    const chart = page.locator(`.qr[data-scene="${scene}"] .chart`)
    expect(await chart.locator('svg text').allTextContents()).toEqual(
      expect.arrayContaining(['1', '0']),
    )
    expect(await chart.locator('.legend').textContent()).toBe('followsscansunfollows')
  })

  it('after a restart, offers no scan of a code the fake WeChat API has forgotten', async () => {
    const page = await browser.newPage()
    const scene = `e2e-restart-${Date.now()}`
    const made = await fetch(`${server.url}/admin/qrcodes`, {
      method: 'POST',
      headers: { Authorization: 'Bearer local-admin-token' },
      body: JSON.stringify({ scene, expireSeconds: 3600 }),
    })
    expect(made.status).toBe(201)
    // Its campaign is stored; the fake keeps the codes it made in memory, which a restart empties.
    await server.restart()
    await page.goto(`${server.url}/debug#token=local-admin-token`)
    const row = page.locator(`.qr[data-scene="${scene}"]`)
    await expect
      .poll(() => row.locator('.gone').textContent(), { timeout: 10_000 })
      .toContain('the fake WeChat API no longer knows it')
    expect(await row.locator('img, button').count()).toBe(0)
  })
})

describe('npm run menu', () => {
  it('publishes the declared menu to the fake WeChat API, then shows it', async () => {
    const env = { ...process.env, ADMIN_TOKEN: 'local-admin-token' }
    const menu = (action: string) =>
      run('node', ['scripts/menu.ts', action, '--url', server.url], { cwd: ROOT, env })
    const published = await menu('publish')
    expect(JSON.parse(published.stdout)).toMatchObject({ published: true })
    const shown = JSON.parse((await menu('show')).stdout)
    expect(shown.current).toMatchObject({ is_menu_open: 1 })
    expect(shown.declared.map((entry: { name: string }) => entry.name)).toEqual(['Today', 'More'])
  })

  it('sends the admin token over https or to this machine only', async () => {
    const env = { ...process.env, ADMIN_TOKEN: 'local-admin-token' }
    const refused = await run('node', ['scripts/menu.ts', 'show', '--url', 'http://example.test'], {
      cwd: ROOT,
      env,
    }).catch((error: { code: number; stderr: string }) => error)
    expect(refused).toMatchObject({ code: 2 })
    expect((refused as { stderr: string }).stderr).toContain('--url must be https')
  })
})
