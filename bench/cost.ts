/**
 * `npm run cost`: what a push costs in binding operations, in dollars on Workers Paid, and how
 * many pushes a day the Free plan carries. Drives the reference mix through the real Worker
 * (bench/cost-worker.ts: every binding wrapped to count what is really called) under
 * Miniflare, kind by kind and path by path, and prints a table, the prices it used, and one
 * closing line:
 *
 *   reference mix: $X.XX per million pushes; free plan: N pushes/day (limited by <quota>)
 *
 * `--smoke` runs every part with a handful of pushes (CI does); `--json FILE` writes the figures.
 */

import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'
import { Miniflare } from 'miniflare'
import { fakeModel } from '../src/debug/fake-model.ts'
import { fakeUserNameOf } from '../src/debug/fake-platform.ts'
import { fakeWechat } from '../src/debug/fake-wechat.ts'
import {
  type ForgeFields,
  forgePlatformEventXml,
  forgePushXml,
  signPush,
} from '../src/debug/forge.ts'
import type { PushKind } from '../src/wechat/push.ts'
import type { Counts } from './cost-worker.ts'
import { SIGNER } from './pipeline.ts'
import { RUNTIME } from './runtime.ts'

const ROOT = new URL('..', import.meta.url).pathname
const OUT = `${ROOT}bench/.build-cost`
const { values: flags } = parseArgs({
  options: { smoke: { type: 'boolean', default: false }, json: { type: 'string' } },
})
const USERS = flags.smoke ? 3 : 40

/**
 * Workers Paid list prices, per unit, read on 2026-11-28 from Cloudflare's pricing pages (the
 * stored copies of developers.cloudflare.com/workers/platform/pricing/, /kv/platform/pricing/,
 * /queues/platform/pricing/, /durable-objects/platform/pricing/). Marginal prices past each
 * monthly inclusion: the $5 monthly minimum and the inclusions are left out.
 */
export const PRICES = {
  workerRequest: 0.3 / 1e6,
  kvRead: 0.5 / 1e6,
  kvWrite: 5 / 1e6,
  kvDelete: 5 / 1e6,
  kvList: 5 / 1e6,
  queueOperation: 0.4 / 1e6,
  doRequest: 0.15 / 1e6,
  doGbSecond: 12.5 / 1e6,
  rowRead: 0.001 / 1e6,
  rowWritten: 1 / 1e6,
} as const

/** Workers Free daily quotas, read from the same pages on 2026-11-28. */
export const FREE_PER_DAY = {
  'Workers requests': 100_000,
  'KV reads': 100_000,
  'KV writes': 1_000,
  'KV deletes': 1_000,
  'KV lists': 1_000,
  'Queues operations': 10_000,
  'Durable Objects requests': 100_000,
  'Durable Objects duration (GB-s)': 13_000,
  'SQLite rows read': 5_000_000,
  'SQLite rows written': 100_000,
} as const

/** A Durable Object is billed at 128 MB while it runs. */
const DO_GB = 0.128

/**
 * Where a push is sent: the env account (`/wechat`, the Worker's variables), an account of
 * `WECHAT_ACCOUNTS` (`/wechat/<id>`), and an authorizer of the third-party platform
 * (`/wechat/platform/<appid>`, always sealed with the platform's Token and key). The same mix
 * pushed to each must cost the same binding operations: accounts cost nothing per push.
 */
interface Target {
  readonly name: string
  readonly path: string
  readonly signer: {
    readonly token: string
    readonly appId: string
    readonly encodingAesKey: string
  }
  readonly mode: 'plaintext' | 'safe'
  /** The account's original id (gh_…) in its pushes' ToUserName, when not the forge's default. */
  readonly account?: string
}

