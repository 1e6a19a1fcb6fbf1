/**
 * The ledger: the owner of pushes that belong to no user (template, mass-send and publish job
 * results, `user_info_modified`, kinds this version does not know). It keeps what a user's
 * object keeps for theirs, and nothing else: each push's key with the reply it was given, 24
 * hours, so that a retry gets the first reply and the push is received once; and the claims of
 * their deferred jobs, so that each runs once. No user state is ever created for WeChat's
 * senders. Sharded by key, so that a burst of template results (one per message sent) is
 * spread over {@link LEDGER_SHARDS} objects per account.
 */

import { DurableObject } from 'cloudflare:workers'
import { claimJob, finishJob, JOBS_TABLE, releaseJob } from './jobs.ts'
import { errorName, logProblem } from './log.ts'
import type { QueuedJob } from './queues/queued.ts'
import { migrateTables } from './sqlite-migrations.ts'
import type { PushMode } from './wechat/envelope.ts'
import type { Push } from './wechat/push.ts'

export const LEDGER_SHARDS = 16
/** Keys, replies and job claims are kept this long: well past WeChat's and the Queue's retries. */
export const LEDGER_RETENTION_MS = 24 * 60 * 60 * 1000

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE received (
     key TEXT PRIMARY KEY,
     received_at INTEGER NOT NULL,
     mode TEXT,
     reply TEXT
   ) WITHOUT ROWID;
   ${JOBS_TABLE}`,
]

/** What receiving a push came to, as the user's object answers it. */
export type LedgerReceipt =
  | { readonly outcome: 'received' | 'duplicate' | 'failed' }
  | { readonly outcome: 'replay'; readonly reply: string }

/**
 * The ledger shard that owns a push: by its account (ToUserName) and its key, so that one
 * deployment may serve several accounts without their pushes meeting.
 */
export function ledgerFor(
  ledgers: DurableObjectNamespace<Ledger>,
  push: Push,
  key: string,
): DurableObjectStub<Ledger> {
  let hash = 0
  for (const char of key) hash = (hash * 31 + char.charCodeAt(0)) >>> 0
  return ledgers.getByName(`${push.toUserName}:${hash % LEDGER_SHARDS}`)
}

export class Ledger extends DurableObject<Cloudflare.Env> {
  readonly #sql: SqlStorage

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env)
    this.#sql = ctx.storage.sql
    migrateTables(this.#sql, MIGRATIONS)
  }

  /**
   * Receives a push with its reply (the request path), or without one (the Queue: null mode
   * and reply), at most once per key; a retry gets the first reply (`success` in another mode).
   */
  async receive(
    key: string,
    mode: PushMode | null,
    reply: string | null,
    job: QueuedJob | null = null,
  ): Promise<LedgerReceipt> {
    try {
      const earlier = this.#sql
        .exec<{ mode: string | null; reply: string | null }>(
          'SELECT mode, reply FROM received WHERE key = ?',
          key,
        )
        .toArray()[0]
      if (earlier?.reply != null) {
        return {
          outcome: 'replay',
          reply: mode !== null && earlier.mode === mode ? earlier.reply : 'success',
        }
      }
      if (earlier && reply === null) return { outcome: 'duplicate' }
      // Queued the first time only, before the receipt: see UserState.
      if (job && !earlier) await this.env.LATER.send(job)
      this.#sql.exec(
        `INSERT INTO received (key, received_at, mode, reply) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET mode = ?3, reply = ?4`,
        key,
        Date.now(),
        mode,
        reply,
      )
      await this.#wake()
      return { outcome: 'received' }
    } catch (error) {
      logProblem('ledger_failed', { key, error: errorName(error) })
      return { outcome: 'failed' }
    }
  }

  /** Claims a deferred job for one Queue message: `taken` by another, or `done` already. */
  async claimJob(job: string, claimant: string): Promise<'claimed' | 'taken' | 'done'> {
    const claim = claimJob(this.#sql, job, claimant, Date.now())
    if (claim === 'claimed') await this.#wake()
    return claim
  }

  finishJob(job: string, claimant: string): void {
    finishJob(this.#sql, job, claimant, Date.now())
  }

  releaseJob(job: string): void {
    releaseJob(this.#sql, job)
  }

  override async alarm(): Promise<void> {
    const expired = Date.now() - LEDGER_RETENTION_MS
    this.#sql.exec('DELETE FROM received WHERE received_at <= ?', expired)
    this.#sql.exec('DELETE FROM jobs WHERE at <= ?', expired)
    const oldest = this.#sql
      .exec<{ at: number | null }>(
        'SELECT min(at) AS at FROM (SELECT min(received_at) AS at FROM received UNION ALL SELECT min(at) FROM jobs)',
      )
      .one().at
    if (oldest === null) await this.ctx.storage.deleteAll()
    else await this.ctx.storage.setAlarm(oldest + LEDGER_RETENTION_MS)
  }

  async #wake(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + LEDGER_RETENTION_MS)
    }
  }
}
