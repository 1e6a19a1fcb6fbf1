/**
 * `npm run bench`: the bundle, CPU per push stage by stage, and throughput against the ceiling,
 * written to bench/results/ as JSON and a markdown table. `npm run bench -- --smoke` runs every
 * part for a moment (CI does, so the bench cannot rot); it measures nothing worth quoting.
 * `--cpu-only` skips the throughput runs: the bundle, CPU per push and the comparison alone.
 * `--ablation` runs only the plaintext Worker with one part at a time taken out, against itself.
 */

import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import type { Miniflare } from 'miniflare'
import { type AblationRow, ablationTable, measureAblation } from './ablation.ts'
import { measureHostile } from './hostile.ts'
import {
  bareWorker,
  bindingsOnlyWorker,
  edgeWorker,
  type LoadFigures,
  load,
  NEW_OBJECT_RUN_LIMIT,
  newObjectWorker,
} from './load.ts'
import { type MicroResults, measurePipeline, type Trial } from './micro.ts'
import { requestMix } from './mix.ts'
import { RUNTIME } from './runtime.ts'
import { measureStartup, type StartupResults } from './startup.ts'

const ROOT = new URL('..', import.meta.url).pathname
const BUILD = `${ROOT}bench/.build`
const RESULTS = `${ROOT}bench/results`

const { values: flags } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    'cpu-only': { type: 'boolean', default: false },
    ablation: { type: 'boolean', default: false },
    duration: { type: 'string' },
    connections: { type: 'string', default: '32' },
    iterations: { type: 'string' },
    followers: { type: 'string' },
  },
})
const smoke = flags.smoke
const duration = Number(flags.duration ?? (smoke ? 1 : 10))
const connections = Number(flags.connections)
const iterations = Number(flags.iterations ?? (smoke ? 200 : 5_000))
const rounds = smoke ? 2 : 9
const manyFollowers = Number(flags.followers ?? (smoke ? 1_000 : 100_000))
const poolSize = smoke ? 2_000 : 60_000

const { compatibilityDate } = RUNTIME

function log(line: string) {
  console.log(`bench: ${line}`)
}

function buildAsDeployed() {
  log('building as `wrangler deploy` would (--dry-run --outdir)')
  rmSync(BUILD, { recursive: true, force: true })
  const metafile = `${BUILD}/meta.json`
  const args = ['wrangler', 'deploy', '--dry-run', '--outdir', BUILD, '--metafile', metafile]
  const output = execFileSync('npx', args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  })
  const [, total, gzip] = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(output) ?? []
  const parts = partsOf(JSON.parse(readFileSync(metafile, 'utf8')) as Metafile)
  rmSync(metafile)
  // What is uploaded: the script and the modules beside it, not the source map.
  const uploaded = readdirSync(BUILD).filter(
    (file) => !file.endsWith('.map') && file !== 'README.md',
  )
  const bytes = uploaded.map((file) => readFileSync(`${BUILD}/${file}`))
  return {
    scriptPath: `${BUILD}/index.js`,
    bundle: {
      files: uploaded,
      wranglerTotalKiB: Number(total),
      wranglerGzipKiB: Number(gzip),
      minifiedBytes: bytes.reduce((sum, file) => sum + file.length, 0),
      gzipBytes: bytes.reduce((sum, file) => sum + gzipSync(file, { level: 9 }).length, 0),
      parts,
    },
  }
}

/** The part of esbuild's metafile the bench reads: each output's bytes by input module. */
interface Metafile {
  readonly outputs: Record<string, { readonly inputs: Record<string, { bytesInOutput: number }> }>
}

/**
 * Minified bytes by part, largest first: a package (its helpers apart), or a folder of src/
 * (a file at its top alone), from esbuild's metafile of the deployed build.
 */
function partsOf(meta: Metafile): Record<string, number> {
  const parts: Record<string, number> = {}
  for (const [output, { inputs }] of Object.entries(meta.outputs)) {
    if (output.endsWith('.map')) continue
    for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
      const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)
      const part = packaged ? packaged[1] : (/^src\/[^/]+/.exec(input)?.[0] ?? input)
      if (part) parts[part] = (parts[part] ?? 0) + bytesInOutput
    }
  }
  return Object.fromEntries(Object.entries(parts).sort(([, a], [, b]) => b - a))
}