/** The one entry of the run's WECHAT_ACCOUNTS (bench values, no real account's). */
const CONFIGURED = {
  id: 'shop',
  token: 'costShopToken7Kq2Xw9Lm4Rt8Vb3Nz6Yc1',
  appId: 'wxa1b2c3d4e5f60718',
  encodingAesKey: 'ShopKey0123456789abcdefghijklmnopqrstuvwxyz',
  appSecret: 'cost-shop-secret',
}
/** The run's third-party platform, and the authorizer its pushes are for. */
const PLATFORM = {
  appId: 'wxf0e1d2c3b4a59687',
  appSecret: 'cost-platform-secret',
  token: 'costPlatformTokenR7m2Kx9Qw4Lz8Vb3Nc6',
  encodingAesKey: 'PlatformKey0123456789abcdefghijklmnopqrstuv',
}
const AUTHORIZER_APPID = 'wx0a1b2c3d4e5f6071'
/** The admin API's token in the run (the authorize link is the operator's). */
const ADMIN_TOKEN = 'cost-admin-token-Xw9Lm4Rt8Vb3Nz6Yc1Hd5F'

// Safe mode, as an account with an EncodingAESKey is served (REQUIRE_ENCRYPTION=auto), and so
// that the assistant's answers count the memory it reads and writes (a plaintext body, signed
// by nobody, is answered from itself alone).
const TARGETS: readonly Target[] = [
  { name: 'env account', path: '/wechat', signer: SIGNER, mode: 'safe' },
  {
    name: 'WECHAT_ACCOUNTS account',
    path: `/wechat/${CONFIGURED.id}`,
    signer: CONFIGURED,
    mode: 'safe',
  },
  {
    name: 'platform authorizer',
    path: `/wechat/platform/${AUTHORIZER_APPID}`,
    signer: PLATFORM,
    mode: 'safe',
    // The platform admits only pushes that name the authorizer's own original id.
    account: fakeUserNameOf(AUTHORIZER_APPID),
  },
]
const ENV_TARGET = TARGETS[0] as Target

type Path = 'first delivery' | 'retry' | 'unfollow' | 'deferred' | 'assistant'

interface Scenario {
  readonly name: string
  readonly path: Path
  readonly kind: PushKind
  readonly fields?: ForgeFields
  /** Share of the reference mix. */
  readonly weight: number
  /** Pushes sent at once rather than one after another (each waits for a model). */
  readonly concurrent?: boolean
  /** How long nothing must move before the scenario counts as settled. */
  readonly quietMs?: number
  /**
   * The model's latency: the user's object is billed for its duration while its call is in
   * flight, which the RPC waits counted here do not all cover (the gap between the push's
   * attempt giving up waiting and its job asking).
   */
  readonly modelMs?: number
}

/** The fake model's latency in the assistant's scenarios: a fast answer, and a slow one. */
const FAST_MODEL_MS = 1_000
const SLOW_MODEL_MS = 6_000

// The event-push page's six pushes share what text, retries and unfollows leave.
const EVENTS = 0.68 / 6
const SCENARIOS: Scenario[] = [
  { name: 'subscribe', path: 'first delivery', kind: 'subscribe', weight: EVENTS },
  {
    name: 'subscribe (QR)',
    path: 'first delivery',
    kind: 'subscribe',
    fields: { scene: 'poster' },
    weight: EVENTS,
  },
  { name: 'scan', path: 'first delivery', kind: 'scan', weight: EVENTS },
  { name: 'location_report', path: 'first delivery', kind: 'location_report', weight: EVENTS },
  { name: 'click', path: 'first delivery', kind: 'click', weight: EVENTS },
  { name: 'view', path: 'first delivery', kind: 'view', weight: EVENTS },
  { name: 'text', path: 'first delivery', kind: 'text', weight: 0.2 },
  { name: 'text', path: 'retry', kind: 'text', weight: 0.1 },
  { name: 'unsubscribe', path: 'unfollow', kind: 'unsubscribe', weight: 0.02 },
  // Not in the mix: what one deferred reply costs (the test bot's `later …`: the push, the
  // job on its own queue, the typing indicator, one customer-service message).
  {
    name: 'text `later …`',
    path: 'deferred',
    kind: 'text',
    fields: { content: 'later hello' },
    weight: 0,
  },
  // Not in the mix: one AI assistant answer (the test bot's `ask …`, the fake model), ready
  // within the reply budget (a passive reply), and slow (success, typing, a customer-service
  // message from the later queue).
  {
    name: 'text `ask …` (fast model)',
    path: 'assistant',
    kind: 'text',
    fields: { content: `ask what is new today? [delay=${FAST_MODEL_MS}]` },
    weight: 0,
    concurrent: true,
    quietMs: 1_500,
    modelMs: FAST_MODEL_MS,
  },
  {
    name: 'text `ask …` (slow model)',
    path: 'assistant',
    kind: 'text',
    fields: { content: `ask what is new today? [delay=${SLOW_MODEL_MS}]` },
    weight: 0,
    concurrent: true,
    quietMs: SLOW_MODEL_MS + 2_000,
    modelMs: SLOW_MODEL_MS,
  },
]

