/**
 * The ledger: the owner of pushes that belong to no user (template, mass-send and publish job
 * results, `user_info_modified`, kinds this version does not know). It keeps what a user's
 * object keeps for theirs, and nothing else: each push's key with the reply it was given, so
 * that a retry gets the first reply and the push is received once; and the claims of their
 * deferred jobs, so that each runs once. No user state is ever created for WeChat's senders: a
 * template message's result is handed to the user who received the message (their object
 * keeps it only with a message it sent).
 * Sharded by key (src/receive/owner.ts), so that a burst of template results is spread out.
 */

import { DurableObject } from 'cloudflare:workers'
import { objectsOf } from '../accounts/objects.ts'
import { unscoped } from '../accounts/scope.ts'
import { isAuthorizer } from '../accounts/served.ts'
import { readConfig } from '../config.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { platformOf } from '../platform/platform.ts'
import { type DeadLetterInput, recordDeadLetter } from '../queues/dead-letters.ts'
import { migrateTables } from '../sqlite-migrations.ts'
import { notificationPushApplies } from '../user/consents.ts'
import {
  claimJob,
  finishJob,
  JOBS_TABLE,
  type JobClaim,
  type JobFinish,
  releaseJob,
} from './jobs.ts'
import { type Arrival, admit, type Earlier, type Receipt } from './receipt.ts'
import { pruneReceipts, RETENTION_MS, receiptsExpireAt } from './retention.ts'

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE received (
     key TEXT PRIMARY KEY,
     received_at INTEGER NOT NULL,
     mode TEXT,
     reply TEXT
   ) WITHOUT ROWID;
   ${JOBS_TABLE}`,
]

/** How long a ledger trusts the platform's answer on whether its account is authorized. */
const AUTHORIZATION_MEMO_MS = 60_000

export class Ledger extends DurableObject<Cloudflare.Env> {
  #migrated = false
  /** The platform's last answer for this shard's account (see #admitted). */
  readonly #authorized = new Map<string, { readonly value: boolean; readonly until: number }>()

  /** The tables, made on first use and again after the alarm deleted everything. */
  get #sql(): SqlStorage {
    const sql = this.ctx.storage.sql
    if (!this.#migrated) {
      migrateTables(sql, MIGRATIONS)
      this.#migrated = true
    }
    return sql
  }

  /** Receives a push at most once per key, by the one admit rule (src/receive/receipt.ts). */
  async receive(arrival: Arrival): Promise<Receipt> {
    try {
      const { key, answered, job, push } = arrival
      // A push of nobody for a platform account that has not authorized it is kept nowhere,
      // not even as this shard's tables: asked first (free from the memo but once a minute).
      if (!(await this.#admitted(push.toUserName))) return { outcome: 'refused' }
      const earlier = this.#sql
        .exec<Earlier & Record<string, SqlStorageValue>>(
          'SELECT mode, reply FROM received WHERE key = ?',
          key,
        )
        .toArray()[0]
      const admission = admit(earlier, arrival)
      if (admission.take === 'replay') return { outcome: 'replay', reply: admission.reply }
      if (admission.take === 'duplicate') return { outcome: 'duplicate' }
      // Queued the first time only, before the receipt: see UserState.
      if (admission.take === 'first' && job) await this.env.LATER.send(job)
      this.#sql.exec(
        `INSERT INTO received (key, received_at, mode, reply) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET mode = ?3, reply = ?4`,
        key,
        Date.now(),
        answered?.mode ?? null,
        answered?.reply ?? null,
      )
      await this.#wake()
      if (admission.take === 'first') await this.#forwardResult(arrival)
      return { outcome: 'received' }
    } catch (error) {
      logProblem('ledger_failed', { key: arrival.key, error: errorName(error) })
      return { outcome: 'failed' }
    }
  }

  /**
   * Whether this shard's account has its pushes taken: all but a platform's non-authorizers,
   * asked of the platform at most once a minute (a shard receives pushes of nobody in bursts:
   * job results), so that a revoke is honoured within that minute.
   */
  async #admitted(toUserName: string): Promise<boolean> {
    const { account } = unscoped(this.ctx.id.name ?? '')
    const platform = readConfig(this.env).platform
    if (!platform || !isAuthorizer(this.env, account)) return true
    const memo = this.#authorized.get(toUserName)
    if (memo !== undefined && Date.now() < memo.until) return memo.value
    const value = await platformOf(this.env, platform).isAuthorized(account, toUserName)
    this.#authorized.set(toUserName, { value, until: Date.now() + AUTHORIZATION_MEMO_MS })
    return value
  }

  /**
   * A template message's result (TEMPLATESENDJOBFINISH) names its user as the sender
   * (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html):
   * its outcome goes to that user's object, which keeps it with the message it sent under that
   * msgid, or drops it. Nothing of the user is kept here. A result that cannot be handed over is
   * logged, never a failure of the push (as a campaign count).
   */
  async #forwardResult({ push, mode, key }: Arrival): Promise<void> {
    if (push.kind !== 'template_send_job_finish') return
    // A plaintext body could be anyone's: it rewrites no send's outcome (src/wechat/envelope.ts).
    if (!notificationPushApplies(push, mode)) {
      logEvent('notification_push_ignored', { kind: push.kind, key, reason: 'unauthenticated' })
      return
    }
    try {
      const { account } = unscoped(this.ctx.id.name ?? '')
      await objectsOf(this.env, account)
        .user(push.fromUserName)
        .noteTemplateResult(push.msgId, push.status)
    } catch (error) {
      logProblem('notification_outcome_failed', { error: errorName(error) })
    }
  }

  /** Claims a deferred job for one Queue message: `taken` by another, or `done` already. */
  async claimJob(job: string, claimant: string): Promise<JobClaim> {
    const claim = claimJob(this.#sql, job, claimant, Date.now())
    if (claim === 'claimed') await this.#wake()
    return claim
  }

  /** A push of nobody has no session: its job's writes are none. */
  finishJob(job: string, claimant: string): JobFinish {
    return finishJob(this.#sql, job, claimant, Date.now()) ? 'finished' : 'purged'
  }

  releaseJob(job: string): void {
    releaseJob(this.#sql, job)
  }

  /** A push of nobody's letter is kept as it is: there is no user to purge it with. */
  async keepDeadLetter(letter: DeadLetterInput): Promise<'kept'> {
    await recordDeadLetter(this.env.DEAD_LETTERS, letter)
    return 'kept'
  }

  override async alarm(): Promise<void> {
    pruneReceipts(this.#sql, Date.now())
    const next = receiptsExpireAt(this.#sql)
    if (next !== null) return this.ctx.storage.setAlarm(next)
    await this.ctx.storage.deleteAll()
    this.#migrated = false
  }

  /** The row just written expires last: an alarm already set comes sooner. */
  async #wake(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + RETENTION_MS)
    }
  }
}
