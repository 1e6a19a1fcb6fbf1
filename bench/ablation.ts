/**
 * Where the plaintext throughput goes: the deployed Worker rebuilt from the same modules with
 * one part at a time taken out (a source patch applied at build time, src/ untouched), each
 * variant run against the unpatched Worker in alternating runs (full, variant, variant, full,
 * …) under the same harness as the throughput runs, so that only the ratio is read: the
 * machine is shared. A patch whose text is no longer in its file fails the build, so that the
 * part cannot silently measure nothing. `nothing` runs the full Worker against itself: the
 * noise the other rows are to be read against.
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { build, type Plugin } from 'esbuild'
import { BARE_WORKER, edgeWorker, load } from './load.ts'
import type { PreparedRequest } from './mix.ts'
import { RUNTIME } from './runtime.ts'

const ROOT = new URL('..', import.meta.url).pathname

interface Patch {
  /** The file under src/. */
  readonly file: string
  /** Text that must occur exactly once in it. */
  readonly find: string
  readonly replace: string
}

/** Each part of the request path, and the patches that take it out. */
export const ABLATIONS: Readonly<
  Record<
    string,
    {
      readonly what: string
      readonly patches: readonly Patch[]
      /** Instead of a patched build: a whole script (the bare Worker, for the total). */
      readonly script?: string
    }
  >
> = {
  nothing: { what: 'the full Worker against itself (the noise)', patches: [] },
  everything: {
    what: 'everything: the bare Worker (reads the request, answers `success`), the whole gap',
    patches: [],
    script: BARE_WORKER,
  },
  classes: {
    what: 'everything but the classes: the bare Worker exporting empty Durable Object classes of the namespaces the harness binds',
    patches: [],
    script: `import { DurableObject } from 'cloudflare:workers'
export class UserState extends DurableObject {}
export class Ledger extends DurableObject {}
export class Campaigns extends DurableObject {}
${BARE_WORKER}`,
  },
  app: {
    what: "the app: the Worker's fetch answers `success` before Hono and the request id (the same bundle, bindings and Durable Object classes)",
    patches: [
      {
        file: 'worker.ts',
        find: "return withRequestId(request.headers.get('Cf-Ray'), () => app.fetch(request, env, ctx))",
        replace: "return new Response('success')",
      },
    ],
  },
  push: {
    what: "the push's whole handling (verify, read, open, parse, dedup key, bot, the user's object, the seal, the log line): `/wechat` answers `success` in the same app",
    patches: [
      {
        file: 'http/app.ts',
        find: "app.post('/wechat', (c) => receive(c, ENV_ACCOUNT))",
        replace: "app.post('/wechat', (c) => c.text('success'))",
      },
    ],
  },
  durable: {
    what: "the user's Durable Object call: the push answered as received without it (a measurement, not a design)",
    patches: [
      {
        file: 'http/answer.ts',
        find: 'owner.stub.receive({',
        replace: "((_arrival: unknown) => Promise.resolve({ outcome: 'received' as const }))({",
      },
    ],
  },
  bot: {
    what: "the bot's route work: an empty Router instead of src/default-bot.ts (every push answered `success`)",
    patches: [
      {
        file: 'index.ts',
        find: "import { bot } from './default-bot.ts'",
        replace: "import { Router } from './bot/index.ts'\nconst bot = new Router()",
      },
    ],
  },
  campaigns: {
    what: "the campaign count: a QR follow's or scan's call to the Campaigns object",
    patches: [
      {
        file: 'user/state.ts',
        find: "if (admission.take === 'first') await this.#countScene(push)",
        replace: '',
      },
    ],
  },
  windows: {
    what: 'the reply-window bookkeeping: the window columns of the profile upsert',
    patches: [
      {
        file: 'user/profile.ts',
        find: 'const opens = windowOpenedBy(push)',
        replace: 'const opens = null',
      },
    ],
  },
  alarm: {
    what: "the retention alarm: the user's object reads (and may set) its alarm after every push",
    patches: [
      {
        file: 'user/state.ts',
        find: 'the alarm then finds the rest (lifecycle.ts).\n    await this.#wakeBy(now + RETENTION_MS)',
        replace: '',
      },
    ],
  },
  assistant: {
    what: "the assistant's hook in the user's object (what was handed out for the push)",
    patches: [
      {
        file: 'user/state.ts',
        find: 'const fallback = this.#assistant.received(',
        replace: 'const fallback = null && this.#assistant.received(',
      },
    ],
  },
  sendPath: {
    what: 'the send path made per push: the WeChat client, the notifier, the web links',
    patches: [
      { file: 'http/app.ts', find: 'wechat: talkerFor(c.env, account),', replace: 'wechat: null,' },
      {
        file: 'http/app.ts',
        find: 'webLink: webLinkFor(c.env, account.id, workerOrigin),',
        replace: "webLink: () => '',",
      },
      {
        file: 'http/app.ts',
        find: 'notifier: notifierOf(objects, talkerFor(c.env, account), account.id),',
        replace: 'notifier: null,',
      },
    ],
  },
  logs: {
    what: "the log lines and their request id: no push's line, no AsyncLocalStorage",
    patches: [
      { file: 'log.ts', find: 'console.log(record(event, fields))', replace: '' },
      {
        file: 'log.ts',
        find: 'return requestIds.run(id || crypto.randomUUID(), work)',
        replace: 'return work()',
      },
    ],
  },
  asyncLocalStorage: {
    what: "node:async_hooks: the log's AsyncLocalStorage replaced by a stand-in that keeps no store (no line has a request id)",
    patches: [
      {
        file: 'log.ts',
        find: "import { AsyncLocalStorage } from 'node:async_hooks'",
        replace:
          'class AsyncLocalStorage<T> {\n  run<R>(_store: T, work: () => R): R {\n    return work()\n  }\n  getStore(): T | undefined {\n    return undefined\n  }\n}',
      },
    ],
  },
  accountLookup: {
    what: 'the per-account lookup: the env account taken directly, not found by id',
    patches: [
      {
        file: 'http/app.ts',
        find: "const account = accountToServe(c.env, id, 'configured')",
        replace: 'const account = readConfig(c.env).env',
      },
    ],
  },
}