/** Operations per push, as billed. */
interface PerPush {
  workerRequests: number
  kvReads: number
  kvWrites: number
  kvDeletes: number
  kvLists: number
  queueOperations: number
  doRequests: number
  /** Of those, to the AccessToken object (in doRequests already; not priced again). */
  tokenRequests: number
  doGbSeconds: number
  rowsRead: number
  rowsWritten: number
}

function perPush(counts: Counts, pushes: number): PerPush {
  // A message is written, read and deleted: three operations; each retry reads it once more.
  const queueOperations = counts.queueSends * 3 + counts.queueRetries
  // Queue consumer invocations are Worker requests too; DO alarms are DO requests.
  return {
    workerRequests: (counts.fetches + counts.queueInvocations) / pushes,
    kvReads: counts.kvReads / pushes,
    kvWrites: counts.kvWrites / pushes,
    kvDeletes: counts.kvDeletes / pushes,
    kvLists: counts.kvLists / pushes,
    queueOperations: queueOperations / pushes,
    doRequests: (counts.doRequests + counts.alarms) / pushes,
    tokenRequests: counts.tokenRequests / pushes,
    doGbSeconds: ((counts.doWallMs / 1000) * DO_GB) / pushes,
    rowsRead: counts.rowsRead / pushes,
    rowsWritten: counts.rowsWritten / pushes,
  }
}

function dollars(p: PerPush): number {
  return (
    p.workerRequests * PRICES.workerRequest +
    p.kvReads * PRICES.kvRead +
    p.kvWrites * PRICES.kvWrite +
    p.kvDeletes * PRICES.kvDelete +
    p.kvLists * PRICES.kvList +
    p.queueOperations * PRICES.queueOperation +
    p.doRequests * PRICES.doRequest +
    p.doGbSeconds * PRICES.doGbSecond +
    p.rowsRead * PRICES.rowRead +
    p.rowsWritten * PRICES.rowWritten
  )
}

function freeCapacity(p: PerPush): { pushes: number; quota: string } {
  const use: Record<keyof typeof FREE_PER_DAY, number> = {
    'Workers requests': p.workerRequests,
    'KV reads': p.kvReads,
    'KV writes': p.kvWrites,
    'KV deletes': p.kvDeletes,
    'KV lists': p.kvLists,
    'Queues operations': p.queueOperations,
    'Durable Objects requests': p.doRequests,
    'Durable Objects duration (GB-s)': p.doGbSeconds,
    'SQLite rows read': p.rowsRead,
    'SQLite rows written': p.rowsWritten,
  }
  let best = { pushes: Number.POSITIVE_INFINITY, quota: 'none' }
  for (const [quota, perDay] of Object.entries(FREE_PER_DAY)) {
    const used = use[quota as keyof typeof FREE_PER_DAY]
    if (used > 0 && perDay / used < best.pushes) best = { pushes: perDay / used, quota }
  }
  return { pushes: Math.floor(best.pushes), quota: best.quota }
}

/**
 * The reply's critical path under a model of binding latencies (ms). Published figures where
 * Cloudflare gives them; the rest are our assumptions, marked so.
 */
