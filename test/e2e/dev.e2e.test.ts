/**
 * `npm run dev` (scripts/dev.ts) in a checkout of its own: the port it is given (`--port`,
 * `PORT`) is the one it refuses when taken, the console's link names and the fake WeChat API's
 * traffic goes to; the link comes after wrangler's "Ready on"; the console's polling stays out
 * of the log; and a bot that cannot be built is answered 503, naming why, while wrangler runs
 * on and picks up the fix.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = new URL('../..', import.meta.url).pathname
const project = mkdtempSync(join(tmpdir(), 'wechat-edge-dev-'))
for (const entry of [
  'src',
  'scripts',
  'package.json',
  'tsconfig.json',
  'wrangler.toml',
  '.dev.vars.example',
])
  cpSync(join(ROOT, entry), join(project, entry), { recursive: true })
symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'))
const BOT = join(project, 'src/default-bot.ts')
const ADMIN = { Authorization: 'Bearer local-admin-token' }

/** A port nothing listens on, held by a server of ours until `release`. */
async function heldPort(): Promise<{ port: number; release(): Promise<void> }> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return {
    port: address.port,
    release: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

afterAll(() => rmSync(project, { recursive: true, force: true }))

describe('npm run dev’s port', () => {
  it('refuses to start while another program holds the port it is given', async () => {
    const squatter = await heldPort()
    try {
      const run = spawnSync(process.execPath, ['scripts/dev.ts', '--port', String(squatter.port)], {
        cwd: project,
        encoding: 'utf8',
      })
      expect(run.status).toBe(1)
      expect(run.stderr).toContain(`Port ${squatter.port} is in use on this machine`)
      expect(run.stderr).toContain(`npm run dev -- --port ${squatter.port + 1}`)
    } finally {
      await squatter.release()
    }
  })
})

describe('npm run dev on the port in PORT', () => {
  let dev: ChildProcess
  let output = ''
  let url = ''

  /** Resolves once the output matches, or rejects with what it shows. */
  function shown(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${output}`)), timeoutMs)
      const check = () => {
        const match = pattern.exec(output)
        if (!match) return
        clearTimeout(timer)
        dev.stdout?.off('data', check)
        resolve(match)
      }
      dev.stdout?.on('data', check)
      check()
    })
  }

  beforeAll(async () => {
    const free = await heldPort()
    await free.release()
    dev = spawn(process.execPath, ['scripts/dev.ts', '--persist-to', join(project, 'state')], {
      cwd: project,
      env: { ...process.env, PORT: String(free.port), WRANGLER_SEND_METRICS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
    }
    dev.stdout?.on('data', collect)
    dev.stderr?.on('data', collect)
    const link = await shown(/Debugging console: (http:\/\/localhost:(\d+))\/debug#token=(\S+)/)
    expect(Number(link[2])).toBe(free.port)
    expect(link[3]).toBe('local-admin-token')
    url = link[1] ?? ''
  })

  afterAll(() => {
    if (dev?.pid !== undefined && dev.exitCode === null) process.kill(-dev.pid, 'SIGTERM')
  })

  it('prints the console’s link after wrangler’s Ready, on the port it bound', () => {
    const ready = output.indexOf(`Ready on ${url}`)
    expect(ready).toBeGreaterThan(-1)
    expect(output.indexOf('Debugging console:')).toBeGreaterThan(ready)
  })

  it('sends the fake WeChat API’s traffic to that port', async () => {
    // .dev.vars, made from the example, names :8787; a token can only come from this server's fake.
    expect(readFileSync(join(project, '.dev.vars'), 'utf8')).toContain('localhost:8787')
    const refreshed = await fetch(`${url}/admin/access-token/refresh`, {
      method: 'POST',
      headers: ADMIN,
    })
    expect(refreshed.status).toBe(200)
    expect(await refreshed.json()).toMatchObject({ held: true, source: 'stable_token' })
    await shown(/POST \/debug\/wechat-api\/cgi-bin\/stable_token 200/)
  })

  it('leaves the console’s polling out of the log, and shows the rest', async () => {
    const user = `oDevLog${Date.now()}`
    for (let i = 0; i < 3; i++) {
      expect((await fetch(`${url}/debug/api/users/${user}`, { headers: ADMIN })).status).toBe(200)
      expect((await fetch(`${url}/debug/api/sent/${user}`, { headers: ADMIN })).status).toBe(200)
    }
    // A poll that fails still shows.
    expect((await fetch(`${url}/debug/api/users/${user}`)).status).toBe(401)
    await shown(new RegExp(`GET /debug/api/users/${user} 401`))
    expect(output).not.toContain(`GET /debug/api/users/${user} 200`)
    expect(output).not.toContain(`GET /debug/api/sent/${user} 200`)
    expect(output).not.toMatch(/GET \/debug\/wechat-api\/fake\/sent\S* 200/)
  })

  it('answers 503 naming a bot that cannot be built, runs on, and takes the fix', async () => {
    const bot = readFileSync(BOT, 'utf8')
    // A keyed menu button without a .menu() handler: createApp refuses it.
    writeFileSync(
      BOT,
      `import { defineMenu, Router } from './bot/index.ts'
import type { Env } from './env.ts'

export const bot = new Router<Env>().withMenu(
  defineMenu([{ type: 'click', name: 'Help', key: 'HELP' }] as const),
)
`,
    )
    const reason = "RouterDefinitionError: the menu's keys HELP have no .menu() handler"
    await expect
      .poll(async () => (await fetch(`${url}/wechat`, { method: 'POST' })).status, {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(503)
    expect(await (await fetch(`${url}/wechat`, { method: 'POST' })).text()).toContain(reason)
    const page = await fetch(`${url}/debug`, { headers: { Accept: 'text/html' } })
    expect(page.status).toBe(503)
    expect(await page.text()).toContain(reason)
    expect(dev.exitCode).toBeNull()

    writeFileSync(BOT, bot)
    await expect
      .poll(async () => (await fetch(url)).status, { timeout: 30_000, interval: 500 })
      .toBe(200)
    expect(dev.exitCode).toBeNull()
  })
})
