/**
 * CPU per push: the pure pipeline timed stage by stage, in Node 22 directly and in workerd by
 * timing whole requests from outside (its clocks stand still while a request computes), next
 * to node-webot's pipeline in Node.
 */

import { build } from 'esbuild'
import { Miniflare } from 'miniflare'
import { forgePushXml } from '../src/debug/forge.ts'
import { fixture, repeat, type Stage } from './pipeline.ts'
import { webotFixture } from './webot.ts'

export interface StageFigures {
  /** Microseconds per push, the fastest of several samples. */
  readonly [stage: string]: number
}

export interface MicroResults {
  readonly iterations: number
  readonly node: { readonly plaintext: StageFigures; readonly safe: StageFigures }
  readonly workerd: { readonly plaintext: StageFigures; readonly safe: StageFigures }
  readonly webot: { readonly plaintext: number; readonly safe: number }
}

const SAMPLES = 7

/**
 * The fastest of the samples: interference from the rest of the machine (a shared VM here)
 * only ever adds time, so the minimum is the steadiest estimate of what the code itself costs.
 */
function fastest(values: number[]): number {
  return Math.min(...values)
}

async function timeInNode(stage: Stage, n: number): Promise<number> {
  await repeat(stage, Math.ceil(n / 5))
  const samples: number[] = []
  for (let i = 0; i < SAMPLES; i++) {
    const started = performance.now()
    await repeat(stage, n)
    samples.push(((performance.now() - started) * 1000) / n)
  }
  return fastest(samples)
}

async function workerdRunner(compatibilityDate: string) {
  const bundle = await build({
    entryPoints: [new URL('./pipeline-worker.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    minify: true,
    write: false,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
  })
  const script = bundle.outputFiles[0]?.text ?? ''
  const mf = new Miniflare({ modules: true, script, compatibilityDate })
  const url = await mf.ready
  const request = async (mode: string, stage: string, n: number) => {
    const started = performance.now()
    const response = await fetch(`${url}?mode=${mode}&stage=${stage}&n=${n}`)
    if (!response.ok) throw new Error(await response.text())
    await response.arrayBuffer()
    return performance.now() - started
  }
  return {
    async time(mode: string, stage: string, n: number): Promise<number> {
      await request(mode, stage, Math.ceil(n / 5))
      const samples: number[] = []
      for (let i = 0; i < SAMPLES; i++) {
        const empty = Math.min(await request(mode, stage, 0), await request(mode, stage, 0))
        samples.push((((await request(mode, stage, n)) - empty) * 1000) / n)
      }
      return fastest(samples)
    },
    dispose: () => mf.dispose(),
  }
}

export async function measurePipeline(
  iterations: number,
  compatibilityDate: string,
): Promise<MicroResults> {
  const nowSeconds = Math.floor(Date.now() / 1000)
  const ours = await fixture(nowSeconds)
  const theirs = await webotFixture(
    forgePushXml('text', { content: 'Hello, wechat-edge', createTime: nowSeconds }),
    nowSeconds,
  )

  const node = { plaintext: {} as Record<string, number>, safe: {} as Record<string, number> }
  const workerd = { plaintext: {} as Record<string, number>, safe: {} as Record<string, number> }
  const runner = await workerdRunner(compatibilityDate)
  try {
    // A first pass warms every stage up, so that the JIT has seen all of them before any is
    // timed (a stage timed first otherwise pays for the others' compilation): only the second
    // pass counts.
    for (const pass of ['warm-up', 'measure']) {
      for (const mode of ['plaintext', 'safe'] as const) {
        for (const [name, stage] of Object.entries(ours[mode])) {
          const n = pass === 'warm-up' ? Math.ceil(iterations / 4) : iterations
          node[mode][name] = await timeInNode(stage, n)
          workerd[mode][name] = await runner.time(mode, name, n)
        }
      }
      await timeInNode(theirs.plaintext, Math.ceil(iterations / 4))
      await timeInNode(theirs.safe, Math.ceil(iterations / 4))
    }
  } finally {
    await runner.dispose()
  }
  return {
    iterations,
    node,
    workerd,
    webot: {
      plaintext: await timeInNode(theirs.plaintext, iterations),
      safe: await timeInNode(theirs.safe, iterations),
    },
  }
}