export const LATENCY_MODEL = {
  // A dedup lookup is a key never written before: a KV miss. Cloudflare's "We made Workers KV
  // up to 3x faster" (blog.cloudflare.com/faster-workers-kv, 2024-09-26) gives hot reads under
  // 1 ms but no figure for misses, which reach central storage: assumed 20 / 200.
  kvMiss: { p50: 20, p99: 200 },
  // "Median latency for sending messages has dropped from ~200ms to ~60ms"
  // (blog.cloudflare.com/how-we-built-cloudflare-queues, 2024-10-24); p99 assumed at the old
  // median, 200.
  queueSend: { p50: 60, p99: 200 },
  // One RPC to the user's Durable Object with a SQLite write, whose answer waits for the write
  // to be durable. WeChat's servers push from one region, so the Worker and the objects it
  // creates share a location; no published figure: assumed 10 / 50.
  durableObjectWrite: { p50: 10, p99: 50 },
  // The bot itself: CPU, measured by `npm run bench` (tens of µs): taken as 0.1 ms.
  bot: { p50: 0.1, p99: 0.1 },
} as const

/** Before: a KV lookup, then the Queue send and the bot side by side. After: the bot, then one call. */
export function criticalPath(percentile: 'p50' | 'p99') {
  const m = LATENCY_MODEL
  return {
    before: m.kvMiss[percentile] + Math.max(m.queueSend[percentile], m.bot[percentile]),
    after: m.bot[percentile] + m.durableObjectWrite[percentile],
  }
}

async function buildWorker(): Promise<string> {
  rmSync(OUT, { recursive: true, force: true })
  mkdirSync(OUT, { recursive: true })
  await build({
    entryPoints: [`${ROOT}bench/cost-worker.ts`],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    outfile: `${OUT}/index.js`,
    external: ['cloudflare:workers', 'node:*'],
    loader: { '.html': 'text' },
    alias: { 'is-unsafe': `${ROOT}src/wechat/is-unsafe-stub.ts` },
    logLevel: 'warning',
  })
  return `${OUT}/index.js`
}

const wechat = fakeWechat()
const model = fakeModel()
/** The model's tokens, as the fake model counted them in its answers. */
const tokens = { calls: 0, prompt: 0, completion: 0 }

/** The fake model's answer, its token counts noted. */
async function countedModel(request: Request): Promise<Response> {
  const response = await model.fetch(request)
  const usage = (await response
    .clone()
    .json()
    .catch(() => ({}))) as {
    usage?: { prompt_tokens?: number; completion_tokens?: number }
  }
  if (usage.usage) {
    tokens.calls++
    tokens.prompt += usage.usage.prompt_tokens ?? 0
    tokens.completion += usage.usage.completion_tokens ?? 0
  }
  return response
}

function start(scriptPath: string, compatibilityDate: string): Miniflare {
  return new Miniflare({
    modules: true,
    scriptPath,
    compatibilityDate,
    compatibilityFlags: RUNTIME.compatibilityFlags,
    bindings: {
      WECHAT_TOKEN: SIGNER.token,
      WECHAT_APPID: SIGNER.appId,
      WECHAT_ENCODING_AES_KEY: SIGNER.encodingAesKey,
      REQUIRE_ENCRYPTION: 'false',
      SIGNATURE_MAX_AGE_SECONDS: '300',
      REPLY_BUDGET_MS: '4500',
      QUEUE_RETRY_BASE_SECONDS: '0',
      DEBUG_CONSOLE: 'false',
      WECHAT_API_BASE: 'https://fake-wechat.test/',
      WECHAT_APPSECRET: 'cost-secret',
      WECHAT_TOKEN_URL: '',
      AI_BASE_URL: 'https://fake-model.test/v1/',
      AI_MODEL: 'fake-model',
      WECHAT_ACCOUNTS: JSON.stringify({
        [CONFIGURED.id]: {
          token: CONFIGURED.token,
          appId: CONFIGURED.appId,
          encodingAesKey: CONFIGURED.encodingAesKey,
          appSecret: CONFIGURED.appSecret,
          requireEncryption: 'false',
        },
      }),
      ADMIN_TOKEN,
      WECHAT_PLATFORM_APPID: PLATFORM.appId,
      WECHAT_PLATFORM_APPSECRET: PLATFORM.appSecret,
      WECHAT_PLATFORM_TOKEN: PLATFORM.token,
      WECHAT_PLATFORM_ENCODING_AES_KEY: PLATFORM.encodingAesKey,
    },
    // WeChat's API and the model, faked; nothing else leaves the Worker.
    outboundService: (request: Request) =>
      new URL(request.url).hostname === 'fake-model.test'
        ? countedModel(request)
        : wechat.fetch(request),
    kvNamespaces: ['DEAD_LETTERS', 'REPLY_CACHE'],
    queueProducers: { PUSHES: 'wechat-edge-pushes', LATER: 'wechat-edge-later' },
    queueConsumers: {
      'wechat-edge-pushes': { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 5 },
      'wechat-edge-later': { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 10 },
    },
    durableObjects: {
      USERS: { className: 'CountedUserState', useSQLite: true },
      ACCESS_TOKENS: { className: 'AccessToken', useSQLite: true },
      LEDGER: { className: 'Ledger', useSQLite: true },
      CAMPAIGNS: { className: 'CountedCampaigns', useSQLite: true },
      ASSISTANT_QUOTAS: { className: 'AssistantQuota', useSQLite: true },
      PLATFORM: { className: 'Platform', useSQLite: true },
    },
    handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
      if (process.env.COST_DEBUG) {
        stdout.pipe(process.stderr)
        stderr.pipe(process.stderr)
        return
      }
      stdout.resume()
      stderr.resume()
    },
  })
}

