/**
 * A stand-in for the part of Cloudflare's API that `npm run setup` and `npm run deploy` reach
 * through wrangler (`CLOUDFLARE_API_BASE_URL`), on loopback, holding one account's state in
 * memory: Workers and their secrets, queues and their consumers, KV namespaces, the workers.dev
 * subdomain. Wrangler is the client, unchanged; this answers as Cloudflare's v4 API does (the
 * `{ success, errors, messages, result }` envelope). Where a response shape is read off
 * wrangler's own requests rather than Cloudflare's API reference, the route says "shape: as
 * wrangler reads it". Any other route answers 404 with code 7003 ("No route for that URI", as
 * Cloudflare does) and is recorded in `unknown`, so a test sees what wrangler asked that this
 * does not serve.
 */

import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

type Json = Record<string, unknown>

export interface Account {
  readonly id: string
  readonly name: string
}

export interface Worker {
  secrets: Map<string, string>
  /** The script's module names as uploaded, the last upload only. */
  modules: string[]
  /** The bindings of the last upload, as wrangler sent them. */
  bindings: { name: string; type: string; [field: string]: unknown }[]
  migrationTag: string | null
  /** Version ids, oldest first; the first deploy's upload is the first. */
  versions: string[]
  deployedVersion: string | null
  workersDev: boolean
  /** Workers Logs and traces, as the last upload or settings change left them. */
  observability: Json | null
}

export interface Queue {
  readonly id: string
  readonly name: string
  consumers: { script: string; deadLetterQueue: string | null }[]
}

export interface CloudflareState {
  readonly accounts: Account[]
  readonly workers: Map<string, Worker>
  readonly queues: Map<string, Queue>
  readonly kv: Map<string, { id: string; title: string }>
  subdomain: string
  /** The account's zones (domains on Cloudflare), where Custom Domains may be made. */
  readonly zones: string[]
  /** Custom Domains: hostname → the Worker it serves. */
  domains: { hostname: string; service: string }[]
}

/** How Cloudflare refuses a request: the status and the envelope's error. */
export interface Failure {
  readonly status: number
  readonly code: number
  readonly message: string
}

const OUTAGE: Failure = { status: 503, code: 10013, message: 'Service temporarily unavailable' }

export interface Call {
  readonly method: string
  readonly path: string
}

export interface CloudflareApi {
  /** What `CLOUDFLARE_API_BASE_URL` is set to. */
  readonly baseUrl: string
  readonly state: CloudflareState
  /** Every request, in order. */
  readonly calls: Call[]
  /** Requests no route here serves. */
  readonly unknown: Call[]
  /**
   * The next `count` requests matching `method` and `path` fail: 503 by default (a transient
   * outage), or as given (a token without a permission: 403, code 10000).
   */
  failNext(method: string, path: RegExp, count?: number, failure?: Failure): void
  /** The outage is over: no more injected failures. */
  recover(): void
  stop(): Promise<void>
}

