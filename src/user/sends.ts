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

/** What {@link reserveSend} decided. `purged`: the job lost its claim to a purge. */
export type SendReservation = 'reserved' | 'already_sent' | 'window_closed' | 'purged'

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
 * Takes one message out of the user's open windows and notes it in the outbox. `already_sent`:
 * WeChat accepted this one before (a redelivery). A reservation left by an attempt that died
 * before confirming is reused: WeChat may or may not have that message.
 */
export function reserveSend(
  storage: DurableObjectStorage,
  job: string,
  index: number,
  now: number,
): SendReservation {
  const sql = storage.sql
  if (!jobRunning(sql, job)) return 'purged'
  const row = sql
    .exec<{ state: string }>('SELECT state FROM outbox WHERE job = ? AND idx = ?', job, index)
    .toArray()[0]
  if (row?.state === 'sent') return 'already_sent'
  if (row?.state === 'reserved') return 'reserved'
  const grants: Partial<Record<WindowKind, Grant>> = {}
  for (const window of sql.exec<{ kind: WindowKind; opened_at: number; used: number }>(
    'SELECT kind, opened_at, used FROM windows',
  )) {
    grants[window.kind] = { openedAt: window.opened_at, used: window.used }
  }
  if (usableWindow(grants, now) === null) return 'window_closed'
  // Every open window counts the send: windows do not add up (windows.ts).
  const charged = (Object.keys(grants) as WindowKind[]).filter((open) => {
    const grant = grants[open]
    return grant !== undefined && now < grant.openedAt + WINDOW_RULES[open].lengthMs
  })
  storage.transactionSync(() => {
    for (const open of charged) sql.exec('UPDATE windows SET used = used + 1 WHERE kind = ?', open)
    sql.exec(
      `INSERT INTO outbox (job, idx, state, grant_kind, at) VALUES (?, ?, 'reserved', ?, ?)`,
      job,
      index,
      charged.join(','),
      now,
    )
  })
  return 'reserved'
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

/** WeChat did not take the message: its place in the window is given back. */
export function releaseSend(storage: DurableObjectStorage, job: string, index: number): void {
  const sql = storage.sql
  const row = sql
    .exec<{ grant_kind: string }>(
      `SELECT grant_kind FROM outbox WHERE job = ? AND idx = ? AND state = 'reserved'`,
      job,
      index,
    )
    .toArray()[0]
  if (!row) return
  storage.transactionSync(() => {
    for (const kind of row.grant_kind.split(','))
      sql.exec('UPDATE windows SET used = max(0, used - 1) WHERE kind = ?', kind)
    sql.exec('DELETE FROM outbox WHERE job = ? AND idx = ?', job, index)
  })
}
