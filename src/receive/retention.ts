/**
 * How long an owner keeps what receiving needs: each received key (with the reply it was
 * given) and each job's claim live {@link RETENTION_MS} after they were written, well past
 * WeChat's retries (15 s) and the Queue's (minutes). The user's object and the ledger prune
 * with these, each from the one alarm its state derives.
 */

/** Received keys and job claims are kept this long after they were written. */
export const RETENTION_MS = 24 * 60 * 60 * 1000

/** Deletes received keys and job claims past their retention. */
export function pruneReceipts(sql: SqlStorage, now: number): void {
  sql.exec('DELETE FROM received WHERE received_at <= ?', now - RETENTION_MS)
  sql.exec('DELETE FROM jobs WHERE at <= ?', now - RETENTION_MS)
}

/** When the first received key or job claim held expires; null when none is held. */
export function receiptsExpireAt(sql: SqlStorage): number | null {
  // Scalar subqueries, not a UNION: Durable Objects' SQLite allows few compound terms. A
  // two-argument min() is null if either is: each falls back on the other.
  const { at } = sql
    .exec<{ at: number | null }>(
      `SELECT min(coalesce(r, j), coalesce(j, r)) AS at FROM
         (SELECT (SELECT min(received_at) FROM received) AS r, (SELECT min(at) FROM jobs) AS j)`,
    )
    .one()
  return at === null ? null : at + RETENTION_MS
}
