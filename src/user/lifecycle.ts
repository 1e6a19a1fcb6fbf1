/**
 * A user's lifecycle in their object: how long what is kept lives, the purge and its
 * tombstone, and when the object must wake next, derived from every table.
 *
 * The purge deletes everything; the tombstone that follows holds only the time of the
 * unsubscribe (and when to sweep the user's dead letters) and lives as long as anything of the
 * user could come back: a Queue retry, a job still running, a dead letter (kept 7 days) being
 * replayed. A follow in that time starts from empty tables and keeps the tombstone, so that a
 * push from before the unsubscribe is still refused.
 */

import { DEAD_LETTER_TTL_SECONDS } from '../queues/dead-letters.ts'
import { pruneReceipts, receiptsExpireAt } from '../receive/retention.ts'
import type { Push } from '../wechat/push.ts'
import { assistantWakes, pruneAssistant } from './assistant.ts'
import { TOMBSTONE_TABLE } from './schema.ts'

const HOUR_MS = 60 * 60 * 1000
/** …and received keys at most this many, oldest forgotten first. */
export const MAX_RECEIVED_KEYS = 1000
/**
 * The received keys are trimmed on write every this many pushes, so that a flood from one
 * OpenID between two alarms is bounded too, at the price of one scan per hundred pushes.
 */
export const TRIM_EVERY_PUSHES = 100
/** Past every dead letter's life (and the Queue's last retries), so none can bring a user back. */
export const TOMBSTONE_TTL_MS = DEAD_LETTER_TTL_SECONDS * 1000 + 24 * HOUR_MS
/**
 * What WeChat accepted stays in the outbox as long as a dead letter of its job can be replayed:
 * a replay never resends it. Kept rows cost storage, not writes (each is deleted once either way).
 */
export const OUTBOX_RETENTION_MS = TOMBSTONE_TTL_MS
/**
 * KV lists are eventually consistent (a key written just before may be missing from a list for
 * up to a minute): the dead letters are swept a minute after the purge, and again every minute
 * until a sweep succeeds. Success is not written down: the alarm then moves past the sweep time.
 */
export const SWEEP_DELAY_MS = 60 * 1000

export interface Tombstone {
  readonly unsubscribedAt: number
  readonly expiresAt: number
  readonly sweepAt: number
}

export function tombstoneOf(sql: SqlStorage): Tombstone | null {
  const row = sql
    .exec<{ unsubscribed_at: number; expires_at: number; sweep_at: number }>(
      'SELECT unsubscribed_at, expires_at, sweep_at FROM tombstone',
    )
    .toArray()[0]
  return row
    ? {
        unsubscribedAt: row.unsubscribed_at,
        expiresAt: row.expires_at,
        sweepAt: row.sweep_at,
      }
    : null
}

/**
 * A push from before the unsubscribe must not bring data back. A follow in the unsubscribe's
 * own second is a re-follow; anything else from that second is taken as earlier.
 */
export function predatesUnsubscribe(push: Push, tombstone: Tombstone | null): boolean {
  if (tombstone === null) return false
  if (push.createTime < tombstone.unsubscribedAt) return true
  return push.createTime === tombstone.unsubscribedAt && push.kind !== 'subscribe'
}

/**
 * Deletes everything of the user, then writes the tombstone, whose sweep of the user's dead
 * letters starts at once (the object's alarm carries it out). Only the tombstone's table is
 * made again: the caller migrates the rest before its next write.
 */
export async function purge(storage: DurableObjectStorage, unsubscribedAt: number): Promise<void> {
  await storage.deleteAlarm()
  await storage.deleteAll()
  storage.sql.exec(TOMBSTONE_TABLE)
  const now = Date.now()
  storage.sql.exec(
    'INSERT INTO tombstone (id, unsubscribed_at, expires_at, sweep_at) VALUES (1, ?, ?, ?)',
    unsubscribedAt,
    now + TOMBSTONE_TTL_MS,
    now + SWEEP_DELAY_MS,
  )
  await storage.setAlarm(now + SWEEP_DELAY_MS)
}

/**
 * Whether the dead letters are due a sweep: past its time, while the tombstone lives. A sweep
 * removes only letters kept before the purge, so one repeated after a re-follow is harmless.
 */
export function sweepDue(tombstone: Tombstone | null, now: number): tombstone is Tombstone {
  return tombstone !== null && tombstone.sweepAt <= now && now < tombstone.expiresAt
}

/**
 * Deletes what has outlived its retention: received keys and job claims as every owner keeps
 * them (src/receive/retention.ts), the outbox, the assistant's questions and memory, and the
 * tombstone once it expires.
 */
export function prune(sql: SqlStorage, now: number): void {
  pruneReceipts(sql, now)
  trimReceived(sql)
  sql.exec('DELETE FROM outbox WHERE at <= ?', now - OUTBOX_RETENTION_MS)
  pruneAssistant(sql, now, OUTBOX_RETENTION_MS)
  pruneTombstone(sql, now)
}

/** Keeps the newest {@link MAX_RECEIVED_KEYS} received keys. */
export function trimReceived(sql: SqlStorage): void {
  sql.exec(
    `DELETE FROM received WHERE key IN
       (SELECT key FROM received ORDER BY received_at DESC LIMIT -1 OFFSET ?)`,
    MAX_RECEIVED_KEYS,
  )
}

export function pruneTombstone(sql: SqlStorage, now: number): void {
  sql.exec('DELETE FROM tombstone WHERE expires_at <= ?', now)
}

/**
 * When the object must wake next: the first moment any row it holds expires, or a dead-letter
 * sweep still to come; null when it holds nothing that expires.
 */
export function nextWake(sql: SqlStorage, withTables = true): number | null {
  // After a purge only the tombstone's table exists.
  const row = sql
    .exec<Record<string, number | null>>(
      `SELECT ${withTables ? '(SELECT min(at) FROM outbox) + ?2 AS outbox,' : ''}
              (SELECT expires_at FROM tombstone) AS tombstone,
              (SELECT sweep_at FROM tombstone WHERE sweep_at > ?1) AS sweep`,
      Date.now(),
      ...(withTables ? [OUTBOX_RETENTION_MS] : []),
    )
    .one()
  const times = [
    ...Object.values(row),
    withTables ? receiptsExpireAt(sql) : null,
    ...(withTables ? assistantWakes(sql, OUTBOX_RETENTION_MS) : []),
  ].filter((at): at is number => typeof at === 'number')
  return times.length > 0 ? Math.min(...times) : null
}

/** Whether the object holds anything of a user (a profile, a session, a send, a consent). */
export function holdsAnything(sql: SqlStorage): boolean {
  const tables = [
    'profile',
    'session',
    'received',
    'outbox',
    'jobs',
    'consents',
    'assistant_asks',
    'assistant_memory',
  ]
  const exists = tables.map((table) => `EXISTS (SELECT 1 FROM ${table})`).join(' OR ')
  return sql.exec<{ held: number }>(`SELECT ${exists} AS held`).one().held === 1
}
