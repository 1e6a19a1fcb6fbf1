/**
 * Pushes and deferred jobs the consumers gave up on. Each is kept in KV for a week, whole, with
 * the reason when one is known, so that an operator can see it and replay it onto the queue it
 * came from. A user's letters go through their Durable Object, which refuses them after the
 * user's purge and sweeps them away with it; a system push's letter is kept directly.
 */

import type { Env } from '../env.ts'
import { logProblem } from '../log.ts'
import { ownerOf } from '../receive/owner.ts'
import { stateOwnerOf } from '../wechat/push.ts'
import { type QueuedJob, type QueuedMessage, type QueuedPush, queuedMessageOf } from './queued.ts'

const PREFIX = 'dead:'
export const DEAD_LETTER_TTL_SECONDS = 7 * 24 * 60 * 60

export interface DeadLetterSummary {
  readonly key: string
  readonly kind: string
  readonly openid: string
  readonly attempts: number
  /** Milliseconds since the epoch when it reached the dead-letter queue. */
  readonly deadAt: number
  /** Which queue it goes back to on a replay. */
  readonly queue: 'pushes' | 'later'
  /** Why it failed, when the consumer knew (never content or a secret). */
  readonly reason: string | null
}

interface DeadLetter extends DeadLetterSummary {
  readonly queued: QueuedMessage
}

/** Where a replay sends letters back to. */
export interface ReplayQueues {
  readonly pushes: Queue<QueuedPush>
  readonly later: Queue<QueuedJob>
}

/** Whom a dead system push is filed under: no OpenID can be spelled with a `:` or `*`. */
const SYSTEM_OWNER = '*'

/**
 * OpenIDs never hold a `:` (the parser refuses them), so `dead:<openid>:` is a prefix that
 * lists one user's letters and no other user's.
 */
function storageKey(openid: string, key: string): string {
  return `${PREFIX}${openid}:${key}`
}

/** A letter to keep: what was queued, how often it was tried, and why it failed. */
export interface DeadLetterInput {
  readonly queued: QueuedMessage
  readonly attempts: number
  readonly reason: string | null
}

/**
 * Keeps a letter through the push's owner: the user's Durable Object (which refuses it after
 * their purge), or the ledger for a push that belongs to no user.
 */
export async function keepDeadLetter(env: Env, letter: DeadLetterInput): Promise<void> {
  await ownerOf(env, letter.queued.push, letter.queued.key).stub.keepDeadLetter(letter)
}

/** Writes a letter to KV. Called by its owner only (see {@link keepDeadLetter}). */
export async function recordDeadLetter(
  kv: KVNamespace,
  { queued, attempts, reason }: DeadLetterInput,
): Promise<void> {
  const summary: DeadLetterSummary = {
    key: queued.key,
    kind: queued.push.kind,
    openid: stateOwnerOf(queued.push) ?? SYSTEM_OWNER,
    attempts,
    deadAt: Date.now(),
    queue: queued.type === 'job' ? 'later' : 'pushes',
    reason,
  }
  const letter: DeadLetter = { ...summary, queued }
  await kv.put(storageKey(summary.openid, summary.key), JSON.stringify(letter), {
    expirationTtl: DEAD_LETTER_TTL_SECONDS,
    metadata: summary,
  })
  logProblem('dead_letter', {
    key: summary.key,
    kind: summary.kind,
    queue: summary.queue,
    attempts,
    reason,
  })
}

async function listKeys(kv: KVNamespace, prefix: string) {
  const keys: KVNamespaceListKey<DeadLetterSummary>[] = []
  let cursor: string | undefined
  do {
    const page = await kv.list<DeadLetterSummary>({ prefix, ...(cursor ? { cursor } : {}) })
    keys.push(...page.keys)
    cursor = page.list_complete ? undefined : page.cursor
  } while (cursor)
  return keys
}

/** What the dead-letter queue holds now, newest first. */
export async function listDeadLetters(kv: KVNamespace): Promise<DeadLetterSummary[]> {
  const keys = await listKeys(kv, PREFIX)
  return keys
    .flatMap((entry) => (entry.metadata ? [entry.metadata] : []))
    .sort((a, b) => b.deadAt - a.deadAt)
}

/** Sends every dead letter back to the pushes queue; the Durable Object ignores what it applied. */
export async function replayDeadLetters(kv: KVNamespace, queues: ReplayQueues): Promise<number> {
  let replayed = 0
  for (const entry of await listKeys(kv, PREFIX)) {
    const letter = await kv.get<DeadLetter>(entry.name, 'json')
    if (letter) {
      const queued = queuedMessageOf(letter.queued)
      if (queued.type === 'job') await queues.later.send(queued)
      else await queues.pushes.send(queued)
      replayed++
    }
    await kv.delete(entry.name)
  }
  return replayed
}

/**
 * Part of a user's purge, run by their Durable Object's alarm: their dead letters kept before
 * `before` (ms) go too. Later ones belong to a new follow.
 */
export async function forgetDeadLetters(
  kv: KVNamespace,
  openid: string,
  before: number,
): Promise<void> {
  for (const entry of await listKeys(kv, storageKey(openid, ''))) {
    if (entry.metadata === undefined || entry.metadata.deadAt < before) await kv.delete(entry.name)
  }
}
