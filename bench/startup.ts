/**
 * Start-up with 50 accounts against one: what the first request of a fresh isolate spends
 * reading the configuration when `WECHAT_ACCOUNTS` holds 50 accounts, and when it holds one.
 * Two measurements, each interleaved (one, fifty, one, fifty, …) so that the machine's load
 * falls on both sides:
 *
 * - **The configuration read** in workerd (bench/startup-worker.ts): readConfig from a fresh
 *   env n times in one request, timed from outside, (T(n) − T(0)) / n, the fastest of the
 *   rounds: the part of a first request that grows with the accounts.
 * - **A fresh isolate's first request**: the deployed build started under Miniflare with one
 *   account or fifty (and the bare Worker beside them), the first push timed over loopback,
 *   each isolate disposed after it; the median of the rounds, since a start-up cannot be
 *   repeated in one isolate. Module evaluation is in Miniflare's start, before the request.
 */

import type { Miniflare } from 'miniflare'
import { bareWorker, edgeWorker } from './load.ts'
import { requestMix } from './mix.ts'
import { benchWorker, RUNTIME } from './runtime.ts'

export interface StartupResults {
  /** Microseconds one configuration read takes, the fastest of the rounds. */
  readonly configReadUs: { readonly one: number; readonly fifty: number }
  /** Milliseconds of a fresh isolate's first request, the median of the rounds, and all of them. */
  readonly firstRequestMs: {
    readonly bare: number
    readonly one: number
    readonly fifty: number
    readonly samples: { readonly bare: number[]; readonly one: number[]; readonly fifty: number[] }
  }
}

/**
 * `count` accounts as an operator configures them in WECHAT_ACCOUNTS: each with its own Token,
 * AppID, EncodingAESKey and AppSecret (bench values, no real account's).
 */
export function accountsJson(count: number): string {
  const accounts: Record<string, Record<string, string>> = {}
  for (let i = 0; i < count; i++) {
    const n = String(i).padStart(4, '0')
    accounts[`shop-${n}`] = {
      token: `benchToken${n}Kq2Xw9Lm4Rt8Vb3Nz6Yc1`,
      appId: `wx${n}${'a1b2c3d4e5f6'}`,
      encodingAesKey: `Bench${n}Key0123456789abcdefghijklmnopqrstu`.slice(0, 43),
      appSecret: `bench-secret-${n}`,
    }
  }
  return JSON.stringify(accounts)
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

/** The configuration read, one account against fifty, interleaved round by round. */
async function configRead(iterations: number, rounds: number) {
  const mf = await benchWorker(new URL('./startup-worker.ts', import.meta.url), {
    bindings: { ONE: accountsJson(1), FIFTY: accountsJson(50) },
  })
  try {
    const url = await mf.ready
    const request = async (accounts: string, n: number) => {
      const started = performance.now()
      const response = await fetch(`${url}?accounts=${accounts}&n=${n}`)
      if (!response.ok) throw new Error(await response.text())
      await response.arrayBuffer()
      return performance.now() - started
    }
    const sample = async (accounts: string) => {
      const empty = Math.min(await request(accounts, 0), await request(accounts, 0))
      return (((await request(accounts, iterations)) - empty) * 1000) / iterations
    }
    await sample('ONE')
    await sample('FIFTY')
    const best = { one: Number.POSITIVE_INFINITY, fifty: Number.POSITIVE_INFINITY }
    for (let round = 0; round < rounds; round++) {
      best.one = Math.min(best.one, await sample('ONE'))
      best.fifty = Math.min(best.fifty, await sample('FIFTY'))
    }
    return best
  } finally {
    await mf.dispose()
  }
}

/** The first request of a fresh isolate: bare, one account, fifty, round after round. */
async function firstRequests(scriptPath: string, rounds: number) {
  const [push] = await requestMix({ count: 1, followers: 1, mode: 'plaintext' })
  if (!push) throw new Error('no push to send')
  const first = async (mf: Miniflare) => {
    try {
      const url = await mf.ready
      const started = performance.now()
      const response = await fetch(new URL(push.path, url), { method: 'POST', body: push.body })
      await response.arrayBuffer()
      const ms = performance.now() - started
      if (!response.ok) throw new Error(`the first push was answered ${response.status}`)
      return ms
    } finally {
      await mf.dispose()
    }
  }
  const { compatibilityDate } = RUNTIME
  const samples = { bare: [] as number[], one: [] as number[], fifty: [] as number[] }
  for (let round = 0; round < rounds; round++) {
    samples.bare.push(await first(bareWorker(compatibilityDate as string)))
    const one = { WECHAT_ACCOUNTS: accountsJson(1) }
    samples.one.push(await first(edgeWorker(scriptPath, compatibilityDate as string, one)))
    const fifty = { WECHAT_ACCOUNTS: accountsJson(50) }
    samples.fifty.push(await first(edgeWorker(scriptPath, compatibilityDate as string, fifty)))
  }
  return {
    bare: median(samples.bare),
    one: median(samples.one),
    fifty: median(samples.fifty),
    samples,
  }
}

/** Both measurements; `smoke` runs each for a moment. */
export async function measureStartup(scriptPath: string, smoke: boolean): Promise<StartupResults> {
  const configReadUs = await configRead(smoke ? 20 : 2_000, smoke ? 1 : 9)
  const firstRequestMs = await firstRequests(scriptPath, smoke ? 1 : 7)
  return { configReadUs, firstRequestMs }
}