async function counts(mf: Miniflare, method: 'GET' | 'DELETE' = 'GET'): Promise<Counts> {
  const response = await mf.dispatchFetch('http://cost.local/__cost', { method })
  return response.json() as Promise<Counts>
}

/**
 * Waits until every message sent has been consumed and nothing has moved for `quietMs` (longer
 * than a deferred handler's pause, when one runs).
 */
async function settled(mf: Miniflare, quietMs = 300): Promise<Counts> {
  let last = ''
  let quietSince = Date.now()
  for (let i = 0; i < 400; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    const now = await counts(mf)
    const snapshot = JSON.stringify(now)
    if (snapshot !== last) quietSince = Date.now()
    if (now.queueMessages >= now.queueSends && Date.now() - quietSince >= quietMs) return now
    last = snapshot
  }
  throw new Error('the queues did not settle')
}

async function post(mf: Miniflare, xml: string, target: Target): Promise<void> {
  // The strict fake learns of the user's interaction as WeChat would: its windows open.
  await wechat.request('/fake/interact', { method: 'POST', body: xml })
  const { query, body } = await signPush(xml, target.signer, target.mode)
  const response = await mf.dispatchFetch(`http://cost.local${target.path}?${query}`, {
    method: 'POST',
    body,
  })
  if (response.status !== 200) throw new Error(`a push was answered ${response.status}`)
  await response.arrayBuffer()
}

/** A fake WeChat API call (the platform's endpoints), its JSON answer. */
async function fakeCall<T>(path: string, body: object): Promise<T> {
  const response = await wechat.request(path, { method: 'POST', body: JSON.stringify(body) })
  if (!response.ok) throw new Error(`the fake WeChat API answered ${path} ${response.status}`)
  return response.json() as Promise<T>
}

/**
 * The authorizer authorizes the platform, as WeChat and its administrator do: a ticket pushed,
 * an authorize link, the grant, the redirect that trades its code. An authorizer's users are
 * given storage only once the platform knows it (src/user/state.ts), so its pushes before that
 * would measure a refusal.
 */
