/**
 * A Worker that runs one pipeline stage `n` times per request. workerd's clocks do not move
 * while a request computes (a Spectre mitigation), so the bench times these requests from
 * outside and divides: (T(n) − T(0)) / n. With `calls`, it runs the stage once and answers the
 * WebCrypto calls that run made, by method.
 */

import { type Fixture, fixture, repeat } from './pipeline.ts'

let prepared: Promise<Fixture> | undefined

/** WebCrypto calls by method since the last reset: this Worker's own count, not src/'s. */
const calls: Record<string, number> = {}
const subtle = crypto.subtle as unknown as Record<string, (...args: unknown[]) => unknown>
for (const method of ['digest', 'sign', 'verify', 'encrypt', 'decrypt', 'importKey']) {
  const original = subtle[method]
  if (typeof original !== 'function') continue
  Object.defineProperty(crypto.subtle, method, {
    configurable: true,
    value: (...args: unknown[]) => {
      calls[method] = (calls[method] ?? 0) + 1
      return original.apply(crypto.subtle, args)
    },
  })
}

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
    if (url.searchParams.has('calls')) {
      await run() // the first run imports keys, once per isolate: not a push's cost
      for (const method of Object.keys(calls)) delete calls[method]
      await run()
      return Response.json(calls)
    }
    await repeat(run, n)
    return new Response('done')
  },
}