async function throughput(scriptPath: string) {
  const runs: Record<string, LoadFigures> = {}
  log(
    `preparing ${poolSize} plaintext and safe-mode pushes from 1 follower, ${manyFollowers} from ${manyFollowers} followers`,
  )
  const plainOne = await requestMix({ count: poolSize, followers: 1, mode: 'plaintext' })
  const safeOne = await requestMix({ count: poolSize, followers: 1, mode: 'safe' })
  const plainMany = await requestMix({
    count: Math.max(poolSize, manyFollowers),
    followers: manyFollowers,
    mode: 'plaintext',
  })

  /** A reference Worker loaded with the plaintext pool, then disposed. */
  const reference = async (worker: Miniflare, what: string, amount?: number) => {
    try {
      log(what)
      return await load(worker, plainOne, connections, duration, { next: 0 }, amount)
    } finally {
      await worker.dispose()
    }
  }
  runs.ceiling = await reference(
    bareWorker(compatibilityDate as string),
    `ceiling: a bare Worker answering success, ${connections} connections, ${duration} s`,
  )
  runs.bindingsOnly = await reference(
    bindingsOnlyWorker(compatibilityDate as string),
    'bindings only: a KV get, a Queue send and a KV put per request, nothing else',
  )
  runs.newObjectFloor = await reference(
    newObjectWorker(compatibilityDate as string),
    `new objects only: a new Durable Object per request, doing nothing (${NEW_OBJECT_RUN_LIMIT} at most: Miniflare's limit of live SQLite objects)`,
    NEW_OBJECT_RUN_LIMIT,
  )

  const edge = edgeWorker(scriptPath, compatibilityDate as string)
  try {
    log('wechat-edge, plaintext, 1 follower, a fresh dedup store')
    runs.plaintext = await load(edge, plainOne, connections, duration)
    log('wechat-edge, safe mode, 1 follower')
    runs.safe = await load(edge, safeOne, connections, duration)
    log(`wechat-edge, plaintext, ${manyFollowers} distinct followers`)
    runs.manyFollowers = await load(edge, plainMany, connections, duration)
    // Each request of that run came from the next follower in turn, retries aside.
    const followersReached = Math.min(manyFollowers, runs.manyFollowers.requests)
    log(`  …${followersReached} distinct followers reached`)
    const stored = runs.plaintext.requests + runs.safe.requests + runs.manyFollowers.requests
    log(`wechat-edge, plaintext, 1 follower, an aged dedup store (about ${stored} replies written)`)
    const fresh = await requestMix({ count: poolSize, followers: 1, mode: 'plaintext' })
    runs.agedStore = await load(edge, fresh, connections, duration)
    return { runs, followersReached, storedReplies: stored }
  } finally {
    await edge.dispose()
  }
}

/** Seconds per ablation burst, and pairs of bursts (full Worker, variant) per part. */
const ABLATION_SECONDS = smoke ? 1 : 2
const ABLATION_PAIRS = smoke ? 1 : 8

/** The plaintext Worker with one part at a time taken out, against the full one (bench/ablation.ts). */
async function ablation(): Promise<AblationRow[]> {
  return measureAblation({
    // Both sides of a part draw from it: 8 pairs of 2 s at up to about 2,000 req/s each.
    pool: () => requestMix({ count: smoke ? 2_000 : 40_000, followers: 1, mode: 'plaintext' }),
    connections,
    seconds: ABLATION_SECONDS,
    pairs: ABLATION_PAIRS,
    // A smoke run builds every variant (a stale patch fails it) and runs one for a moment.
    ...(smoke ? { parts: ['bot'] } : {}),
    log: (line) => log(`ablation: ${line}`),
  })
}

function ablationSection(rows: readonly AblationRow[]): string[] {
  return [
    `### Where plaintext throughput goes: one part taken out at a time (${ABLATION_PAIRS} pairs of alternating ${ABLATION_SECONDS} s bursts per part, ${connections} connections; read the change against \`nothing\`'s)`,
    '',
    ...ablationTable(rows),
    '',
  ]
}

function percent(run: LoadFigures, reference: LoadFigures | undefined): string {
  return reference
    ? `${((100 * run.requestsPerSecond) / reference.requestsPerSecond).toFixed(0)}%`
    : '–'
}

/** The interleaved comparison, trial by trial, with each mode's spread over the trials. */
function comparison(trials: readonly Trial[]): string[] {
  const ratio = (trial: Trial, mode: 'plaintext' | 'safe') => trial.webot[mode] / trial.ours[mode]
  const spread = (mode: 'plaintext' | 'safe') => {
    const ratios = trials.map((trial) => ratio(trial, mode))
    const low = Math.min(...ratios)
    const high = Math.max(...ratios)
    return `${low.toFixed(2)}–${high.toFixed(2)}× (${((100 * (high - low)) / low).toFixed(0)}%)`
  }
  return [
    '| trial | plaintext, ours | node-webot | ratio | safe, ours | node-webot | ratio |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...trials.map(
      (trial, i) =>
        `| ${i + 1} | ${trial.ours.plaintext.toFixed(1)} | ${trial.webot.plaintext.toFixed(1)} | ${ratio(trial, 'plaintext').toFixed(2)}× | ${trial.ours.safe.toFixed(1)} | ${trial.webot.safe.toFixed(1)} | ${ratio(trial, 'safe').toFixed(2)}× |`,
    ),
    `| spread | | | ${spread('plaintext')} | | | ${spread('safe')} |`,
  ]
}

