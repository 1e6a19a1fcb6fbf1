/**
 * Customer-service sends in the user's object: the reply windows their pushes open, and the
 * outbox (each message of a job by index: reserved, then sent). A send needs its job's claim
 * (src/jobs.ts), and a purge deletes the claims: a job that was running when its user
 * unfollowed can send nothing afterwards.
 */

import { jobRunning } from '../jobs.ts'
import type { Push } from '../wechat/push.ts'
import {
  type Grant,
  usableWindow,
  WINDOW_RULES,
  type WindowKind,
  windowOpenedBy,
} from '../wechat/windows.ts'

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

/**
 * An outbox row's state: `reserved`, one attempt took a place in the window and may have
 * reached WeChat; `retried`, a second one did too; `sent`, WeChat accepted it.
 */
type OutboxState = 'reserved' | 'retried' | 'sent'

/** Opens (or, for a newer interaction, reopens) the window a push opens; in the caller's transaction. */
export function openWindow(sql: SqlStorage, push: Push): void {
  const opens = windowOpenedBy(push)
  if (opens === null) return
  // A newer interaction opens its window afresh; an older one delivered late does not.
  sql.exec(
    `INSERT INTO windows (kind, opened_at, used) VALUES (?1, ?2, 0)
     ON CONFLICT (kind) DO UPDATE SET opened_at = ?2, used = 0 WHERE ?2 > opened_at`,
    opens,
    push.createTime * 1000,
  )
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
  const grants: Partial<Record<WindowKind, Grant>> = {}
  for (const window of sql.exec<{ kind: WindowKind; opened_at: number; used: number }>(
    'SELECT kind, opened_at, used FROM windows',
  )) {
    grants[window.kind] = { openedAt: window.opened_at, used: window.used }
  }
  if (usableWindow(grants, now, needed.length) === null) return 'window_closed'
  // Every open window counts the sends: windows do not add up (windows.ts).
  const charged = (Object.keys(grants) as WindowKind[]).filter((open) => {
    const grant = grants[open]
    return grant !== undefined && now < grant.openedAt + WINDOW_RULES[open].lengthMs
  })
  storage.transactionSync(() => {
    for (const open of charged) {
      sql.exec('UPDATE windows SET used = used + ? WHERE kind = ?', needed.length, open)
    }
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

/**
 * WeChat refused a send for its window (45015, 45047): every open window is spent here too, so
 * that the next send does not go to WeChat again; the user's next interaction opens one afresh.
 */
export function closeWindows(sql: SqlStorage): void {
  sql.exec('UPDATE windows SET used = ?', Number.MAX_SAFE_INTEGER)
}

/** WeChat accepted the message: a redelivery will not send it again. */
export function confirmSend(sql: SqlStorage, job: string, index: number, now: number): void {
  sql.exec(`UPDATE outbox SET state = 'sent', at = ? WHERE job = ? AND idx = ?`, now, job, index)
}

/**
 * WeChat did not take this attempt (it answered a refusal, or the attempt was never made): its
 * place in the window is given back. An earlier unanswered attempt keeps its place and its row.
 */
export function releaseSend(storage: DurableObjectStorage, job: string, index: number): void {
  const sql = storage.sql
  const row = sql
    .exec<{ grant_kind: string; state: OutboxState }>(
      `SELECT grant_kind, state FROM outbox WHERE job = ? AND idx = ? AND state != 'sent'`,
      job,
      index,
    )
    .toArray()[0]
  if (!row) return
  storage.transactionSync(() => {
    for (const kind of row.grant_kind.split(','))
      sql.exec('UPDATE windows SET used = max(0, used - 1) WHERE kind = ?', kind)
    if (row.state === 'retried') {
      sql.exec(`UPDATE outbox SET state = 'reserved' WHERE job = ? AND idx = ?`, job, index)
    } else {
      sql.exec('DELETE FROM outbox WHERE job = ? AND idx = ?', job, index)
    }
  })
}
