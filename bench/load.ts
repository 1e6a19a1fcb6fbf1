/**
 * Throughput against the ceiling: the Worker as `wrangler deploy` builds it, run under
 * Miniflare with local KV, Queue and Durable Object bindings, loaded over loopback with a fixed
 * number of connections; and a bare Worker answering `success` on the same harness.
 */

import autocannon from 'autocannon'
import { Miniflare, type MiniflareOptions } from 'miniflare'
import type { PreparedRequest } from './mix.ts'
import { ACCOUNT } from './pipeline.ts'
import { RUNTIME } from './runtime.ts'

export interface LoadFigures {
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly requests: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  readonly errorKinds: Readonly<Record<string, number>>
}

// The least a callback must do: read the request, answer `success`.
export const BARE_WORKER = `export default { async fetch(request) { await request.arrayBuffer(); return new Response('success') } }`

function quiet(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
  // The Worker logs a line per push, as in production; the bench reads none of them.
  stdout.resume()
  stderr.resume()
}

/** The built Worker under Miniflare; `extraBindings` adds to (or replaces) its variables. */
export function edgeWorker(
  scriptPath: string,
  compatibilityDate: string,
  extraBindings: Readonly<Record<string, string>> = {},
): Miniflare {
  const options: MiniflareOptions = {
    modules: true,
    scriptPath,
    // The build keeps the console page as a text module beside the script, as it uploads it.
    modulesRules: [{ type: 'Text', include: ['**/*.html'] }],
    compatibilityDate,
    compatibilityFlags: RUNTIME.compatibilityFlags,
    bindings: {
      WECHAT_TOKEN: ACCOUNT.token,
      WECHAT_APPID: ACCOUNT.aes.appId,
      WECHAT_ENCODING_AES_KEY: ACCOUNT.aes.encodingAesKey,
      REQUIRE_ENCRYPTION: 'false',
      SIGNATURE_MAX_AGE_SECONDS: '300',
      REPLY_BUDGET_MS: '4500',
      DEBUG_CONSOLE: 'false',
      ...extraBindings,
    },
    kvNamespaces: ['DEAD_LETTERS', 'REPLY_CACHE'],
    // The producer only: the consumer and its Durable Objects are work for later invocations,
    // billed apart from the request; left out so that they do not take the request path's core.
    queueProducers: { PUSHES: 'wechat-edge-pushes' },
    durableObjects: {
      USERS: { className: 'UserState', useSQLite: true },
      LEDGER: { className: 'Ledger', useSQLite: true },
      CAMPAIGNS: { className: 'Campaigns', useSQLite: true },
    },
    handleRuntimeStdio: quiet,
  }
  return new Miniflare(options)
}

// The binding calls every push makes here, and nothing else: a KV lookup, a Queue send, a KV
// write after the answer. Miniflare simulates these bindings in-process, on the same cores.
const BINDINGS_WORKER = `export default {
  async fetch(request, env, ctx) {
    const body = await request.text()
    const key = 'reply:' + body.length + ':' + Math.random()
    await env.DEAD_LETTERS.get(key)
    await env.PUSHES.send({ key })
    ctx.waitUntil(env.DEAD_LETTERS.put(key, 'success', { expirationTtl: 600 }))
    return new Response('success')
  },
}`

export function bareWorker(compatibilityDate: string): Miniflare {
  return new Miniflare({
    modules: true,
    script: BARE_WORKER,
    compatibilityDate,
    compatibilityFlags: RUNTIME.compatibilityFlags,
    handleRuntimeStdio: quiet,
  })
}

// A new Durable Object per request, which does nothing: what a new follower's first push
// cannot go below under Miniflare, where each new object is a new SQLite database. Each one
// resets itself once it has answered, so that workerd closes its database: left open until
// idle eviction, the 3,561st live one fails to open with SQLITE_NOMEM, and so does every
// later one (twice measured on 2026-12-06, at about 10,700 of the 20,000 file descriptors
// allowed: not the descriptor limit); the 1,122 non-2xx of 4,682 on 2026-12-03. Resetting did
// not hold in a full run that day (3,625 non-2xx of 7,185, from about the 3,560th object on),
// so the floor's run makes NEW_OBJECT_RUN_LIMIT objects at most: it measures under the limit.
export const NEW_OBJECT_RUN_LIMIT = 3_000
const NEW_OBJECT_WORKER = `import { DurableObject } from 'cloudflare:workers'
export class Blank extends DurableObject {
  hit() {
    setTimeout(() => {
      try {
        this.ctx.abort('answered')
      } catch {}
    }, 0)
    return 'success'
  }
}
export default {
  async fetch(request, env) {
    await request.text()
    return new Response(await env.BLANK.getByName(crypto.randomUUID()).hit())
  },
}`

export function newObjectWorker(compatibilityDate: string): Miniflare {
  return new Miniflare({
    modules: true,
    script: NEW_OBJECT_WORKER,
    compatibilityDate,
    compatibilityFlags: RUNTIME.compatibilityFlags,
    durableObjects: { BLANK: { className: 'Blank', useSQLite: true } },
    handleRuntimeStdio: quiet,
  })
}

export function bindingsOnlyWorker(compatibilityDate: string): Miniflare {
  return new Miniflare({
    modules: true,
    script: BINDINGS_WORKER,
    compatibilityDate,
    compatibilityFlags: RUNTIME.compatibilityFlags,
    kvNamespaces: ['DEAD_LETTERS'],
    queueProducers: { PUSHES: 'wechat-edge-pushes' },
    handleRuntimeStdio: quiet,
  })
}

export async function load(
  mf: Miniflare,
  requests: readonly PreparedRequest[],
  connections: number,
  durationSeconds: number,
  /** Where in `requests` to go on from: runs that share one keep sending new pushes. */
  cursor: { next: number } = { next: 0 },
  /** At most this many requests (the run may end before `durationSeconds`). */
  amount?: number,
): Promise<LoadFigures> {
  const url = await mf.ready
  const errorKinds: Record<string, number> = {}
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: url.toString(),
        connections,
        duration: durationSeconds,
        ...(amount !== undefined && { amount }),
        requests: [
          {
            method: 'POST',
            setupRequest(request) {
              const prepared = requests[cursor.next++ % requests.length] as PreparedRequest
              return { ...request, path: prepared.path, body: prepared.body }
            },
          },
        ],
      },
      (error, finished) => (error ? reject(error) : resolve(finished)),
    )
    instance.on('reqError', (error: Error & { code?: string }) => {
      const kind = error.code ?? error.message
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
    })
  })
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    errorKinds,
  }
}