/** WebCrypto calls per push, by method, in each mode. */
function webCryptoCalls(calls: MicroResults['webCryptoCalls']): string[] {
  const methods = [...new Set([...Object.keys(calls.plaintext), ...Object.keys(calls.safe)])].sort()
  const row = (mode: 'plaintext' | 'safe') => {
    const counts = methods.map((method) => calls[mode][method] ?? 0)
    return `| ${mode} | ${counts.join(' | ')} | ${counts.reduce((sum, count) => sum + count, 0)} |`
  }
  return [
    `| mode | ${methods.join(' | ')} | total |`,
    `|---|${methods.map(() => '---:|').join('')}---:|`,
    row('plaintext'),
    row('safe'),
  ]
}

/** Start-up with 50 accounts against one: the configuration read, and a fresh isolate's first push. */
function startupTable(startup: StartupResults): string[] {
  const { configReadUs: read, firstRequestMs: first } = startup
  const ms = (value: number) => value.toFixed(2)
  return [
    '| | 1 account | 50 accounts | 50 − 1 |',
    '|---|---:|---:|---:|',
    `| configuration read, workerd (µs, fastest of the rounds) | ${read.one.toFixed(1)} | ${read.fifty.toFixed(1)} | ${(read.fifty - read.one).toFixed(1)} µs |`,
    `| a fresh isolate's first push (ms, median of ${first.samples.one.length}; bare Worker ${ms(first.bare)}) | ${ms(first.one)} | ${ms(first.fifty)} | ${ms(first.fifty - first.one)} ms |`,
  ]
}

function table(results: {
  bundle: ReturnType<typeof buildAsDeployed>['bundle']
  micro: MicroResults
  hostile: Record<string, number>
  startup: StartupResults
  load: Awaited<ReturnType<typeof throughput>>
}) {
  const { bundle, micro, hostile, startup, load: loaded } = results
  // Below 0.1 µs the difference of two request timings is jitter, not a measurement.
  const us = (value: number | undefined) =>
    value === undefined ? '–' : value < 0.1 ? '<0.1' : value.toFixed(1)
  const stages = [
    'verify',
    'open',
    'decrypt',
    'parse',
    'dedup',
    'route',
    'reply',
    'encrypt',
    'seal',
    'whole',
  ]
  const lines = [
    `## wechat-edge bench (${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version})`,
    '',
    '### Bundle (what `wrangler deploy` uploads)',
    '',
    '| minified | gzip (wrangler) | gzip -9 |',
    '|---:|---:|---:|',
    `| ${(bundle.minifiedBytes / 1024).toFixed(1)} KiB | ${bundle.wranglerGzipKiB} KiB | ${(bundle.gzipBytes / 1024).toFixed(1)} KiB |`,
    '',
    "What each part adds to that build, minified (esbuild's metafile; gzip is not split by module):",
    '',
    '| part | minified | of the bundle |',
    '|---|---:|---:|',
    ...Object.entries(bundle.parts).map(
      ([part, bytes]) =>
        `| ${part} | ${(bytes / 1024).toFixed(1)} KiB | ${((100 * bytes) / bundle.minifiedBytes).toFixed(1)}% |`,
    ),
    '',
    `### CPU per push, µs (a text message; the fastest of ${micro.rounds} rounds of ${micro.iterations}, spread over the run)`,
    '',
    '| stage | plaintext, workerd | plaintext, Node 22 | safe, workerd | safe, Node 22 |',
    '|---|---:|---:|---:|---:|',
    ...stages.map(
      (stage) =>
        `| ${stage} | ${us(micro.workerd.plaintext[stage])} | ${us(micro.node.plaintext[stage])} | ${us(micro.workerd.safe[stage])} | ${us(micro.node.safe[stage])} |`,
    ),
    `| node-webot \`wechat\` 2.1, whole (median trial below) | | ${us(micro.webot.plaintext)} | | ${us(micro.webot.safe)} |`,
    '',
    '### WebCrypto calls per push (the whole push above, in workerd, counted inside the bench Worker)',
    '',
    ...webCryptoCalls(micro.webCryptoCalls),
    '',
    `### Ours in workerd against node-webot in Node 22, interleaved (µs per push, each the fastest of ${micro.rounds} alternating samples of ${micro.iterations})`,
    '',
    ...comparison(micro.trials),
    '',
    '### Hostile bodies of 64 KiB, refused before `msg_signature` (Node 22, ms, the slowest of the rounds)',
    '',
    '| body | ms |',
    '|---|---:|',
    ...Object.entries(hostile).map(([body, ms]) => `| ${body} | ${ms.toFixed(2)} |`),
    '',
    '### Start-up with 50 accounts in WECHAT_ACCOUNTS against one (interleaved; bench/startup.ts)',
    '',
    ...startupTable(startup),
    '',
    `### Throughput (Miniflare, loopback, ${connections} connections, ${duration} s each)`,
    '',
    '| run | req/s | of ceiling | of bindings only | p50 ms | p99 ms | requests | non-2xx | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...Object.entries(loaded.runs).map(
      ([name, run]) =>
        `| ${name} | ${run.requestsPerSecond.toFixed(0)} | ${percent(run, loaded.runs.ceiling)} | ${percent(run, loaded.runs.bindingsOnly)} | ${run.p50Ms} | ${run.p99Ms} | ${run.requests} | ${run.non2xx} | ${run.errors} |`,
    ),
    '',
    `newObjectFloor: a Worker that makes a new Durable Object for each request and nothing else, the floor under a new follower's first push here (manyFollowers is ${percent(loaded.runs.manyFollowers ?? loaded.runs.ceiling!, loaded.runs.newObjectFloor)} of it). manyFollowers: pushes from ${loaded.followersReached} distinct followers in turn; agedStore: after about ${loaded.storedReplies} replies were stored. Each push makes one call to its user's Durable Object; the Queue consumers are not running (see bench/README.md).`,
    '',
  ]
  return lines.join('\n')
}

