/**
 * CPU per push: the pure pipeline timed stage by stage, in Node 22 directly and in workerd by
 * timing whole requests from outside (its clocks stand still while a request computes), the
 * WebCrypto calls of a push in each mode, and our whole push against node-webot's pipeline in
 * Node, sampled alternately under the same conditions, in three trials.
 */

import { forgePushXml } from '../src/debug/forge.ts'
import { fixture, repeat, type Stage } from './pipeline.ts'
import { benchWorker } from './runtime.ts'
import { webotFixture } from './webot.ts'

export interface StageFigures {
  /** Microseconds per push, the fastest of the rounds. */
  readonly [stage: string]: number
}

/** One trial of the interleaved comparison: µs per push, each side's fastest sample. */
export interface Trial {
  readonly ours: { readonly plaintext: number; readonly safe: number }
  readonly webot: { readonly plaintext: number; readonly safe: number }
}

export interface MicroResults {
  readonly iterations: number
  readonly rounds: number
  readonly node: { readonly plaintext: StageFigures; readonly safe: StageFigures }
  readonly workerd: { readonly plaintext: StageFigures; readonly safe: StageFigures }
  /** node-webot's whole push in Node, from the median trial (by plaintext ratio). */
  readonly webot: { readonly plaintext: number; readonly safe: number }
  /** Ours in workerd against node-webot in Node, interleaved, trial by trial. */
  readonly trials: readonly Trial[]
  /** WebCrypto calls one push makes, by method, in workerd. */
  readonly webCryptoCalls: {
    readonly plaintext: Readonly<Record<string, number>>
    readonly safe: Readonly<Record<string, number>>
  }
}

/** How many trials the interleaved comparison runs: their spread is its stability. */
export const TRIALS = 3

/** A sample: microseconds per push over n pushes. */
type Sampler = (n: number) => Promise<number>

/**
 * Samples every stage once per round, round after round, and keeps each stage's fastest:
 * this machine is a shared VM whose noise comes and goes over seconds, and it only ever adds
 * time, so spreading each stage's samples over the whole run and keeping the minimum is the
 * steadiest estimate of what the code itself costs. A first round warms everything up.
 */
async function fastestOverRounds(
  samplers: Record<string, Sampler>,
  n: number,
  rounds: number,
): Promise<Record<string, number>> {
  const best: Record<string, number> = {}
  for (const sample of Object.values(samplers)) await sample(Math.ceil(n / 4))
  for (let round = 0; round < rounds; round++) {
    for (const [name, sample] of Object.entries(samplers)) {
      best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, await sample(n))
    }
  }
  return best
}

function inNode(stage: Stage): Sampler {
  return async (n) => {
    const started = performance.now()
    await repeat(stage, n)
    return ((performance.now() - started) * 1000) / n
  }
}

async function webCryptoCalls(url: URL, mode: string): Promise<Record<string, number>> {
  const response = await fetch(`${url}?mode=${mode}&stage=whole&calls`)
  if (!response.ok) throw new Error(await response.text())
  return (await response.json()) as Record<string, number>
}

function inWorkerd(url: URL, mode: string, stage: string): Sampler {
  const request = async (n: number) => {
    const started = performance.now()
    const response = await fetch(`${url}?mode=${mode}&stage=${stage}&n=${n}`)
    if (!response.ok) throw new Error(await response.text())
    await response.arrayBuffer()
    return performance.now() - started
  }
  return async (n) => {
    const empty = Math.min(await request(0), await request(0))
    return (((await request(n)) - empty) * 1000) / n
  }
}

export async function measurePipeline(
  iterations: number,
  rounds: number,
  compatibilityDate: string,
): Promise<MicroResults> {
  const nowSeconds = Math.floor(Date.now() / 1000)
  const ours = await fixture(nowSeconds)
  const xml = forgePushXml('text', { content: 'Hello, wechat-edge', createTime: nowSeconds })
  const theirs = await webotFixture(xml, nowSeconds)

  const mf = await benchWorker(new URL('./pipeline-worker.ts', import.meta.url), {
    compatibilityDate,
  })
  let workerdFigures: Record<string, number>
  const trials: Trial[] = []
  let calls: MicroResults['webCryptoCalls']
  try {
    const url = await mf.ready
    calls = {
      plaintext: await webCryptoCalls(url, 'plaintext'),
      safe: await webCryptoCalls(url, 'safe'),
    }
    const samplers: Record<string, Sampler> = {}
    for (const mode of ['plaintext', 'safe'] as const) {
      for (const name of Object.keys(ours[mode]))
        samplers[`${mode}.${name}`] = inWorkerd(url, mode, name)
    }
    workerdFigures = await fastestOverRounds(samplers, iterations, rounds)
    // Each side's sample right after the other's, round after round: whatever the machine does
    // meanwhile falls on both, and a trial's ratio is the comparison under one set of conditions.
    const alternating: Record<string, Sampler> = {
      'ours.plaintext': inWorkerd(url, 'plaintext', 'whole'),
      'webot.plaintext': inNode(theirs.plaintext),
      'ours.safe': inWorkerd(url, 'safe', 'whole'),
      'webot.safe': inNode(theirs.safe),
    }
    for (let trial = 0; trial < TRIALS; trial++) {
      const best = await fastestOverRounds(alternating, iterations, rounds)
      const figure = (name: string) => best[name] ?? Number.NaN
      trials.push({
        ours: { plaintext: figure('ours.plaintext'), safe: figure('ours.safe') },
        webot: { plaintext: figure('webot.plaintext'), safe: figure('webot.safe') },
      })
    }
  } finally {
    await mf.dispose()
  }

  const nodeSamplers: Record<string, Sampler> = {}
  for (const mode of ['plaintext', 'safe'] as const) {
    for (const [name, stage] of Object.entries(ours[mode]))
      nodeSamplers[`${mode}.${name}`] = inNode(stage)
  }
  const nodeFigures = await fastestOverRounds(nodeSamplers, iterations, rounds)

  const pick = (figures: Record<string, number>, mode: string) =>
    Object.fromEntries(
      Object.entries(figures)
        .filter(([key]) => key.startsWith(`${mode}.`))
        .map(([key, value]) => [key.slice(mode.length + 1), value]),
    )
  const byRatio = [...trials].sort(
    (a, b) => a.webot.plaintext / a.ours.plaintext - b.webot.plaintext / b.ours.plaintext,
  )
  const median = byRatio[Math.floor(byRatio.length / 2)]
  return {
    iterations,
    rounds,
    node: { plaintext: pick(nodeFigures, 'plaintext'), safe: pick(nodeFigures, 'safe') },
    workerd: { plaintext: pick(workerdFigures, 'plaintext'), safe: pick(workerdFigures, 'safe') },
    webot: median?.webot ?? { plaintext: Number.NaN, safe: Number.NaN },
    trials,
    webCryptoCalls: calls,
  }
}
