import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LOCAL_DEV_VARS } from '../../scripts/local-vars.ts'
import { type DevServer, startDevServer } from './dev-server.ts'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname
const EXAMPLE_SECRETS = [
  '--token',
  'spamtest',
  '--appid',
  'wx2c2769f8efd9abc2',
  '--aes-key',
  'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  '--admin-token',
  'local-admin-token',
]

let server: DevServer

beforeAll(async () => {
  server = await startDevServer()
})

afterAll(async () => {
  await server?.stop()
})

/** Runs the simulator against the dev server with the example secrets; later flags win. */
async function simulate(...args: string[]) {
  const argv = ['scripts/simulate.ts', '--url', `${server.url}/wechat`, ...EXAMPLE_SECRETS, ...args]
  try {
    const { stdout, stderr } = await run('node', argv, { cwd: ROOT })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

describe('npm run simulate', () => {
  it.each([
    [
      'plaintext',
      'subscribe',
      ['--scene', 'spring'],
      'Welcome! Thanks for following via QR scene spring.',
    ],
    ['compatible', 'click', ['--key', 'V1001'], 'You clicked menu V1001.'],
    [
      'safe',
      'text',
      ['--content', '你好 ]]>'],
      // The default bot's AI assistant (the dev server's fake model) quotes it, CDATA split.
      '<Content><![CDATA[Answer to “你好 ]]]]><![CDATA[>” (a new conversation).]]></Content>',
    ],
  ])(
    'sends a push in %s mode and prints the decrypted reply',
    async (mode, kind, fields, expected) => {
      const { code, stdout } = await simulate(kind, '--mode', mode, ...fields)
      expect(code).toBe(0)
      expect(stdout).toContain('── answer: 200')
      expect(stdout).toContain(expected)
      if (mode !== 'plaintext') expect(stdout).toContain('MsgSignature holds')
    },
  )

  it('sends retries that get the same reply', async () => {
    const { code, stdout } = await simulate(
      'text',
      '--mode',
      'safe',
      '--content',
      'again',
      '--retries',
      '2',
    )
    expect(code).toBe(0)
    const replies = stdout
      .split('── answer: 200')
      .slice(1)
      .map((part) => part.match(/<Content>.*<\/Content>/)?.[0])
    expect(replies).toHaveLength(3)
    expect(new Set(replies).size).toBe(1)
  })

  it('counts in the session: each push once, retries alike, the next push sees it', async () => {
    const openid = `oE2eCount${Date.now()}`
    const countFrom = (stdout: string) => [...stdout.matchAll(/count: (\d+)/g)].map((m) => m[1])
    const first = await simulate(
      'text',
      '--mode',
      'safe',
      '--openid',
      openid,
      '--content',
      'count',
      '--retries',
      '2',
    )
    expect(first.code).toBe(0)
    expect(countFrom(first.stdout)).toEqual(['1', '1', '1'])
    const second = await simulate(
      'text',
      '--mode',
      'compatible',
      '--openid',
      openid,
      '--content',
      'count',
    )
    expect(countFrom(second.stdout)).toEqual(['2'])
  })

  it('lets an operator talk back through the fake WeChat API, window-checked', async () => {
    const openid = `oE2eOperator${Date.now()}`
    const admin = { Authorization: 'Bearer local-admin-token' }
    const send = () =>
      fetch(`${server.url}/admin/users/${openid}/messages`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ msgtype: 'text', text: { content: 'from an operator' } }),
      })
    expect((await send()).status).toBe(409)
    expect((await simulate('text', '--openid', openid, '--content', 'hi')).code).toBe(0)
    expect((await send()).status).toBe(200)
    const token = await (await fetch(`${server.url}/admin/access-token`, { headers: admin })).json()
    expect(token).toMatchObject({ talkBack: true, held: true })
    await fetch(`${server.url}/debug/wechat-api/fake/fail`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ path: 'send', for: openid, code: 45047 }),
    })
    const refused = await send()
    expect(refused.status).toBe(409)
    expect(await refused.json()).toMatchObject({ error: 'quota_used', code: 45047 })
  })

  it('shows a deferred route’s customer-service message as it arrives', async () => {
    const openid = `oE2eLater${Date.now()}`
    const { code, stdout } = await simulate('text', '--openid', openid, '--content', 'later hi')
    expect(code).toBe(0)
    // The answer (success, at once), then typing, then the message, in that order.
    const answer = stdout.indexOf('── answer: 200')
    const typing = stdout.indexOf('── typing…')
    const message = stdout.search(
      /── customer-service message, \d+\.\d s after the push:\nlater: hi\n/,
    )
    expect(answer).toBeGreaterThan(-1)
    expect(typing).toBeGreaterThan(answer)
    expect(message).toBeGreaterThan(typing)
  })

  it('sends as another account of the deployment with --account, its secrets from .dev.vars', async () => {
    // A directory of its own, holding .dev.vars as npm run dev writes it.
    const cwd = mkdtempSync(join(tmpdir(), 'wechat-edge-simulate-'))
    writeFileSync(join(cwd, '.dev.vars'), LOCAL_DEV_VARS)
    const openid = `oE2eAccount${Date.now()}`
    const argv = [
      join(ROOT, 'scripts/simulate.ts'),
      'text',
      '--account',
      'demo',
      '--url',
      `${server.url}/wechat/demo`,
      '--mode',
      'safe',
      '--openid',
      openid,
      '--content',
      'count',
      '--watch',
      '0',
    ]
    const { stdout } = await run('node', argv, { cwd })
    expect(stdout).toContain('/wechat/demo?')
    expect(stdout).toContain('MsgSignature holds')
    expect(stdout).toContain('count: 1')
    rmSync(cwd, { recursive: true, force: true })
  })

  it('names the URL and suggests npm run dev when nothing answers there', async () => {
    const nobody = 'http://127.0.0.1:9/wechat'
    const { code, stderr } = await simulate('text', '--url', nobody)
    expect(code).toBe(2)
    expect(stderr).toContain(`simulate: no answer from ${nobody}`)
    expect(stderr).toContain('Start it with npm run dev')
  })

  it('exits non-zero on a non-200 answer', async () => {
    const { code, stdout } = await simulate('text', '--token', 'wrong-token')
    expect(code).toBe(1)
    expect(stdout).toContain('── answer: 401')
  })

  it('lists every kind and option with --help', async () => {
    const { code, stdout } = await simulate('--help')
    expect(code).toBe(0)
    expect(stdout).toContain('location_report')
    expect(stdout).toContain('--retries')
    // The modes as the README and the console spell them.
    expect(stdout).toContain(
      '--mode <mode>          plaintext | compatible | safe (default plaintext)',
    )
  })
})
