/**
 * The README's "Deploying, from zero", step by step, as an operator types it: `npm run setup`
 * and `npm run deploy` in a pseudo-terminal, wrangler unchanged, against a stand-in of
 * Cloudflare's API (cloudflare-api.ts) holding an empty account. Each test continues from the
 * state the one before it left, in the order of the guide. First, what happens before the
 * guide's first step: `--help` offline, and a login that is missing or lacks a permission.
 */

import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CloudflareApi, startCloudflareApi } from './cloudflare-api.ts'
import { runInTerminal, type Terminal } from './terminal.ts'

const ROOT = new URL('../..', import.meta.url).pathname
const ACCOUNTS = [
  { id: '023e105f4ecef8ad9ca31a8372d0c353', name: 'Operator' },
  { id: '9a7806061c88ada191ed06f989cc3dac', name: 'Agency' },
]
const APP_ID = 'wx2c2769f8efd9abc2'
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'

let api: CloudflareApi
let project: string
let home: string
/** What the operator exported along the way (CLOUDFLARE_ACCOUNT_ID, as setup suggests). */
const exported: Record<string, string> = {}

/**
 * A person's shell: logged in through an API token, no CI variable, wrangler's state private.
 * `extra` adds variables; one set to undefined is unset.
 */
function shell(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of ['CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'RUN_ID', 'GITHUB_ACTIONS'])
    delete env[name]
  for (const name of Object.keys(env)) if (name.startsWith('CLOUDFLARE_')) delete env[name]
  const person: NodeJS.ProcessEnv = {
    ...env,
    CLOUDFLARE_API_TOKEN: 'stand-in-token',
    CLOUDFLARE_API_BASE_URL: api.baseUrl,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_CACHE_DIR: join(home, 'cache'),
    XDG_CONFIG_HOME: join(home, 'config'),
    HOME: home,
    ...exported,
    ...extra,
  }
  for (const [name, value] of Object.entries(person)) if (value === undefined) delete person[name]
  return person
}

function npmRun(args: string[], extra: Record<string, string | undefined> = {}): Terminal {
  return runInTerminal(['npm', 'run', '--silent', ...args], { cwd: project, env: shell(extra) })
}

function worker(name = 'wechat-edge') {
  const found = api.state.workers.get(name)
  if (!found) throw new Error(`no Worker ${name}`)
  return found
}

const secretWrites = () =>
  api.calls.filter((call) => call.method !== 'GET' && /\/secrets/.test(call.path)).length

beforeAll(async () => {
  api = await startCloudflareApi(ACCOUNTS)
  home = mkdtempSync(join(tmpdir(), 'wechat-edge-home-'))
  // A checkout of its own: an interactive first deploy writes the new KV namespace's id into
  // wrangler.toml, as wrangler does for any operator.
  project = mkdtempSync(join(tmpdir(), 'wechat-edge-deploy-'))
  for (const entry of ['src', 'scripts', 'package.json', 'tsconfig.json', 'wrangler.toml'])
    cpSync(join(ROOT, entry), join(project, entry), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'))
})

afterAll(async () => {
  await api?.stop()
  rmSync(project, { recursive: true, force: true })
  rmSync(home, { recursive: true, force: true })
})

/** What no failure may show the operator: a stack trace, wrangler's or ours. */
const STACK_FRAME = /^\s+at \S+ \(|^\s+at .+:\d+:\d+\)?$/m

describe('before the first step', () => {
  it.each([['setup'], ['deploy']])(
    '%s --help prints its usage offline and exits 0, asking Cloudflare nothing',
    async (script) => {
      const calls = api.calls.length
      // No login at all: a call to Cloudflare would fail, and say so.
      const help = npmRun([script, '--', '--help'], { CLOUDFLARE_API_TOKEN: undefined })
      await help.waitFor(new RegExp(`Usage: npm run ${script} \\[-- --env <name>\\]`))
      expect(await help.exited).toBe(0)
      expect(help.screen()).toContain('--help, -h')
      expect(api.calls.length).toBe(calls)
    },
  )

  it('says so when nobody is logged in to Cloudflare, with no stack trace', async () => {
    const setup = npmRun(['setup'], { CLOUDFLARE_API_TOKEN: undefined })
    await setup.waitFor(
      /you are not logged in to Cloudflare\. Run npx wrangler login, or export CLOUDFLARE_API_TOKEN/,
    )
    expect(await setup.exited).not.toBe(0)
    expect(setup.screen()).not.toMatch(STACK_FRAME)
    expect(api.state.workers.size).toBe(0)
  })

  it('names the permission a token lacks, and the request Cloudflare refused', async () => {
    // A token that may read the accounts but not Workers scripts: every such call is refused.
    api.failNext('GET', /\/workers\/scripts\//, 100, {
      status: 403,
      code: 10000,
      message: 'Authentication error',
    })
    api.failNext('GET', /\/user\/tokens\/verify$/, 100, {
      status: 403,
      code: 10000,
      message: 'Authentication error',
    })
    const deploy = npmRun(['deploy'], { CLOUDFLARE_ACCOUNT_ID: ACCOUNTS[0]?.id })
    await deploy.waitFor(
      /your Cloudflare API token lacks a permission: Cloudflare refused \/accounts\/\w+\/workers\/scripts\/wechat-edge\/secrets \(Authentication error, code 10000\)\. Give the token Workers Scripts: Edit/,
    )
    expect(await deploy.exited).not.toBe(0)
    expect(deploy.screen()).not.toMatch(STACK_FRAME)
    expect(api.state.workers.size).toBe(0)
    api.recover()
  })
})

describe('deploying from zero, as the README says', () => {
  it('refuses to deploy a Worker that has no Token yet, and says what to run', async () => {
    const deploy = npmRun(['deploy'])
    // The login reaches two accounts: deploy asks which, as setup does.
    await deploy.waitFor(/Which one\? \[1-2\]/)
    deploy.typeLine('1')
    await deploy.waitFor(/WECHAT_TOKEN is not set on the Worker: run npm run setup first/)
    expect(await deploy.exited).not.toBe(0)
    expect(api.state.workers.size).toBe(0)
  })

  it('setup asks which account, then the AppID and key, and sets every secret', async () => {
    const setup = npmRun(['setup'])
    await setup.waitFor(/Which one\? \[1-2\]/)
    setup.typeLine('1')
    await setup.waitFor(/export CLOUDFLARE_ACCOUNT_ID=(\w+)/)
    await setup.waitFor(/does not exist yet/)
    await setup.waitFor(/AppID \(wx…\), Enter to skip: /)
    setup.typeLine(APP_ID)
    await setup.waitFor(/EncodingAESKey .*Enter to skip: /)
    setup.typeLine('too-short')
    await setup.waitFor(/must be 43 base64 characters/)
    await setup.waitFor(/EncodingAESKey .*Enter to skip: /)
    setup.typeLine(AES_KEY)
    await setup.waitFor(/AppSecret .*Enter to skip: /)
    setup.typeLine('')
    await setup.waitFor(/Next: npm run deploy/)
    expect(await setup.exited).toBe(0)

    const screen = setup.screen()
    // A masked answer is never shown, not even while it is typed.
    expect(screen).not.toContain(AES_KEY)
    const token = /WECHAT_TOKEN = ([0-9a-f]{32})/.exec(screen)?.[1]
    const admin = /ADMIN_TOKEN = ([0-9a-f]{32})/.exec(screen)?.[1]
    const login = /LOGIN_SECRET = ([0-9a-f]{32})/.exec(screen)?.[1]
    const web = /WEB_SECRET = ([0-9a-f]{32})/.exec(screen)?.[1]
    expect(token).toBeDefined()
    expect(admin).toBeDefined()
    expect(login).toBeDefined()
    expect(web).toBeDefined()
    expect(Object.fromEntries(worker().secrets)).toEqual({
      WECHAT_TOKEN: token,
      ADMIN_TOKEN: admin,
      LOGIN_SECRET: login,
      WEB_SECRET: web,
      WECHAT_APPID: APP_ID,
      WECHAT_ENCODING_AES_KEY: AES_KEY,
    })
    // What setup told the operator to export, for the rest of the guide.
    exported.CLOUDFLARE_ACCOUNT_ID = ACCOUNTS[0]?.id ?? ''
    expect(screen).toContain(`export CLOUDFLARE_ACCOUNT_ID=${exported.CLOUDFLARE_ACCOUNT_ID}`)
  })

  it('deploy provisions every queue and the KV namespace, and prints the workers.dev URL', async () => {
    const deploy = npmRun(['deploy'])
    await deploy.waitFor(/https:\/\/wechat-edge\.operator\.workers\.dev/)
    expect(await deploy.exited).toBe(0)

    expect([...api.state.queues.keys()].sort()).toEqual([
      'wechat-edge-later',
      'wechat-edge-pushes',
      'wechat-edge-pushes-dlq',
    ])
    for (const queue of api.state.queues.values())
      expect(queue.consumers.map((c) => c.script)).toEqual(['wechat-edge'])
    expect(api.state.queues.get('wechat-edge-pushes')?.consumers[0]?.deadLetterQueue).toBe(
      'wechat-edge-pushes-dlq',
    )
    expect(api.state.kv.size).toBe(2)
    const deployed = worker()
    expect(deployed.deployedVersion).not.toBeNull()
    expect(deployed.workersDev).toBe(true)
    expect(deployed.migrationTag).toBe('v7')
    expect(deployed.bindings.map((b) => b.name)).toEqual(
      expect.arrayContaining([
        'DEAD_LETTERS',
        'REPLY_CACHE',
        'PUSHES',
        'LATER',
        'USERS',
        'ACCESS_TOKENS',
        'LEDGER',
        'CAMPAIGNS',
        'LOGINS',
        'LOGIN_GATE',
        'JSAPI_TICKETS',
        'WEB_AUTHORIZATIONS',
      ]),
    )
    expect(api.unknown).toEqual([])
  })

  it('keeps request URLs out of the platform’s stored logs', () => {
    // Invocation logs and traces would store each request's URL: WeChat's signature and the
    // follower's openid in the query, OpenIDs in admin paths.
    expect(worker().observability).toMatchObject({
      enabled: true,
      redact_query_string: true,
      logs: { invocation_logs: false },
      traces: { enabled: false },
    })
  })

  it('setup again asks nothing and changes nothing', async () => {
    const before = Object.fromEntries(worker().secrets)
    const writes = secretWrites()
    const setup = npmRun(['setup'])
    await setup.waitFor(
      /secret WECHAT_APPSECRET: not set \(to add it: WECHAT_APPSECRET=… npm run setup\)/,
    )
    await setup.waitFor(/Nothing to change\./)
    expect(await setup.exited).toBe(0)
    expect(Object.fromEntries(worker().secrets)).toEqual(before)
    expect(secretWrites()).toBe(writes)
  })

  it('setup --account adds an account to WECHAT_ACCOUNTS, and the next keeps the first', async () => {
    const shop = npmRun(['setup', '--', '--account', 'shop'], {
      ACCOUNT_APPID: 'wxa1b2c3d4e5f60718',
    })
    await shop.waitFor(/shop: EncodingAESKey .*Enter to skip: /)
    shop.typeLine('ShopKey0123456789abcdefghijklmnopqrstuvwxyz')
    await shop.waitFor(/shop: AppSecret .*Enter to skip: /)
    shop.typeLine('')
    await shop.waitFor(/Next: npm run deploy/)
    expect(await shop.exited).toBe(0)
    const token = /shop\.token = ([0-9a-f]{32})/.exec(shop.screen())?.[1]
    expect(shop.screen()).toContain('/wechat/shop')
    const accounts = () => JSON.parse(worker().secrets.get('WECHAT_ACCOUNTS') ?? '{}')
    expect(accounts()).toEqual({
      shop: {
        token,
        appId: 'wxa1b2c3d4e5f60718',
        encodingAesKey: 'ShopKey0123456789abcdefghijklmnopqrstuvwxyz',
      },
    })
    // The machine keeps what the secret holds: Cloudflare never shows it again.
    expect(JSON.parse(readFileSync(join(project, '.wechat-accounts.json'), 'utf8'))).toEqual(
      accounts(),
    )
    const news = npmRun(['setup', '--', '--account', 'news'], {
      ACCOUNT_APPID: 'wxb2c3d4e5f6071829',
      ACCOUNT_ENCODING_AES_KEY: 'NewsKey0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ',
      ACCOUNT_APPSECRET: 'news-secret',
    })
    await news.waitFor(/Next: npm run deploy/)
    expect(await news.exited).toBe(0)
    expect(Object.keys(accounts())).toEqual(['shop', 'news'])
    expect(accounts().shop.token).toBe(token)
    // Again for shop: what is set is kept, the Token above all.
    const again = npmRun(['setup', '--', '--account', 'shop'])
    await again.waitFor(/shop: AppSecret .*Enter to skip: /)
    again.typeLine('')
    await again.waitFor(/Next: npm run deploy/)
    expect(again.screen()).toContain('shop.appId: set (kept)')
    expect(again.screen()).not.toMatch(/shop\.token = /)
    expect(accounts().shop.token).toBe(token)
  })

  it('setup --platform generates the Token and key, asks for the AppID and AppSecret, all or none', async () => {
    const refused = npmRun(['setup', '--', '--platform'], {
      WECHAT_PLATFORM_APPID: 'wxf0e1d2c3b4a59687',
    })
    await refused.waitFor(/AppSecret, Enter to skip: /)
    refused.typeLine('')
    await refused.waitFor(/Nothing was set: .*WECHAT_PLATFORM_APPSECRET/)
    expect(await refused.exited).not.toBe(0)
    expect(worker().secrets.has('WECHAT_PLATFORM_TOKEN')).toBe(false)

    const setup = npmRun(['setup', '--', '--platform'])
    await setup.waitFor(/The platform’s AppID \(wx…\), Enter to skip: /)
    setup.typeLine('wxf0e1d2c3b4a59687')
    await setup.waitFor(/The platform’s AppSecret, Enter to skip: /)
    setup.typeLine('platform-secret')
    await setup.waitFor(/Next: npm run deploy/)
    expect(await setup.exited).toBe(0)
    const secrets = worker().secrets
    expect(secrets.get('WECHAT_PLATFORM_APPID')).toBe('wxf0e1d2c3b4a59687')
    expect(secrets.get('WECHAT_PLATFORM_APPSECRET')).toBe('platform-secret')
    expect(secrets.get('WECHAT_PLATFORM_ENCODING_AES_KEY')).toMatch(/^[A-Za-z0-9]{43}$/)
    const token = secrets.get('WECHAT_PLATFORM_TOKEN') ?? ''
    expect(token).toMatch(/^[0-9a-f]{32}$/)
    // Printed once, to enter on the Open Platform, with the two URLs.
    expect(setup.screen()).toContain(`WECHAT_PLATFORM_TOKEN = ${token}`)
    expect(setup.screen()).toContain('/wechat/platform/$APPID$')
    expect(setup.screen()).not.toContain('platform-secret')

    const again = npmRun(['setup', '--', '--platform'])
    await again.waitFor(/Nothing to change/)
    expect(await again.exited).toBe(0)
    expect(worker().secrets.get('WECHAT_PLATFORM_TOKEN')).toBe(token)
  })

  it('setup --account refuses to replace a WECHAT_ACCOUNTS this machine cannot read back', async () => {
    const before = worker().secrets.get('WECHAT_ACCOUNTS')
    rmSync(join(project, '.wechat-accounts.json'))
    const setup = npmRun(['setup', '--', '--account', 'third'], {
      ACCOUNT_APPID: 'wxc3d4e5f607182930',
    })
    await setup.waitFor(/has no \.wechat-accounts\.json/)
    expect(await setup.exited).not.toBe(0)
    expect(worker().secrets.get('WECHAT_ACCOUNTS')).toBe(before)
  })

  it('setup stops with a clear error, rotating nothing, when Cloudflare fails a read', async () => {
    const before = Object.fromEntries(worker().secrets)
    const writes = secretWrites()
    // A transient outage, longer than wrangler's own retries.
    api.failNext('GET', /\/workers\/scripts\/wechat-edge\/secrets$/, 20)
    const setup = npmRun(['setup'])
    await setup.waitFor(
      /Could not read the Worker's secrets from Cloudflare, so nothing was changed/,
    )
    expect(await setup.exited).not.toBe(0)
    expect(setup.screen()).not.toMatch(/WECHAT_TOKEN = /)
    expect(Object.fromEntries(worker().secrets)).toEqual(before)
    expect(secretWrites()).toBe(writes)
    api.recover()
  })

  it('deploy again is idempotent: no new queue, namespace or secret', async () => {
    const secrets = Object.fromEntries(worker().secrets)
    const versions = worker().versions.length
    const deploy = npmRun(['deploy'])
    await deploy.waitFor(/https:\/\/wechat-edge\.operator\.workers\.dev/)
    expect(await deploy.exited).toBe(0)
    expect(api.state.queues.size).toBe(3)
    expect(api.state.kv.size).toBe(2)
    expect(Object.fromEntries(worker().secrets)).toEqual(secrets)
    expect(worker().versions.length).toBe(versions + 1)
    expect(worker().deployedVersion).toBe(worker().versions.at(-1))
  })

  it('serves a custom domain once wrangler.toml names it', async () => {
    const config = join(project, 'wrangler.toml')
    // The line the README gives, placed before the first table as TOML requires.
    const toml = readFileSync(config, 'utf8').replace(
      '[observability]',
      'routes = [{ pattern = "wechat.example.com", custom_domain = true }]\n\n[observability]',
    )
    writeFileSync(config, toml)
    const deploy = npmRun(['deploy'])
    await deploy.waitFor(/wechat\.example\.com \(custom domain\)/)
    expect(await deploy.exited).toBe(0)
    expect(api.state.domains).toEqual([{ hostname: 'wechat.example.com', service: 'wechat-edge' }])
  })

  it('stages a copy with --env staging, its values from the environment', async () => {
    const setup = npmRun(['setup', '--', '--env', 'staging'], {
      WECHAT_APPID: APP_ID,
      WECHAT_ENCODING_AES_KEY: AES_KEY,
    })
    await setup.waitFor(/AppSecret .*Enter to skip: /)
    setup.typeLine('')
    await setup.waitFor(/Next: npm run deploy -- --env staging/)
    expect(await setup.exited).toBe(0)
    expect([...worker('wechat-edge-staging').secrets.keys()].sort()).toEqual([
      'ADMIN_TOKEN',
      'LOGIN_SECRET',
      'WEB_SECRET',
      'WECHAT_APPID',
      'WECHAT_ENCODING_AES_KEY',
      'WECHAT_TOKEN',
    ])

    const deploy = npmRun(['deploy', '--', '--env', 'staging'])
    await deploy.waitFor(/https:\/\/wechat-edge-staging\.operator\.workers\.dev/)
    expect(await deploy.exited).toBe(0)
    expect([...api.state.queues.keys()]).toEqual(
      expect.arrayContaining([
        'wechat-edge-staging-pushes',
        'wechat-edge-staging-later',
        'wechat-edge-staging-pushes-dlq',
      ]),
    )
    // Production is untouched.
    expect(worker().secrets.get('WECHAT_TOKEN')).toBeDefined()
    expect(worker('wechat-edge-staging').secrets.get('WECHAT_TOKEN')).not.toBe(
      worker().secrets.get('WECHAT_TOKEN'),
    )
  })
})
