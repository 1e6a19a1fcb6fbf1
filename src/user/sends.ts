/**
 * Sends in the user's object: the reply windows their pushes open, and the outbox (each message
 * of a job by index: reserved, then sent). A customer-service send needs its job's claim
 * (src/receive/jobs.ts), and a purge deletes the claims: a job that was running when its user
 * unfollowed can send nothing afterwards. A notification is an outbox entry of its own kind
 * (job `notify:<key>`, index 0): it takes no place in a window but, for a subscription, the
 * user's consent (consents.ts), and the purge takes that with everything else.
 */

import { jobRunning } from '../receive/jobs.ts'
import type { NotificationChannel } from '../wechat/notification.ts'
import type { SubscriptionKind } from '../wechat/templates.ts'
import {
  type Grant,
  usableWindow,
  WINDOW_RULES,
  type WindowKind,
  windowRoom,
} from '../wechat/windows.ts'
import { consentAllows, restoreAcceptance, spendAcceptance } from './consents.ts'
import { WINDOW_COLUMNS } from './schema.ts'

/**
 * What {@link reserveSends} decided for a message of one or more parts. `parts`: each part is
 * `reserved` (send it) or `already_sent` (WeChat took it before). Otherwise nothing was
 * reserved: `window_closed` (not every part fits), `purged` (the job lost its claim to a purge),
 * `unconfirmed` (a part was tried twice without an answer: it is not tried a third time).
 */
export type SendReservation =
  | { readonly parts: readonly ('reserved' | 'already_sent')[] }
  | 'window_closed'
  | 'purged'
  | 'unconfirmed'
  /** A notification the user's consent does not allow (never accepted, spent, or rejected since). */
  | 'not_subscribed'
  /** A template message to a user whose unfollow purged them, and who has not followed since. */
  | 'not_a_follower'
  /** Another attempt holds this notification (see {@link NOTIFY_LEASE_MS}). */
  | 'in_progress'

/**
 * An outbox row's state: `reserved`, one attempt took a place in the window and may have
 * reached WeChat; `retried`, a second one did too; `sent`, WeChat accepted it.
 */
type OutboxState = 'reserved' | 'retried' | 'sent'

/** The user's windows, from their profile row (profile.ts opens them with each push). */
function windowsOf(sql: SqlStorage): Partial<Record<WindowKind, Grant>> {
  const row = sql
    .exec<{
      message_window_at: number
      message_window_used: number
      event_window_at: number
      event_window_used: number
    }>(
      'SELECT message_window_at, message_window_used, event_window_at, event_window_used FROM profile',
    )
    .toArray()[0]
  const grants: Partial<Record<WindowKind, Grant>> = {}
  if (row && row.message_window_at >= 0) {
    grants.message = { openedAt: row.message_window_at, used: row.message_window_used }
  }
  if (row && row.event_window_at >= 0) {
    grants.event = { openedAt: row.event_window_at, used: row.event_window_used }
  }
  return grants
}

/** Adds `delta` to the used count of each window named. */
function chargeWindows(sql: SqlStorage, kinds: readonly WindowKind[], delta: number): void {
  if (kinds.length === 0) return
  const set = kinds.map((kind) => {
    const { used } = WINDOW_COLUMNS[kind]
    return `${used} = max(0, ${used} + ?1)`
  })
  sql.exec(`UPDATE profile SET ${set.join(', ')}`, delta)
}

/**
 * Takes the places of a message's parts (`count` outbox indexes from `first`) out of the user's
 * open windows, all or none, and notes them in the outbox. Every attempt that may reach WeChat
 * takes a place: a part whose first attempt went unanswered (or whose Worker died before it
 * confirmed) is tried once more, in a place of its own, since WeChat may have counted both.
 */
export function reserveSends(
  storage: DurableObjectStorage,
  job: string,
  first: number,
  count: number,
  now: number,
): SendReservation {
  const sql = storage.sql
  if (!jobRunning(sql, job)) return 'purged'
  const states = new Map<number, OutboxState>()
  for (const row of sql.exec<{ idx: number; state: OutboxState }>(
    'SELECT idx, state FROM outbox WHERE job = ? AND idx >= ? AND idx < ?',
    job,
    first,
    first + count,
  )) {
    states.set(row.idx, row.state)
  }
  const indexes = Array.from({ length: count }, (_, i) => first + i)
  if (indexes.some((index) => states.get(index) === 'retried')) return 'unconfirmed'
  const needed = indexes.filter((index) => states.get(index) !== 'sent')
  if (needed.length === 0) return { parts: indexes.map(() => 'already_sent') }
  const grants = windowsOf(sql)
  if (usableWindow(grants, now, needed.length) === null) return 'window_closed'
  // Every open window counts the sends: windows do not add up (windows.ts).
  const charged = (Object.keys(grants) as WindowKind[]).filter((open) => {
    const grant = grants[open]
    return grant !== undefined && now < grant.openedAt + WINDOW_RULES[open].lengthMs
  })
  storage.transactionSync(() => {
    chargeWindows(sql, charged, needed.length)
    for (const index of needed) {
      sql.exec(
        `INSERT INTO outbox (job, idx, state, grant_kind, at) VALUES (?1, ?2, 'reserved', ?3, ?4)
         ON CONFLICT (job, idx) DO UPDATE SET state = 'retried', grant_kind = ?3, at = ?4`,
        job,
        index,
        charged.join(','),
        now,
      )
    }
  })
  return { parts: indexes.map((index) => (needed.includes(index) ? 'reserved' : 'already_sent')) }
}

/** How many messages the user's open windows still carry now (see {@link windowRoom}). */
export function roomToSend(sql: SqlStorage, now: number): number {
  return windowRoom(windowsOf(sql), now)
}