async function authorizeTarget(mf: Miniflare): Promise<void> {
  const event = async (xml: string) => {
    const { query, body } = await signPush(xml, PLATFORM, 'safe')
    const response = await mf.dispatchFetch(`http://cost.local/wechat/platform?${query}`, {
      method: 'POST',
      body,
    })
    if ((await response.text()) !== 'success') throw new Error('a platform event was refused')
  }
  const { ticket } = await fakeCall<{ ticket: string }>('/fake/platform/ticket', {
    component_appid: PLATFORM.appId,
  })
  await event(
    forgePlatformEventXml(PLATFORM.appId, { infoType: 'component_verify_ticket', ticket }),
  )
  const linked = await mf.dispatchFetch('http://cost.local/admin/platform/authorize-link', {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
  })
  if (linked.status !== 200) throw new Error(`authorize-link answered ${linked.status}`)
  const link = new URL(((await linked.json()) as { desktop: string }).desktop)
  const granted = await fakeCall<{ auth_code: string; expires_in: number }>(
    '/fake/platform/authorize',
    {
      component_appid: PLATFORM.appId,
      pre_auth_code: link.searchParams.get('pre_auth_code') ?? '',
      authorizer_appid: AUTHORIZER_APPID,
    },
  )
  const redirect = new URL(link.searchParams.get('redirect_uri') ?? '')
  redirect.searchParams.set('auth_code', granted.auth_code)
  redirect.searchParams.set('expires_in', String(granted.expires_in))
  const page = await mf.dispatchFetch(redirect.toString())
  await page.arrayBuffer()
  if (page.status !== 200) throw new Error(`/platform/authorized answered ${page.status}`)
}

interface Measured {
  readonly per: PerPush
  /** Model tokens per push (the assistant's scenarios; zero elsewhere). */
  readonly promptTokens: number
  readonly completionTokens: number
}

async function measure(
  mf: Miniflare,
  scenario: Scenario,
  round: number,
  target: Target = ENV_TARGET,
): Promise<Measured> {
  const now = Math.floor(Date.now() / 1000)
  const users = Array.from(
    { length: USERS },
    (_, i) => `oCost${round}t${TARGETS.indexOf(target)}x${scenario.name.replace(/\W/g, '')}${i}`,
  )
  // Spread, not set: an undefined field would override the forge's default.
  const account = target.account === undefined ? {} : { account: target.account }
  // Followers with a history, as most pushes come from: a follow and a few pushes first.
  const history = ['subscribe', 'click', 'text', 'location_report'] as const
  for (const openid of users) {
    for (const [i, kind] of history.entries())
      await post(mf, forgePushXml(kind, { openid, ...account, createTime: now - 60 + i }), target)
  }
  const pushes = users.map((openid) =>
    forgePushXml(scenario.kind, { openid, ...account, createTime: now, ...scenario.fields }),
  )
  if (scenario.path === 'retry') for (const xml of pushes) await post(mf, xml, target)
  await settled(mf)
  await counts(mf, 'DELETE')
  const before = { ...tokens }
  if (scenario.concurrent) await Promise.all(pushes.map((xml) => post(mf, xml, target)))
  else for (const xml of pushes) await post(mf, xml, target)
  const quiet = scenario.quietMs ?? (scenario.path === 'deferred' ? 2_500 : 300)
  const counted = perPush(await settled(mf, quiet), pushes.length)
  const modelGbSeconds = ((scenario.modelMs ?? 0) / 1000) * DO_GB
  const per = { ...counted, doGbSeconds: Math.max(counted.doGbSeconds, modelGbSeconds) }
  return {
    per,
    promptTokens: (tokens.prompt - before.prompt) / pushes.length,
    completionTokens: (tokens.completion - before.completion) / pushes.length,
  }
}

/**
 * The reference mix from the rows measured: each push kind at its share, the shares of the kinds
 * measured summed to one (a smoke run measures only some of them for an account).
 */
function mixOf(rows: readonly ({ scenario: Scenario } & Measured)[]): PerPush {
  const mix: PerPush = {
    workerRequests: 0,
    kvReads: 0,
    kvWrites: 0,
    kvDeletes: 0,
    kvLists: 0,
    queueOperations: 0,
    doRequests: 0,
    tokenRequests: 0,
    doGbSeconds: 0,
    rowsRead: 0,
    rowsWritten: 0,
  }
  const weights = rows.reduce((sum, { scenario }) => sum + scenario.weight, 0)
  for (const { scenario, per } of rows) {
    for (const key of Object.keys(mix) as (keyof PerPush)[])
      mix[key] += (per[key] * scenario.weight) / weights
  }
  return mix
}

