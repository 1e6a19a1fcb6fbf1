/**
 * The real Worker (the app, the bot, the consumers, the Durable Objects) with every binding
 * wrapped to count what is really called: KV operations, Queue messages, Durable Object
 * requests and their wall time, SQLite rows read and written (from the cursors' own counts),
 * and Worker invocations. `GET /__cost` reads the counts, `DELETE /__cost` resets them.
 * Built by `npm run cost` with esbuild and run under Miniflare; never deployed.
 */

import { AssistantQuota } from '../src/assistant/quota.ts'
import { botsOf } from '../src/bot/bots.ts'
import { Campaigns } from '../src/campaigns.ts'
import type { Env } from '../src/env.ts'
import { appFor } from '../src/http/app.ts'
import { Platform } from '../src/platform/platform.ts'
import { handleLaterBatch } from '../src/queues/later.ts'
import { handleQueueBatch, retryDelaySeconds } from '../src/queues/pushes.ts'
import { type QueuedMessage, queueRoleOf } from '../src/queues/queued.ts'
import { Ledger } from '../src/receive/ledger.ts'
import { AccessToken } from '../src/talk/access-token.ts'
import { UserState } from '../src/user/state.ts'
import { bot } from '../test/fixtures/bot.ts'

export interface Counts {
  fetches: number
  queueInvocations: number
  queueMessages: number
  queueRetries: number
  kvReads: number
  kvWrites: number
  kvDeletes: number
  kvLists: number
  queueSends: number
  doRequests: number
  /** Of those, calls to the AccessToken object. */
  tokenRequests: number
  doWallMs: number
  alarms: number
  rowsRead: number
  rowsWritten: number
}

const zero = (): Counts => ({
  fetches: 0,
  queueInvocations: 0,
  queueMessages: 0,
  queueRetries: 0,
  kvReads: 0,
  kvWrites: 0,
  kvDeletes: 0,
  kvLists: 0,
  queueSends: 0,
  doRequests: 0,
  tokenRequests: 0,
  doWallMs: 0,
  alarms: 0,
  rowsRead: 0,
  rowsWritten: 0,
})

let counts = zero()

/** Calls `method` of `target` through a counter, keeping `this`. */
function wrap<T extends object>(target: T, methods: Record<string, (count: Counts) => void>): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver)
      if (typeof value !== 'function') return value
      const counter = typeof property === 'string' ? methods[property] : undefined
      return (...args: unknown[]) => {
        counter?.(counts)
        return value.apply(object, args)
      }
    },
  })
}

/** A Durable Object namespace whose stubs count each RPC call as a request, with its wall time. */
function countingNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  /** A count of this namespace's own, besides all DO requests. */
  own?: 'tokenRequests',
): DurableObjectNamespace<T> {
  return new Proxy(namespace, {
    get(object, property) {
      const value = Reflect.get(object, property)
      if (property !== 'getByName' || typeof value !== 'function') {
        return typeof value === 'function' ? value.bind(object) : value
      }
      return (name: string) => {
        const stub = value.call(object, name)
        const target = stub as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
        return new Proxy(stub, {
          get(_stub, method) {
            if (typeof method !== 'string' || method === 'then') return undefined
            return async (...args: unknown[]) => {
              counts.doRequests++
              if (own) counts[own]++
              const started = Date.now()
              try {
                // A member call on the stub itself: RPC does not go through apply().
                return await target[method]!(...args)
              } finally {
                counts.doWallMs += Date.now() - started
              }
            }
          },
        })
      }
    },
  })
}

function countedEnv(env: Env): Env {
  const kv = (namespace: KVNamespace) =>
    wrap(namespace, {
      get: (c) => c.kvReads++,
      put: (c) => c.kvWrites++,
      delete: (c) => c.kvDeletes++,
      list: (c) => c.kvLists++,
    })
  const send = (c: Counts) => c.queueSends++
  return {
    ...env,
    DEAD_LETTERS: kv(env.DEAD_LETTERS),
    REPLY_CACHE: kv(env.REPLY_CACHE),
    LEDGER: countingNamespace(env.LEDGER),
    PUSHES: wrap(env.PUSHES, { send }),
    LATER: wrap(env.LATER, { send }),
    USERS: countingNamespace(env.USERS),
    ACCESS_TOKENS: countingNamespace(env.ACCESS_TOKENS, 'tokenRequests'),
    CAMPAIGNS: countingNamespace(env.CAMPAIGNS),
    ASSISTANT_QUOTAS: countingNamespace(env.ASSISTANT_QUOTAS),
    // An authorizer's pushes may reach the platform's object (its token): counted like the rest.
    PLATFORM: countingNamespace(env.PLATFORM),
  }
}