class ApiFailure extends Error {
  readonly status: number
  readonly code: number
  constructor(status: number, code: number, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

function envelope(result: unknown, resultInfo?: Json): string {
  return JSON.stringify({
    success: true,
    errors: [],
    messages: [],
    result,
    ...(resultInfo ? { result_info: resultInfo } : {}),
  })
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function newWorker(): Worker {
  return {
    secrets: new Map(),
    modules: [],
    bindings: [],
    migrationTag: null,
    versions: [],
    deployedVersion: null,
    workersDev: false,
    observability: null,
  }
}

function queueView(queue: Queue): Json {
  return {
    queue_id: queue.id,
    queue_name: queue.name,
    created_on: '2026-11-29T00:00:00Z',
    modified_on: '2026-11-29T00:00:00Z',
    producers: [],
    producers_total_count: 0,
    consumers: queue.consumers.map((c) => consumerView(queue, c)),
    consumers_total_count: queue.consumers.length,
  }
}

function consumerView(queue: Queue, consumer: Queue['consumers'][number]): Json {
  return {
    consumer_id: `${queue.id}-${consumer.script}`,
    script: consumer.script,
    script_name: consumer.script,
    type: 'worker',
    queue_name: queue.name,
    dead_letter_queue: consumer.deadLetterQueue ?? undefined,
    settings: {},
  }
}

function formOf(body: Buffer, contentType: string): Promise<FormData> {
  return new Request('http://upload.invalid', {
    method: 'POST',
    body,
    headers: { 'Content-Type': contentType },
  }).formData()
}

/** One page holding everything: wrangler pages until a page is short. */
function paged(items: unknown[]): [unknown, Json] {
  return [items, { page: 1, per_page: 1000, count: items.length, total_count: items.length }]
}

export async function startCloudflareApi(
  accounts: Account[] = [{ id: '023e105f4ecef8ad9ca31a8372d0c353', name: 'Operator' }],
): Promise<CloudflareApi> {
  const state: CloudflareState = {
    accounts,
    workers: new Map(),
    queues: new Map(),
    kv: new Map(),
    subdomain: 'operator',
    zones: ['example.com'],
    domains: [],
  }
  const calls: Call[] = []
  const unknown: Call[] = []
  const failures: { method: string; path: RegExp; count: number; failure: Failure }[] = []

  function worker(name: string): Worker {
    const found = state.workers.get(name)
    // Cloudflare's answer for a script that does not exist.
    if (!found) throw new ApiFailure(404, 10007, 'This Worker does not exist on your account.')
    return found
  }

  async function route(method: string, url: URL, body: Buffer, contentType: string) {
    const path = url.pathname.replace(/^\/client\/v4/, '')
    const parts = path.split('/').filter(Boolean)
    const is = (pattern: string) => {
      const want = pattern.split('/').filter(Boolean)
      return (
        want.length === parts.length && want.every((p, i) => p.startsWith(':') || p === parts[i])
      )
    }
    const json = (): Json => JSON.parse(body.toString('utf8') || '{}') as Json
    const account = parts[1] ?? ''
    const script = parts[4] ?? ''
    const known = () => {
      if (!state.accounts.some((a) => a.id === account))
        throw new ApiFailure(403, 9109, 'Unauthorized to access requested resource')
    }

    // Who the token belongs to: the accounts it can reach.
    if (method === 'GET' && is('/accounts')) return paged(state.accounts)
    if (method === 'GET' && is('/memberships'))
      return paged(state.accounts.map((a) => ({ id: `m-${a.id}`, account: a })))
    if (method === 'GET' && is('/user')) return [{ id: 'user', email: 'operator@example.com' }]
    if (method === 'GET' && is('/user/tokens/verify')) return [{ id: 'token', status: 'active' }]

    // Secrets: GET …/secrets, PUT …/secrets, PATCH …/secrets-bulk (shape: as wrangler reads it).
    if (is('/accounts/:a/workers/scripts/:s/secrets')) {
      known()
      const w = worker(script)
      if (method === 'GET')
        return [[...w.secrets.keys()].map((name) => ({ name, type: 'secret_text' }))]
      if (method === 'PUT') {
        const { name, text } = json() as { name: string; text: string }
        w.secrets.set(name, text)
        return [{ name, type: 'secret_text' }]
      }
    }
    if (method === 'PATCH' && is('/accounts/:a/workers/scripts/:s/secrets-bulk')) {
      known()
      const w = worker(script)
      const { secrets } = json() as { secrets: Record<string, { text: string } | null> }
      for (const [name, value] of Object.entries(secrets)) {
        if (value === null) w.secrets.delete(name)
        else w.secrets.set(name, value.text)
      }
      return [null]
    }
    // A Worker's service record: whether it exists, its script's tag and migration tag.
    if (method === 'GET' && is('/accounts/:a/workers/services/:s')) {
      known()
      const w = worker(script)
      return [
        {
          id: script,
          default_environment: {
            environment: 'production',
            script: { id: script, tag: `tag-${script}`, migration_tag: w.migrationTag },
          },
        },
      ]
    }
    // The account's workers.dev subdomain, and each Worker's switch for it.
    if (method === 'GET' && is('/accounts/:a/workers/subdomain')) {
      known()
      return [{ subdomain: state.subdomain }]
    }
    if (is('/accounts/:a/workers/scripts/:s/subdomain')) {
      known()
      const w = worker(script)
      if (method === 'POST') w.workersDev = (json() as { enabled: boolean }).enabled
      return [{ enabled: w.workersDev, previews_enabled: false }]
    }

    // A Worker's settings: wrangler reads the bindings to keep provisioned resources linked.
    if (method === 'GET' && is('/accounts/:a/workers/scripts/:s/settings')) {
      known()
      const w = worker(script)
      return [{ bindings: w.bindings, logpush: false, tail_consumers: [] }]
    }

    // The Workers API's record of a Worker: its workers.dev switch (shape: as wrangler reads it).
    if (is('/accounts/:a/workers/workers/:w')) {
      known()
      const w = worker(parts[4] ?? '')
      if (method === 'PATCH') {
        const { subdomain } = json() as { subdomain?: { enabled?: boolean } }
        if (subdomain?.enabled !== undefined) w.workersDev = subdomain.enabled
      }
      if (method === 'GET' || method === 'PATCH')
        return [
          {
            id: parts[4],
            name: parts[4],
            subdomain: { enabled: w.workersDev, previews_enabled: false },
          },
        ]
    }

    // An upload: the first deploy PUTs the script, later ones POST a version and deploy it.
    if (method === 'PUT' && is('/accounts/:a/workers/scripts/:s')) {
      known()
      const w = await upload(script, body, contentType)
      w.deployedVersion = w.versions.at(-1) ?? null
      return [
        {
          id: script,
          etag: w.deployedVersion,
          deployment_id: w.deployedVersion,
          startup_time_ms: 10,
        },
      ]
    }
    if (method === 'POST' && is('/accounts/:a/workers/scripts/:s/versions')) {
      known()
      worker(script)
      const w = await upload(script, body, contentType)
      const id = w.versions.at(-1)
      return [
        { id, number: w.versions.length, resources: { script: { etag: id } }, startup_time_ms: 10 },
      ]
    }
    if (method === 'POST' && is('/accounts/:a/workers/scripts/:s/deployments')) {
      known()
      const w = worker(script)
      const { versions } = json() as { versions: { version_id: string }[] }
      const versionId = versions[0]?.version_id ?? ''
      if (!w.versions.includes(versionId)) throw new ApiFailure(400, 10211, 'Unknown version')
      w.deployedVersion = versionId
      return [{ id: `deployment-${versionId}` }]
    }
    // Settings not tied to a version: observability, logpush, tail consumers, tags.
    if (method === 'PATCH' && is('/accounts/:a/workers/scripts/:s/script-settings')) {
      known()
      const w = worker(script)
      const settings = json()
      if (settings.observability !== undefined) w.observability = settings.observability as Json
      return [{ observability: w.observability, logpush: false, tail_consumers: [] }]
    }

    // Deployments: wrangler reads the latest before it uploads (shape: as wrangler reads it).
    if (method === 'GET' && is('/accounts/:a/workers/scripts/:s/deployments')) {
      known()
      const w = worker(script)
      const deployments = w.deployedVersion
        ? [
            {
              id: `deployment-${w.deployedVersion}`,
              source: 'wrangler',
              strategy: 'percentage',
              versions: [{ version_id: w.deployedVersion, percentage: 100 }],
              created_on: '2026-11-29T00:00:00Z',
              annotations: {},
            },
          ]
        : []
      return [{ deployments }]
    }

    // Custom Domains: a changeset first, then the records. A hostname must be in one of the
    // account's zones (shape of the refusal: a guess; Cloudflare's code for it is not documented).
    if (method === 'POST' && is('/accounts/:a/workers/scripts/:s/domains/changeset')) {
      known()
      const origins = JSON.parse(body.toString('utf8')) as { hostname: string }[]
      const ours = new Set(state.domains.filter((d) => d.service === script).map((d) => d.hostname))
      return [
        {
          added: origins.filter((o) => !ours.has(o.hostname)),
          removed: [],
          updated: [],
          conflicting: [],
        },
      ]
    }
    if (method === 'PUT' && is('/accounts/:a/workers/scripts/:s/domains/records')) {
      known()
      const { origins } = json() as { origins: { hostname: string }[] }
      for (const { hostname } of origins) {
        if (!state.zones.some((zone) => hostname === zone || hostname.endsWith(`.${zone}`)))
          throw new ApiFailure(400, 100117, `${hostname} is not in a zone on this account`)
      }
      state.domains = [
        ...state.domains.filter((d) => d.service !== script),
        ...origins.map(({ hostname }) => ({ hostname, service: script })),
      ]
      return [state.domains.filter((d) => d.service === script)]
    }

    // Queues: listed by name, created by name, consumers attached by queue id.
    if (is('/accounts/:a/queues')) {
      known()
      if (method === 'GET') {
        const names = url.searchParams.getAll('name')
        const listed = [...state.queues.values()].filter(
          (q) => names.length === 0 || names.includes(q.name),
        )
        return paged(listed.map(queueView))
      }
      if (method === 'POST') {
        const { queue_name: name } = json() as { queue_name: string }
        if (state.queues.has(name))
          throw new ApiFailure(409, 11009, 'A queue with this name already exists')
        const queue: Queue = { id: randomUUID().replaceAll('-', ''), name, consumers: [] }
        state.queues.set(name, queue)
        return [queueView(queue)]
      }
    }
    if (parts[2] === 'queues' && parts.length >= 4) {
      known()
      const queue = [...state.queues.values()].find((q) => q.id === parts[3])
      if (!queue) throw new ApiFailure(404, 11000, 'Queue does not exist')
      if (method === 'GET' && parts.length === 4) return [queueView(queue)]
      if (parts[4] === 'consumers') {
        if (method === 'GET') return [queue.consumers.map((c) => consumerView(queue, c))]
        if (method === 'POST' || method === 'PUT') {
          const { script_name: scriptName, dead_letter_queue: dlq } = json() as {
            script_name: string
            dead_letter_queue?: string
          }
          const consumer = { script: scriptName, deadLetterQueue: dlq ?? null }
          queue.consumers = [...queue.consumers.filter((c) => c.script !== scriptName), consumer]
          return [consumerView(queue, consumer)]
        }
      }
    }

    // KV namespaces: listed, created by title.
    if (is('/accounts/:a/storage/kv/namespaces')) {
      known()
      if (method === 'GET') return paged([...state.kv.values()])
      if (method === 'POST') {
        const { title } = json() as { title: string }
        const namespace = { id: randomUUID().replaceAll('-', ''), title }
        state.kv.set(namespace.id, namespace)
        return [namespace]
      }
    }
    return undefined
  }

  /** Takes an upload's script and metadata: bindings, migrations, observability. */
  async function upload(script: string, body: Buffer, contentType: string): Promise<Worker> {
    const form = await formOf(body, contentType)
    const metadata = JSON.parse(String(form.get('metadata'))) as {
      bindings?: Worker['bindings']
      migrations?: { new_tag?: string }
      observability?: Json
    }
    const w = state.workers.get(script) ?? newWorker()
    for (const { name, type } of metadata.bindings ?? []) {
      // An inherited binding must exist on the Worker already (as Cloudflare checks it).
      if (type === 'inherit' && !w.secrets.has(name) && !w.bindings.some((b) => b.name === name))
        throw new ApiFailure(400, 10056, `inherit binding '${name}' is invalid`)
    }
    state.workers.set(script, w)
    w.modules = [...form.keys()].filter((key) => key !== 'metadata')
    w.bindings = (metadata.bindings ?? []).map((binding) =>
      binding.type === 'inherit'
        ? (w.bindings.find((b) => b.name === binding.name) ?? binding)
        : binding,
    )
    if (metadata.migrations?.new_tag) w.migrationTag = metadata.migrations.new_tag
    w.observability = metadata.observability ?? null
    w.versions.push(randomUUID())
    return w
  }

  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const method = request.method ?? 'GET'
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    const path = url.pathname.replace(/^\/client\/v4/, '')
    calls.push({ method, path })
    response.setHeader('Content-Type', 'application/json')
    const body = await readBody(request)
    try {
      const failure = failures.find((f) => f.method === method && f.path.test(path) && f.count > 0)
      if (failure) {
        failure.count -= 1
        throw new ApiFailure(failure.failure.status, failure.failure.code, failure.failure.message)
      }
      const answer = await route(method, url, body, request.headers['content-type'] ?? '')
      if (answer === undefined) {
        unknown.push({ method, path })
        throw new ApiFailure(404, 7003, 'No route for that URI')
      }
      response.end(envelope(answer[0], answer[1] as Json | undefined))
    } catch (error) {
      const { status, code, message } =
        error instanceof ApiFailure ? error : new ApiFailure(500, 10000, 'internal')
      response.statusCode = status
      response.end(
        JSON.stringify({ success: false, errors: [{ code, message }], messages: [], result: null }),
      )
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/client/v4`,
    state,
    calls,
    unknown,
    failNext(method, path, count = 1, failure = OUTAGE) {
      failures.push({ method, path, count, failure })
    },
    recover() {
      failures.length = 0
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