/**
 * The reference mix pushed to each account of TARGETS, the env account's rows already measured:
 * one line per account, and what differs from the env account's, by operation (DO duration
 * aside: wall time, not an operation).
 */
async function byAccount(
  mf: Miniflare,
  envRows: readonly ({ scenario: Scenario } & Measured)[],
): Promise<{
  lines: string[]
  mixes: Record<string, PerPush>
  rows: Record<string, ({ scenario: Scenario } & Measured)[]>
  differences: string[]
}> {
  const inMix = SCENARIOS.filter((scenario) => scenario.weight > 0)
  // A smoke run pushes two kinds to the other accounts: the part runs, its figures mean nothing.
  const measured = flags.smoke ? inMix.slice(0, 2) : inMix
  const envMeasured = envRows.filter(({ scenario }) => measured.includes(scenario))
  const envMix = mixOf(envMeasured)
  const mixes: Record<string, PerPush> = { [ENV_TARGET.name]: envMix }
  const rowsOf: Record<string, ({ scenario: Scenario } & Measured)[]> = {}
  await authorizeTarget(mf)
  for (const target of TARGETS.slice(1)) {
    const rows: ({ scenario: Scenario } & Measured)[] = []
    for (const [round, scenario] of measured.entries()) {
      rows.push({ scenario, ...(await measure(mf, scenario, round, target)) })
    }
    rowsOf[target.name] = rows
    mixes[target.name] = mixOf(rows)
  }
  const operations: (keyof PerPush)[] = [
    'workerRequests',
    'kvReads',
    'kvWrites',
    'kvDeletes',
    'kvLists',
    'queueOperations',
    'doRequests',
    'tokenRequests',
    'rowsRead',
    'rowsWritten',
  ]
  // Where they differ: by push kind and path, each operation per push against the env account's.
  const differences: string[] = []
  for (const [name, rows] of Object.entries(rowsOf)) {
    for (const [i, { scenario, per }] of rows.entries()) {
      const envPer = (envMeasured[i] as { per: PerPush }).per
      for (const operation of operations) {
        if (Math.abs(per[operation] - envPer[operation]) > 1e-9) {
          differences.push(
            `${name}, ${scenario.name} (${scenario.path}): ${operation} ${per[operation].toFixed(2)} against ${envPer[operation].toFixed(2)}`,
          )
        }
      }
    }
  }
  const header = ['account', 'URL', 'mode', 'Worker req', 'KV reads', 'KV writes', 'Queue ops']
  header.push('DO req', 'rows read', 'rows written', '$/M', 'Free plan pushes/day')
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => ' --- ').join('|')}|`,
    ...TARGETS.map((target) => {
      const mix = mixes[target.name] as PerPush
      const cells = [target.name, `\`${target.path}\``, target.mode, ...format(mix)]
      return `| ${cells.join(' | ')} | ${freeCapacity(mix).pushes} |`
    }),
  ]
  return { lines, mixes, rows: rowsOf, differences }
}

function format(p: PerPush): string[] {
  const n = (value: number) =>
    value === 0 ? '0' : value < 0.01 ? value.toExponential(1) : value.toFixed(2)
  return [
    n(p.workerRequests),
    n(p.kvReads),
    n(p.kvWrites + p.kvDeletes + p.kvLists),
    n(p.queueOperations),
    n(p.doRequests),
    n(p.rowsRead),
    n(p.rowsWritten),
    `$${(dollars(p) * 1e6).toFixed(2)}`,
  ]
}