/**
 * Keeps the cursors of this object's SQL statements, so that their rowsRead/rowsWritten can be
 * summed after each call. The storage objects are patched in place: workerd accepts only its
 * own DurableObjectState in a Durable Object's constructor.
 */
function countingStorage(ctx: DurableObjectState): () => void {
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = []
  const sql = ctx.storage.sql
  const exec = sql.exec.bind(sql)
  Object.defineProperty(sql, 'exec', {
    value: (...args: Parameters<SqlStorage['exec']>) => {
      const cursor = exec(...args)
      cursors.push(cursor)
      return cursor
    },
  })
  const deleteAll = ctx.storage.deleteAll.bind(ctx.storage)
  Object.defineProperty(ctx.storage, 'deleteAll', {
    // Every row deleted is a row written; deleteAll bypasses the cursors, so count first.
    value: async () => {
      const tables = exec<{ name: string }>(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'`,
      ).toArray()
      for (const { name } of tables) {
        counts.rowsWritten += exec<{ n: number }>(`SELECT count(*) AS n FROM "${name}"`).one().n
      }
      return deleteAll()
    },
  })
  return () => {
    for (const cursor of cursors.splice(0)) {
      counts.rowsRead += cursor.rowsRead
      counts.rowsWritten += cursor.rowsWritten
    }
  }
}

const settlers = new WeakMap<object, () => void>()

/** UserState as deployed, its SQL counted after each call it answers. */
export class CountedUserState extends UserState {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    const settle = countingStorage(ctx)
    // Its own KV calls (the dead-letter sweep after a purge) are counted too.
    super(ctx, countedEnv(env))
    settle()
    settlers.set(this, settle)
  }
}

/** The campaigns object as deployed, its SQL counted as UserState's is. */
export class CountedCampaigns extends Campaigns {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    const settle = countingStorage(ctx)
    super(ctx, env)
    settle()
    settlers.set(this, settle)
  }
}

/** Each method an object answers, counted: the same method, then its cursors summed. */
function countMethods(base: { prototype: object }, counted: { prototype: object }): void {
  for (const name of Object.getOwnPropertyNames(base.prototype)) {
    const method = (base.prototype as Record<string, unknown>)[name]
    if (name === 'constructor' || typeof method !== 'function') continue
    Object.defineProperty(counted.prototype, name, {
      // Sync stays sync: UserState calls some of its own methods from inside others.
      value: function countedMethod(this: object, ...args: unknown[]) {
        if (name === 'alarm') counts.alarms++
        const settle = () => settlers.get(this)?.()
        const result = (method as (...a: unknown[]) => unknown).apply(this, args)
        if (result instanceof Promise) return result.finally(settle)
        settle()
        return result
      },
    })
  }
}
countMethods(UserState, CountedUserState)
countMethods(Campaigns, CountedCampaigns)

export { AccessToken, AssistantQuota, Ledger, Platform }

const bots = botsOf(bot)
const app = appFor(bots)

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url)
    if (url.pathname === '/__cost') {
      if (request.method === 'DELETE') counts = zero()
      return Response.json(counts)
    }
    counts.fetches++
    return app.fetch(request, countedEnv(env), ctx)
  },
  async queue(batch, env) {
    counts.queueInvocations++
    counts.queueMessages += batch.messages.length
    const counted = countedEnv(env)
    const retried = batch.messages.map((message) => ({
      id: message.id,
      timestamp: message.timestamp,
      body: message.body,
      attempts: message.attempts,
      ack: () => message.ack(),
      retry: (options?: QueueRetryOptions) => {
        counts.queueRetries++
        message.retry(options)
      },
    }))
    const countedBatch = {
      queue: batch.queue,
      messages: retried,
      ackAll: () => batch.ackAll(),
      retryAll: (options?: QueueRetryOptions) => batch.retryAll(options),
    } as unknown as typeof batch
    if (queueRoleOf(batch.queue) === 'later') {
      return handleLaterBatch(countedBatch, counted, bots, (attempts) =>
        retryDelaySeconds(attempts, 0),
      )
    }
    return handleQueueBatch(countedBatch, counted)
  },
} satisfies ExportedHandler<Env, QueuedMessage>
