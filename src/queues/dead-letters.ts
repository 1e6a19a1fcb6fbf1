/**
 * Pushes and deferred jobs the consumers gave up on. Each is kept in KV for a week, whole, with
 * the reason when one is known, so that an operator can see it and replay it onto the queue it
 * came from. A user's letters go through their Durable Object, which refuses them after the
 * user's purge and sweeps them away with it; a system push's letter is kept directly.
 */

import { objectsOf } from '../accounts/objects.ts'
import { scoped } from '../accounts/scope.ts'
import { ENV_ACCOUNT } from '../accounts/settings.ts'
import type { Env } from '../env.ts'
import { logProblem } from '../log.ts'
import { ownerOf } from '../receive/owner.ts'
import { stateOwnerOf } from '../wechat/push.ts'
import {
  accountOfQueued,
  type QueuedJob,
  type QueuedMessage,
  type QueuedPush,
  queuedMessageOf,
} from './queued.ts'

const PREFIX = 'dead:'
export const DEAD_LETTER_TTL_SECONDS = 7 * 24 * 60 * 60

export interface DeadLetterSummary {
  /** The account the push came to (absent on letters kept before accounts: the env account). */
  readonly account?: string
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
 * A letter's key: `dead:` and its owner's name as the owner's object is named (the OpenID,
 * behind `<account>/` for any account but the env one: src/accounts/scope.ts), then `:` and
 * the push's key. OpenIDs never hold a `:` or a `/` (the parser refuses them), so
 * `dead:<owner>:` lists one user's letters and no other user's, and `dead:<account>/` one
 * account's.
 */
function storageKey(owner: string, key: string): string {
  return `${PREFIX}${owner}:${key}`
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
  const { queued } = letter
  const objects = objectsOf(env, accountOfQueued(queued))
  await ownerOf(objects, queued.push, queued.key).stub.keepDeadLetter(letter)
}

/** Writes a letter to KV. Called by its owner only (see {@link keepDeadLetter}). */
export async function recordDeadLetter(
  kv: KVNamespace,
  { queued, attempts, reason }: DeadLetterInput,
): Promise<void> {
  const account = accountOfQueued(queued)
  const openid = stateOwnerOf(queued.push) ?? SYSTEM_OWNER
  const summary: DeadLetterSummary = {
    account,
    key: queued.key,
    kind: queued.push.kind,
    openid,
    attempts,
    deadAt: Date.now(),
    queue: queued.type === 'job' ? 'later' : 'pushes',
    reason,
  }
  const letter: DeadLetter = { ...summary, queued }
  await kv.put(storageKey(scoped(account, openid), summary.key), JSON.stringify(letter), {
    expirationTtl: DEAD_LETTER_TTL_SECONDS,
    metadata: summary,
  })
  logProblem('dead_letter', {
    account,
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

/**
 * One account's letters: those behind `dead:<account>/`, or for the env account those kept
 * without an account's scope (every letter kept before accounts is the env account's).
 */
async function accountKeys(kv: KVNamespace, account: string) {
  const keys = await listKeys(kv, `${PREFIX}${scoped(account, '')}`)
  return account === ENV_ACCOUNT
    ? keys.filter((entry) => (entry.metadata?.account ?? ENV_ACCOUNT) === ENV_ACCOUNT)
    : keys
}

/** What the dead-letter queue holds now for one account, newest first. */
export async function listDeadLetters(
  kv: KVNamespace,
  account: string,
): Promise<DeadLetterSummary[]> {
  return (await accountKeys(kv, account))
    .flatMap((entry) => (entry.metadata ? [entry.metadata] : []))
    .sort((a, b) => b.deadAt - a.deadAt)
}

/** Sends an account's dead letters back where they came from; their owners ignore what they took. */
export async function replayDeadLetters(
  kv: KVNamespace,
  queues: ReplayQueues,
  account: string,
): Promise<number> {
  let replayed = 0
  for (const entry of await accountKeys(kv, account)) {
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
  /** The user's object's own name: their OpenID under their account's scope. */
  owner: string,
  before: number,
): Promise<void> {
  for (const entry of await listKeys(kv, storageKey(owner, ''))) {
    if (entry.metadata === undefined || entry.metadata.deadAt < before) await kv.delete(entry.name)
  }
}

/**
 * Up to `limit` of the letters an account keeps (its own name's prefix), deleted: part of a
 * platform authorizer's revoke, a batch at a time. True while more are left.
 */
export async function forgetAccountLetters(
  kv: KVNamespace,
  account: string,
  limit: number,
): Promise<boolean> {
  if (account === ENV_ACCOUNT) throw new TypeError('the env account is never revoked')
  const page = await kv.list({ prefix: `${PREFIX}${scoped(account, '')}`, limit })
  for (const entry of page.keys) await kv.delete(entry.name)
  return !page.list_complete
}