async function main() {
  const { compatibilityDate } = RUNTIME
  const mf = start(await buildWorker(), compatibilityDate)
  await mf.ready
  try {
    const rows: ({ scenario: Scenario } & Measured)[] = []
    for (const [round, scenario] of SCENARIOS.entries()) {
      rows.push({ scenario, ...(await measure(mf, scenario, round)) })
    }
    const mix = mixOf(rows)
    const header = [
      'push',
      'path',
      'share',
      'Worker req',
      'KV reads',
      'KV writes',
      'Queue ops',
      'DO req',
      'rows read',
      'rows written',
      '$/M',
    ]
    const lines = [
      `| ${header.join(' | ')} |`,
      `|${header.map(() => ' --- ').join('|')}|`,
      ...rows.map(
        ({ scenario, per }) =>
          `| ${scenario.name} | ${scenario.path} | ${scenario.weight === 0 ? 'not in the mix' : `${(scenario.weight * 100).toFixed(1)}%`} | ${format(per).join(' | ')} |`,
      ),
      `| **reference mix** | | 100% | ${format(mix).join(' | ')} |`,
    ]
    console.log(lines.join('\n'))
    console.log(
      `\nPrices: Workers Paid list prices read 2026-11-28 (developers.cloudflare.com: workers, kv, queues, durable-objects pricing pages), past the monthly inclusions: Worker request $0.30/M, KV read $0.50/M, KV write/delete/list $5.00/M, Queue operation $0.40/M (3 per message), DO request $0.15/M, DO duration $12.50/M GB-s at 128 MB, SQLite row read $0.001/M, row written $1.00/M.`,
    )
    const accounts = await byAccount(mf, rows)
    console.log(
      `\nThe reference mix${flags.smoke ? ' (smoke: two kinds only)' : ''} pushed to each kind of account (binding operations per push):\n`,
    )
    console.log(accounts.lines.join('\n'))
    console.log(
      accounts.differences.length === 0
        ? 'Every account costs the same binding operations per push as the env account.'
        : `Where an account differs from the env account, per push: ${accounts.differences.join('; ')}`,
    )
    const free = freeCapacity(mix)
    const perMillion = dollars(mix) * 1e6
    console.log(
      `Free plan daily quotas (same pages): ${Object.entries(FREE_PER_DAY)
        .map(([quota, perDay]) => `${quota} ${perDay.toLocaleString('en-US')}`)
        .join(', ')}.`,
    )
    const p50 = criticalPath('p50')
    const p99 = criticalPath('p99')
    console.log(
      `Critical path to the answer (model; sources in bench/cost.ts): before (KV lookup, then Queue send ∥ bot) p50 ${p50.before.toFixed(0)} ms, p99 ${p99.before.toFixed(0)} ms; after (bot, then one Durable Object call) p50 ${p50.after.toFixed(0)} ms, p99 ${p99.after.toFixed(0)} ms.`,
    )
    if (flags.json) {
      writeFileSync(
        flags.json,
        JSON.stringify(
          {
            rows,
            mix,
            perMillion,
            free,
            criticalPath: { p50, p99 },
            byAccount: { mixes: accounts.mixes, rows: accounts.rows },
          },
          null,
          2,
        ),
      )
    }
    // The test bot's deferred reply sends one message: calls per push are calls per send.
    const deferred = rows.find(({ scenario }) => scenario.path === 'deferred')
    if (deferred) {
      console.log(
        `AccessToken object calls per 1,000 sends: ${(deferred.per.tokenRequests * 1000).toFixed(1)} (${USERS} deferred replies, one isolate: the first asks, the rest use its copy)`,
      )
    }
    for (const row of rows.filter(({ scenario }) => scenario.path === 'assistant')) {
      const answers = freeCapacity(row.per)
      const gbs = row.per.doGbSeconds
      console.log(
        `AI assistant, ${row.scenario.name}: $${(dollars(row.per) * 1000).toFixed(4)} of Cloudflare per 1,000 answers on Workers Paid past its inclusions (DO duration ${(gbs * 1000).toFixed(1)} GB-s of it: the user's object is active while the model answers, ${((row.scenario.modelMs ?? 0) / 1000).toFixed(1)} s here); Workers Free: ${answers.pushes} answers/day (limited by ${answers.quota}); model tokens per answer: ${row.promptTokens.toFixed(0)} in, ${row.completionTokens.toFixed(0)} out (the provider's price not included)`,
      )
    }
    console.log(
      `reference mix: $${perMillion.toFixed(2)} per million pushes; free plan: ${free.pushes} pushes/day (limited by ${free.quota})`,
    )
  } finally {
    await mf.dispose()
  }
}

await main()
