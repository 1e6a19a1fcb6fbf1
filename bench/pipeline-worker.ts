/**
 * A Worker that runs one pipeline stage `n` times per request. workerd's clocks do not move
 * while a request computes (a Spectre mitigation), so the bench times these requests from
 * outside and divides: (T(n) − T(0)) / n.
 */

import { type Fixture, fixture, repeat } from './pipeline.ts'

let prepared: Promise<Fixture> | undefined

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const mode = url.searchParams.get('mode') === 'safe' ? 'safe' : 'plaintext'
    const stage = url.searchParams.get('stage') ?? 'whole'
    const n = Number(url.searchParams.get('n') ?? '0')
    prepared ??= fixture(Math.floor(Date.now() / 1000))
    const stages: Record<string, () => Promise<unknown>> = (await prepared)[mode]
    const run = stages[stage]
    if (!run) return new Response(`no stage ${stage}`, { status: 404 })
    await repeat(run, n)
    return new Response('done')
  },
}