if (flags.ablation) {
  const rows = await ablation()
  const markdown = ablationSection(rows).join('\n')
  mkdirSync(RESULTS, { recursive: true })
  const json = { date: new Date().toISOString(), smoke, compatibilityDate, ablation: rows }
  writeFileSync(`${RESULTS}/ablation.json`, `${JSON.stringify(json, null, 2)}\n`)
  writeFileSync(`${RESULTS}/ablation.md`, markdown)
  console.log(`\n${markdown}`)
  log('wrote bench/results/ablation.json and bench/results/ablation.md')
  process.exit(rows.some((row) => row.non2xx > 0) ? 1 : 0)
}

const { scriptPath, bundle } = buildAsDeployed()
log(
  `bundle: ${(bundle.minifiedBytes / 1024).toFixed(1)} KiB minified, ${bundle.wranglerGzipKiB} KiB gzip`,
)
log(
  `timing the pipeline (${iterations} pushes a sample), in Node 22 and in workerd, and node-webot's`,
)
const micro = await measurePipeline(iterations, rounds, compatibilityDate)
const hostile = await measureHostile(rounds)
log('start-up: the configuration read and a fresh isolate’s first push, 50 accounts against one')
const startup = await measureStartup(scriptPath, smoke)
const loaded = flags['cpu-only']
  ? { runs: {} as Record<string, LoadFigures>, followersReached: 0, storedReplies: 0 }
  : await throughput(scriptPath)
const ablated = flags['cpu-only'] ? [] : await ablation()
const results = {
  date: new Date().toISOString(),
  smoke,
  compatibilityDate,
  bundle,
  micro,
  hostile,
  startup,
  load: loaded,
  ablation: ablated,
}
const markdown = [
  table({ bundle, micro, hostile, startup, load: loaded }),
  ...(ablated.length > 0 ? ablationSection(ablated) : []),
].join('\n')
mkdirSync(RESULTS, { recursive: true })
const name = smoke ? 'smoke' : flags['cpu-only'] ? 'cpu' : 'latest'
writeFileSync(`${RESULTS}/${name}.json`, `${JSON.stringify(results, null, 2)}\n`)
writeFileSync(`${RESULTS}/${name}.md`, markdown)
console.log(`\n${markdown}`)
log(`wrote bench/results/${name}.json and bench/results/${name}.md`)
// A wrong answer fails the bench; a dropped connection is the harness's (the bindings-only
// Worker sees them too under load) and is only reported.
const { ceiling, bindingsOnly, ...edgeRuns } = loaded.runs
const failed =
  Object.values(edgeRuns).some((run) => run.non2xx > 0 || run.requests === 0) ||
  ablated.some((row) => row.non2xx > 0)
process.exit(failed ? 1 : 0)