/** An esbuild plugin that applies a variant's patches to the files they name. */
function patching(patches: readonly Patch[]): Plugin {
  const byFile = new Map<string, Patch[]>()
  for (const patch of patches) {
    const path = `${ROOT}src/${patch.file}`
    byFile.set(path, [...(byFile.get(path) ?? []), patch])
  }
  return {
    name: 'ablation',
    setup(plugin) {
      plugin.onLoad({ filter: /\/src\/.*\.ts$/ }, (args) => {
        const own = byFile.get(args.path)
        if (!own) return undefined
        let contents = readFileSync(args.path, 'utf8')
        for (const { find, replace, file } of own) {
          const at = contents.indexOf(find)
          if (at < 0 || contents.indexOf(find, at + 1) >= 0) {
            throw new Error(`ablation: src/${file} no longer has exactly one "${find}"`)
          }
          contents = contents.slice(0, at) + replace + contents.slice(at + find.length)
        }
        return { contents, loader: 'ts' }
      })
    },
  }
}

/** A whole script, written where the builds go. */
function written(name: string, script: string): string {
  const path = `${ROOT}bench/.build-ablation/${name}.js`
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, script)
  return path
}

/** The deployed entry built as wrangler builds it (its aliases, minified), patched. */
async function buildVariant(name: string, patches: readonly Patch[]): Promise<string> {
  const outfile = `${ROOT}bench/.build-ablation/${name}.js`
  const alias = Object.fromEntries(
    Object.entries(RUNTIME.alias).map(([from, to]) => [
      from,
      `${ROOT}${String(to).replace(/^\.\//, '')}`,
    ]),
  )
  await build({
    entryPoints: [`${ROOT}src/index.ts`],
    bundle: true,
    format: 'esm',
    minify: true,
    outfile,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    external: ['node:*', 'cloudflare:*'],
    loader: { '.html': 'text' },
    alias,
    plugins: [patching(patches)],
    logLevel: 'warning',
  })
  return outfile
}

export interface AblationRow {
  readonly part: string
  readonly what: string
  /** Requests per second, the full Worker's runs and the variant's, in the order run. */
  readonly full: readonly number[]
  readonly without: readonly number[]
  readonly non2xx: number
  /** The median over the pairs of the variant's req/s over the full Worker's, minus one. */
  readonly change: number
  /** The lowest and highest pair's change. */
  readonly spread: readonly [number, number]
}

