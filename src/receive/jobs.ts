/**
 * Deferred jobs' claims, in the SQLite storage of the push's owner (the user's object, or the
 * ledger): which Queue message runs a job, and whether it finished. One Queue message claims a
 * job (its id survives a redelivery), so a job runs once however often it is delivered.
 */

/** The table, in each owner's schema. */
export const JOBS_TABLE = `CREATE TABLE jobs (
     job TEXT PRIMARY KEY,
     claimant TEXT NOT NULL,
     state TEXT NOT NULL,
     at INTEGER NOT NULL
   ) WITHOUT ROWID;`

/** What {@link claimJob} decided; `purged` is the user's object's own answer (see UserState). */
export type JobClaim = 'claimed' | 'taken' | 'done' | 'purged'

/** What a job's finish came to: `too_large`, its session writes did not fit; `purged`, its claim is gone. */
export type JobFinish = 'finished' | 'too_large' | 'purged'

/**
 * Claims a job for one Queue message: `taken` when another message holds it (a duplicate),
 * `done` when it finished.
 */
export function claimJob(
  sql: SqlStorage,
  job: string,
  claimant: string,
  now: number,
): Exclude<JobClaim, 'purged'> {
  const row = sql
    .exec<{ claimant: string; state: string }>(
      'SELECT claimant, state FROM jobs WHERE job = ?',
      job,
    )
    .toArray()[0]
  if (row?.state === 'done') return 'done'
  if (row && row.claimant !== claimant) return 'taken'
  if (!row) {
    sql.exec(
      `INSERT INTO jobs (job, claimant, state, at) VALUES (?, ?, 'running', ?)`,
      job,
      claimant,
      now,
    )
  }
  return 'claimed'
}

/** Whether a job holds its claim and is still running. */
export function jobRunning(sql: SqlStorage, job: string): boolean {
  return (
    sql.exec(`SELECT 1 FROM jobs WHERE job = ? AND state = 'running'`, job).toArray().length > 0
  )
}

/** Marks a claimed job done; false when its claim is gone (a purge, in a user's object). */
export function finishJob(sql: SqlStorage, job: string, claimant: string, now: number): boolean {
  const finished = sql.exec(
    `UPDATE jobs SET state = 'done', at = ? WHERE job = ? AND claimant = ? AND state = 'running'`,
    now,
    job,
    claimant,
  )
  return finished.rowsWritten > 0
}

/** Lets another message take the job (its own was dead-lettered, so a replay may run it). */
export function releaseJob(sql: SqlStorage, job: string): void {
  sql.exec(`DELETE FROM jobs WHERE job = ? AND state = 'running'`, job)
}