/**
 * WeChat refused a send for its window (45015, 45047): every open window is spent here too, so
 * that the next send does not go to WeChat again; the user's next interaction opens one afresh.
 */
export function closeWindows(sql: SqlStorage): void {
  sql.exec(
    'UPDATE profile SET message_window_used = ?1, event_window_used = ?1',
    Number.MAX_SAFE_INTEGER,
  )
}

/** WeChat accepted the message: a redelivery will not send it again. */
export function confirmSend(sql: SqlStorage, job: string, index: number, now: number): void {
  sql.exec(`UPDATE outbox SET state = 'sent', at = ? WHERE job = ? AND idx = ?`, now, job, index)
}

/**
 * WeChat did not take this attempt (it answered a refusal, or the attempt was never made): its
 * place in the window is given back. An earlier unanswered attempt keeps its place and its row.
 * A notification's first attempt gives back the acceptance it spent; its retry spent none.
 */
export function releaseSend(storage: DurableObjectStorage, job: string, index: number): void {
  const sql = storage.sql
  const row = sql
    .exec<{ grant_kind: string | null; state: OutboxState }>(
      `SELECT grant_kind, state FROM outbox WHERE job = ? AND idx = ? AND state != 'sent'`,
      job,
      index,
    )
    .toArray()[0]
  if (!row) return
  storage.transactionSync(() => {
    const grants = (row.grant_kind ?? '').split(',')
    const kinds = grants.filter((kind): kind is WindowKind => kind in WINDOW_RULES)
    const consent = grants.find((grant) => grant.startsWith(CONSENT_GRANT))
    chargeWindows(sql, kinds, -1)
    if (row.state === 'retried') {
      sql.exec(`UPDATE outbox SET state = 'reserved' WHERE job = ? AND idx = ?`, job, index)
    } else {
      sql.exec('DELETE FROM outbox WHERE job = ? AND idx = ?', job, index)
      if (consent !== undefined) restoreAcceptance(sql, consent.slice(CONSENT_GRANT.length))
    }
  })
}

/** An outbox row's grant when its notification spent one acceptance of this template. */
const CONSENT_GRANT = 'consent:'

/**
 * How long an attempt at a notification holds its entry: longer than the attempt can take (a
 * token's renewal and WeChat's 5 s, twice). Another attempt within it is `in_progress` (two
 * handler runs at once, an operator's double click) and sends nothing; one after it finds the
 * attempt died unanswered and tries once more, as the send path tries any unanswered message.
 */
export const NOTIFY_LEASE_MS = 30_000

/** What a notification takes: a one-time subscription, one of the user's acceptances. */
export interface NotificationCharge {
  readonly channel: NotificationChannel
  readonly templateId: string
  /** How the consent is spent; null for a template message, which needs none. */
  readonly subscription: SubscriptionKind | null
}

/**
 * Takes a notification's outbox entry (`job`, index 0) if the user's consent allows it:
 * `already_sent` once WeChat took it (the key's once-rule, as long as the outbox keeps it),
 * `in_progress` while another attempt holds it, `unconfirmed` after two unanswered attempts,
 * `not_subscribed` when the consent does not allow it (checked on the retry too: a reject since
 * stops it). A first attempt of a one-time subscription spends an acceptance.
 */
export function reserveNotification(
  storage: DurableObjectStorage,
  job: string,
  charge: NotificationCharge,
  now: number,
): SendReservation {
  const sql = storage.sql
  const row = sql
    .exec<{ state: OutboxState; at: number }>(
      'SELECT state, at FROM outbox WHERE job = ? AND idx = 0',
      job,
    )
    .toArray()[0]
  if (row?.state === 'sent') return { parts: ['already_sent'] }
  if (row && now - row.at < NOTIFY_LEASE_MS) return 'in_progress'
  if (row?.state === 'retried') return 'unconfirmed'
  const subscription = charge.channel === 'subscription'
  const spends = subscription && !row && charge.subscription === 'one_time'
  if (subscription) {
    const needs = spends ? 'an_acceptance' : 'no_refusal'
    if (!consentAllows(sql, charge.templateId, needs)) return 'not_subscribed'
  }
  storage.transactionSync(() => {
    if (spends) spendAcceptance(sql, charge.templateId)
    sql.exec(
      `INSERT INTO outbox (job, idx, state, grant_kind, at, channel, template_id)
       VALUES (?1, 0, 'reserved', ?2, ?3, ?4, ?5)
       ON CONFLICT (job, idx) DO UPDATE SET state = 'retried', at = ?3`,
      job,
      spends ? `${CONSENT_GRANT}${charge.templateId}` : '',
      now,
      charge.channel,
      charge.templateId,
    )
  })
  return { parts: ['reserved'] }
}

/**
 * The attempt holding a notification ended without WeChat's answer: it lets go of the lease (the
 * entry stays reserved: WeChat may have it), so that the next attempt is the one more try.
 */
export function abandonNotification(sql: SqlStorage, job: string, now: number): void {
  sql.exec(
    `UPDATE outbox SET at = ?1 WHERE job = ?2 AND idx = 0 AND state != 'sent'`,
    now - NOTIFY_LEASE_MS,
    job,
  )
}

/** WeChat took the notification (and answered this msgid, for a template message). */
export function confirmNotification(
  sql: SqlStorage,
  job: string,
  msgId: string | null,
  now: number,
): void {
  sql.exec(
    `UPDATE outbox SET state = 'sent', at = ?1, msg_id = coalesce(?2, msg_id)
     WHERE job = ?3 AND idx = 0`,
    now,
    msgId,
    job,
  )
}