/** The two Workers of a part, each with its own store and its own place in the pool. */
interface Side {
  readonly worker: ReturnType<typeof edgeWorker>
  readonly cursor: { next: number }
  readonly runs: number[]
  non2xx: number
}

function side(scriptPath: string): Side {
  const worker = edgeWorker(scriptPath, RUNTIME.compatibilityDate as string)
  return { worker, cursor: { next: 0 }, runs: [], non2xx: 0 }
}

async function burst(
  on: Side,
  pool: readonly PreparedRequest[],
  connections: number,
  seconds: number,
): Promise<number> {
  const figures = await load(on.worker, pool, connections, seconds, on.cursor)
  on.non2xx += figures.non2xx
  return figures.requestsPerSecond
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length / 2
  return sorted.length % 2 === 1
    ? (sorted[Math.floor(middle)] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/**
 * Every variant built (so that a stale patch fails even a smoke run), then `parts` of them run
 * against the full Worker: both started side by side, warmed, then `pairs` bursts of `seconds`
 * each, one on each side, the order alternating pair by pair, each side going on through the
 * pool (new pushes, as the throughput runs send). The change is the median of the pairs'
 * ratios: a burst the machine disturbed moves one pair, not the figure.
 */
export async function measureAblation(options: {
  /**
   * A fresh pool for each part: signatures are 300 s old at most (SIGNATURE_MAX_AGE_SECONDS),
   * and the whole ablation takes longer than that.
   */
  readonly pool: () => Promise<readonly PreparedRequest[]>
  readonly connections: number
  readonly seconds: number
  readonly pairs: number
  readonly parts?: readonly string[]
  readonly log: (line: string) => void
}): Promise<AblationRow[]> {
  const { connections, seconds, pairs, log } = options
  const scripts: Record<string, string> = { full: await buildVariant('full', []) }
  for (const [part, { patches, script }] of Object.entries(ABLATIONS)) {
    scripts[part] = script === undefined ? await buildVariant(part, patches) : written(part, script)
  }
  const rows: AblationRow[] = []
  for (const part of options.parts ?? Object.keys(ABLATIONS)) {
    const ablation = ABLATIONS[part]
    if (!ablation) throw new Error(`no ablation ${part}`)
    log(`without ${part}: ${ablation.what}`)
    const pool = await options.pool()
    const full = side(scripts.full as string)
    const without = side(scripts[part] as string)
    try {
      for (const warm of [full, without]) await burst(warm, pool, connections, 1)
      const ratios: number[] = []
      for (let pair = 0; pair < pairs; pair++) {
        const order = pair % 2 === 0 ? [full, without] : [without, full]
        for (const on of order) on.runs.push(await burst(on, pool, connections, seconds))
        ratios.push((without.runs[pair] as number) / (full.runs[pair] as number))
      }
      rows.push({
        part,
        what: ablation.what,
        full: full.runs,
        without: without.runs,
        non2xx: full.non2xx + without.non2xx,
        change: median(ratios) - 1,
        spread: [Math.min(...ratios) - 1, Math.max(...ratios) - 1],
      })
      log(`  ${part}: ${(100 * (median(ratios) - 1)).toFixed(1)}% (median of ${pairs} pairs)`)
    } finally {
      await Promise.all([full.worker.dispose(), without.worker.dispose()])
    }
  }
  return rows
}

/** The table: part taken out → req/s without it, the full Worker's beside it, the change. */
export function ablationTable(rows: readonly AblationRow[]): string[] {
  const mean = (values: readonly number[]) =>
    values.reduce((total, value) => total + value, 0) / Math.max(1, values.length)
  const percent = (value: number) => `${value >= 0 ? '+' : ''}${(100 * value).toFixed(1)}%`
  return [
    '| taken out | req/s without it | full Worker, same bursts | change (median pair) | pairs, lowest – highest | non-2xx |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (row) =>
        `| ${row.part}: ${row.what} | ${mean(row.without).toFixed(0)} | ${mean(row.full).toFixed(0)} | ${percent(row.change)} | ${percent(row.spread[0])} – ${percent(row.spread[1])} | ${row.non2xx} |`,
    ),
  ]
}
