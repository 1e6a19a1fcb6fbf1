/**
 * UserState: one Durable Object per follower (by OpenID), on SQLite storage, and the one owner
 * of everything about that user. Every push reaches it through one admit path, whether it
 * comes from the request, the Queue or a job: received at most once by its dedup key, with the
 * reply it was given (a retry gets that reply back) and its handler's session writes, in one
 * transaction. It also owns the user's reply windows, outbox and job claims (sends.ts), their
 * consent to notifications and what became of each (consents.ts), their dead letters, and the
 * purge with its tombstone and the alarm that finishes it (lifecycle.ts).
 */

import { DurableObject } from 'cloudflare:workers'
import { objectsOf } from '../accounts/objects.ts'
import { unscoped } from '../accounts/scope.ts'
import { findAccount, isAuthorizer } from '../accounts/served.ts'
import { assistantSettings } from '../assistant/settings.ts'
import { type CampaignEvent, type Campaigns, isCampaignScene } from '../campaigns.ts'
import { readConfig } from '../config.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { platformOf } from '../platform/platform.ts'
import {
  type DeadLetterInput,
  forgetDeadLetters,
  recordDeadLetter,
} from '../queues/dead-letters.ts'
import { claimJob, finishJob, type JobClaim, type JobFinish, releaseJob } from '../receive/jobs.ts'
import { type Arrival, admit, type Earlier, type Receipt } from '../receive/receipt.ts'
import { RETENTION_MS } from '../receive/retention.ts'
import { sentOutcomeOf, templateOutcomeOf } from '../wechat/notification.ts'
import { isPurge, type Push, stateOwnerOf } from '../wechat/push.ts'
import { NO_REPLY } from '../wechat/reply.ts'
import { type AssistRequest, type AssistResult, UserAssistant } from './assistant.ts'
import {
  clearConsent,
  type MatchedOutcome,
  notificationPushApplies,
  recordChoices,
  recordSentResult,
  recordTemplateResult,
} from './consents.ts'
import {
  holdsAnything,
  nextWake,
  OUTBOX_RETENTION_MS,
  predatesUnsubscribe,
  prune,
  pruneTombstone,
  purge,
  SWEEP_DELAY_MS,
  sweepDue,
  TOMBSTONE_TTL_MS,
  type Tombstone,
  TRIM_EVERY_PUSHES,
  tombstoneOf,
  trimReceived,
} from './lifecycle.ts'
import {
  profileUpsert,
  type RecentPush,
  recentOf,
  snapshotOf,
  type UserSnapshot,
} from './profile.ts'
import { migrate } from './schema.ts'
import {
  abandonNotification,
  closeWindows,
  confirmNotification,
  confirmSend,
  type NotificationCharge,
  releaseSend,
  reserveNotification,
  reserveSends,
  roomToSend,
  type SendReservation,
} from './sends.ts'
import { type SessionWrites, sessionRows, writeSession, writesFit } from './session-rows.ts'

export type { JobClaim, JobFinish } from '../receive/jobs.ts'
export type { AssistRequest, AssistResult } from './assistant.ts'
export type { RecentPush, UserSnapshot } from './profile.ts'
export type { NotificationCharge, SendReservation } from './sends.ts'

/**
 * What {@link UserState}'s admission (`#admission`) alone hands out: this user may be given
 * storage. Making the tables takes one, so that no writer begins a user's storage without it.
 */
const ADMITTED: unique symbol = Symbol('admitted')
interface Admitted {
  readonly [ADMITTED]: true
}

export class UserState extends DurableObject<Cloudflare.Env> {
  /** Whether this instance has brought the tables up to date (a purge leaves only the tombstone). */
  #migrated = false

  /** The AI assistant's questions and memory (assistant.ts), in these tables. */
  readonly #assistant = new UserAssistant({
    tables: () => this.#tables(),
    beginTables: async (push) => {
      const admitted = await this.#admission(push.toUserName)
      // A purge while the platform was asked leaves a tombstone this push predates.
      if (!admitted || predatesUnsubscribe(push, this.#tombstone())) return null
      return this.#makeTables(admitted)
    },
    storage: this.ctx.storage,
    wakeBy: (at) => this.#wakeBy(at),
    replied: (key) => (this.#received(key)?.reply ?? null) !== null,
    predatesPurge: (push) => predatesUnsubscribe(push, this.#tombstone()),
    keepLetter: (letter) => this.keepDeadLetter(letter),
    quota: () => objectsOf(this.env, unscoped(this.ctx.id.name ?? '').account).assistantQuota(),
    provider: () => assistantSettings(this.env).provider,
    queueJob: async (job) => {
      await this.env.LATER.send(job).catch((error: unknown) =>
        logProblem('assistant_job_not_queued', { key: job.key, error: errorName(error) }),
      )
    },
  })

  /**
   * The tables, made now if the object has none, for a writer the admission let through (a push
   * received, a job or send claimed, a notification reserved, a question stored): the type says
   * so. Everything else, every read above all, goes through {@link #tables}, which never makes
   * them: an admin looking up an OpenID must not create storage for it.
   */
  #makeTables(_admitted: Admitted): SqlStorage {
    return this.#migrate()
  }

  /** Brings the tables this instance uses up to date, making them if there are none. */
  #migrate(): SqlStorage {
    const sql = this.ctx.storage.sql
    if (!this.#migrated) {
      migrate(sql)
      this.#migrated = true
    }
    return sql
  }

  /** The tables if the object has any, else null. */
  #tables(): SqlStorage | null {
    if (this.#migrated) return this.ctx.storage.sql
    const made = this.ctx.storage.sql
      .exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'profile'`)
      .toArray()
    return made.length > 0 ? this.#migrate() : null
  }

  /**
   * Receives a push, whether from the request path (with the reply WeChat was given and the
   * handler's session writes), the Queue or a job: at most once per key, by the one admit rule
   * (src/receive/receipt.ts); a retry gets the first reply back and changes nothing. Failures
   * come back as `failed`, so that no stack crosses RPC into a log.
   */
  async receive(arrival: Arrival): Promise<Receipt> {
    try {
      return await this.#admit(arrival)
    } catch (error) {
      logProblem('receive_failed', {
        kind: arrival.push.kind,
        key: arrival.key,
        error: errorName(error),
      })
      return { outcome: 'failed' }
    }
  }

  async #admit(arrival: Arrival): Promise<Receipt> {
    const { key, push, answered, writes, job } = arrival
    const owner = stateOwnerOf(push)
    if (owner === null) return { outcome: 'failed' }
    // A user of a platform authorizer is noted by the platform before anything is kept, so that
    // a revoke finds them; an account that has not authorized it keeps nothing here. First, so
    // that all below runs without a wait: a revoke's purge meanwhile leaves a tombstone that
    // refuses this push as stale.
    const admitted = isPurge(push) ? null : await this.#admission(push.toUserName, owner)
    if (!isPurge(push) && admitted === null) return { outcome: 'refused' }
    // Read without making the tables: a late push after a purge is refused, not stored for.
    const tombstone = this.#tombstone()
    if (predatesUnsubscribe(push, tombstone)) return { outcome: 'stale' }
    const admission = admit(this.#received(key), arrival)
    if (admission.take === 'replay') return { outcome: 'replay', reply: admission.reply }
    if (admission.take === 'duplicate') return { outcome: 'duplicate' }
    if (isPurge(push)) {
      // The purge deletes the session and every reply with the rest: nothing to remember.
      if (admission.take === 'first') {
        if (push.kind === 'unsubscribe') await this.#countUnfollow(push.createTime)
        await this.#purge(Math.max(push.createTime, tombstone?.unsubscribedAt ?? 0))
      }
      return { outcome: 'purged' }
    }
    // Not a purge (it returned above): admitted.
    if (admitted === null) return { outcome: 'refused' }
    const sql = this.#makeTables(admitted)
    const fits = writesFit(sql, writes)
    // Before the receipt is written: a job that could not be queued leaves no receipt, so the
    // caller's fallback (or WeChat's retry) queues it.
    if (admission.take === 'first' && job) await this.env.LATER.send(job)
    const now = Date.now()
    const outcomes: MatchedOutcome[] = []
    // Consent and a send's result are taken from an authenticated body only: a plaintext one
    // could be anyone's, for any OpenID (src/wechat/envelope.ts).
    const applies = notificationPushApplies(push, arrival.mode)
    if (!applies && admission.take === 'first') {
      logEvent('notification_push_ignored', { kind: push.kind, key, reason: 'unauthenticated' })
    }
    this.ctx.storage.transactionSync(() => {
      if (fits) writeSession(sql, writes)
      if (admission.take === 'reply_only') {
        // The Queue applied the push while this attempt answered: keep its reply only.
        sql.exec(
          'UPDATE received SET mode = ?, reply = ? WHERE key = ?',
          answered?.mode ?? null,
          answered?.reply ?? null,
          key,
        )
        return
      }
      const [upsert, ...params] = profileUpsert(owner, push)
      const counted = sql.exec<{ event_count: number }>(upsert, ...params).one()
      if (counted.event_count % TRIM_EVERY_PUSHES === 0) trimReceived(sql)
      // The consent ledger and the notifications' results, once per push (consents.ts).
      if (!applies) {
        // Received (a retry is a replay), nothing of it applied.
      } else if (
        push.kind === 'subscribe_msg_popup_event' ||
        push.kind === 'subscribe_msg_change_event'
      ) {
        recordChoices(sql, push)
      } else if (push.kind === 'subscribe_msg_sent_event') {
        for (const item of push.items) {
          outcomes.push(recordSentResult(sql, item.templateId, item.msgId, sentOutcomeOf(item)))
        }
      }
      sql.exec(
        'INSERT INTO received (key, received_at, kind, create_time, mode, reply) VALUES (?, ?, ?, ?, ?, ?)',
        key,
        now,
        push.kind,
        push.createTime,
        answered?.mode ?? null,
        answered?.reply ?? null,
      )
    })
    // What was handed out for this push (an assistant's answer) is given, or its job's to give.
    const fallback = this.#assistant.received(sql, key, {
      replied: answered !== null && answered.reply !== NO_REPLY,
      deferred: admission.take === 'first' && job !== null,
    })
    if (fallback) {
      await this.env.LATER.send(fallback).catch((error: unknown) =>
        logProblem('assistant_job_not_queued', { key, error: errorName(error) }),
      )
    }
    // The row just written expires last; the alarm then finds the rest (lifecycle.ts).
    await this.#wakeBy(now + RETENTION_MS)
    if (admission.take === 'first') await this.#countScene(push)
    for (const outcome of outcomes) this.#logOutcome(outcome)
    return { outcome: fits ? 'received' : 'too_large' }
  }

  /** A notification's result, for the log line: its channel and outcome, never its content. */
  #logOutcome({ channel, outcome, matched }: MatchedOutcome): void {
    const { account } = unscoped(this.ctx.id.name ?? '')
    logEvent('notification_outcome', { account, channel, outcome, matched })
  }

  /** A QR follow or a scan, received the first time: its campaign counts it (no OpenID). */
  async #countScene(push: Push): Promise<void> {
    if (push.kind === 'subscribe' && isCampaignScene(push.scene)) {
      await this.#count(push.scene, 'follows', push.createTime)
    } else if (push.kind === 'scan' && isCampaignScene(push.scene)) {
      await this.#count(push.scene, 'scans', push.createTime)
    }
  }

  /** The unfollow of a user who followed by a campaign's code counts against that campaign. */
  async #countUnfollow(createTime: number): Promise<void> {
    const sql = this.#tables()
    const scene = sql
      ?.exec<{ follow_scene: string | null }>('SELECT follow_scene FROM profile')
      .toArray()[0]?.follow_scene
    if (isCampaignScene(scene ?? null)) await this.#count(scene as string, 'unfollows', createTime)
  }

  /** A count that cannot be made is logged, never a failure of the push it counts. */
  async #count(scene: string, event: CampaignEvent, createTime: number): Promise<void> {
    try {
      await this.#campaigns().count(scene, event, createTime * 1000)
    } catch (error) {
      logProblem('campaign_count_failed', { event, error: errorName(error) })
    }
  }

  /**
   * The campaigns of this user's account: the object's own name is the user's OpenID under
   * their account's scope (src/accounts/scope.ts), so the user's object knows its account.
   */
  #campaigns(): DurableObjectStub<Campaigns> {
    const { account } = unscoped(this.ctx.id.name ?? '')
    const appId = findAccount(this.env, account)?.talkBack?.appId ?? null
    return objectsOf(this.env, account).campaigns(appId)
  }

  /**
   * The AI assistant, for the push `request.key`: its question asked once (whoever asks first),
   * its answer when ready within `waitMs` (src/user/assistant.ts).
   */
  assist(request: AssistRequest): Promise<AssistResult> {
    return this.#assistant.assist(request)
  }

  /**
   * The messages the job of the push `key` sends for its assistant `text`: earlier answers'
   * rests first, as many as the user's windows carry now (src/user/assistant.ts).
   */
  assistDeliveries(
    key: string,
    text: string,
    limitBytes: number,
    notice: string,
  ): readonly string[] {
    const sql = this.#tables()
    if (!sql) return [text]
    const room = roomToSend(sql, Date.now())
    return this.#assistant.deliveries(sql, key, text, { room, limitBytes, notice })
  }

  /** A job delivered the assistant's answer to this push (`sent`), or gave up on it for good. */
  assistDelivered(key: string, sent = true): void {
    this.#assistant.delivered(key, sent)
  }

  /** The session's values, as a handler or a job reads them. */
  readSession(): Readonly<Record<string, string>> {
    const sql = this.#tables()
    return sql ? Object.fromEntries(sessionRows(sql)) : {}
  }

  #received(key: string): Earlier | undefined {
    return this.#tables()
      ?.exec<Earlier & Record<string, SqlStorageValue>>(
        'SELECT mode, reply FROM received WHERE key = ?',
        key,
      )
      .toArray()[0]
  }

  /**
   * Claims a deferred job (or an operator's send, with a null push) for one claimant. `purged`
   * when the user unfollowed after the push: nothing is written.
   */
  async claimJob(job: string, claimant: string, push: Push | null): Promise<JobClaim> {
    if (push !== null && predatesUnsubscribe(push, this.#tombstone())) return 'purged'
    const admitted = await this.#admission(push?.toUserName ?? null)
    if (!admitted) return 'purged'
    const now = Date.now()
    const claim = claimJob(this.#makeTables(admitted), job, claimant, now)
    if (claim === 'claimed') await this.#wakeBy(now + RETENTION_MS)
    return claim
  }

  reserveSends(job: string, first: number, count: number): SendReservation {
    // No tables: a purge took them, and the job's claim with them.
    if (!this.#tables()) return 'purged'
    return reserveSends(this.ctx.storage, job, first, count, Date.now())
  }

  confirmSend(job: string, index: number): void {
    const sql = this.#tables()
    if (sql) confirmSend(sql, job, index, Date.now())
  }

  releaseSends(job: string, indexes: readonly number[]): void {
    if (!this.#tables()) return
    for (const index of indexes) releaseSend(this.ctx.storage, job, index)
  }

  /**
   * Takes a notification's outbox entry, if the user's consent allows it (sends.ts). A template
   * message to a user never seen makes their tables; one to a user purged since is refused.
   */
  async reserveNotification(job: string, charge: NotificationCharge): Promise<SendReservation> {
    if (!this.#tables()) {
      if (charge.channel === 'subscription') return 'not_subscribed'
      if (this.#tombstone()) return 'not_a_follower'
    }
    // A user the account's platform does not note (it revoked, say) is given nothing.
    const admitted = await this.#admission(null)
    if (!admitted) return 'not_a_follower'
    this.#makeTables(admitted)
    const now = Date.now()
    const reservation = reserveNotification(this.ctx.storage, job, charge, now)
    // The entry is kept as long as the outbox keeps what WeChat took: the alarm prunes it.
    if (typeof reservation === 'object') await this.#wakeBy(now + OUTBOX_RETENTION_MS)
    return reservation
  }

  abandonNotification(job: string): void {
    const sql = this.#tables()
    if (sql) abandonNotification(sql, job, Date.now())
  }

  confirmNotification(job: string, msgId: string | null): void {
    const sql = this.#tables()
    if (sql) confirmNotification(sql, job, msgId, Date.now())
  }

  /** WeChat refused a notification with 43101: the template's consent is cleared. */
  clearConsent(templateId: string): void {
    const sql = this.#tables()
    if (sql) clearConsent(sql, templateId, Math.floor(Date.now() / 1000))
  }

  /**
   * A template message's result (TEMPLATESENDJOBFINISH, received by the ledger: it names the
   * user as its sender) kept on the message WeChat gave that msgid. Makes no tables: a result
   * for a user this object knows nothing of is dropped.
   */
  noteTemplateResult(msgId: string, status: string): MatchedOutcome | null {
    const sql = this.#tables()
    if (!sql) return null
    const matched = recordTemplateResult(sql, msgId, templateOutcomeOf(status))
    this.#logOutcome(matched)
    return matched
  }

  /** WeChat refused a send for its window: see sends.ts. */
  closeWindows(): void {
    const sql = this.#tables()
    if (sql) closeWindows(sql)
  }

  releaseJob(job: string): void {
    const sql = this.#tables()
    if (sql) releaseJob(sql, job)
  }

  /**
   * Marks a job done with its handler's session writes, in one transaction: a redelivery then
   * does nothing and writes nothing twice. A job whose claim a purge deleted writes nothing.
   */
  finishJob(job: string, claimant: string, writes: SessionWrites = {}): JobFinish {
    const sql = this.#tables()
    if (!sql) return 'purged'
    const fits = writesFit(sql, writes)
    return this.ctx.storage.transactionSync(() => {
      if (!finishJob(sql, job, claimant, Date.now())) return 'purged'
      if (!fits) return 'too_large'
      writeSession(sql, writes)
      return 'finished'
    })
  }

  /**
   * Keeps a push or job the consumers gave up on, unless the user was purged since it was
   * sent: nothing of a user is written after their purge, dead letters included.
   */
  async keepDeadLetter(letter: DeadLetterInput): Promise<'kept' | 'purged'> {
    if (predatesUnsubscribe(letter.queued.push, this.#tombstone())) {
      logEvent('dead_letter_dropped', { key: letter.queued.key, reason: 'user purged' })
      return 'purged'
    }
    await recordDeadLetter(this.env.DEAD_LETTERS, letter)
    return 'kept'
  }

  /** The admin view, or null when nothing is stored (purged users included). */
  snapshot(): UserSnapshot | null {
    const sql = this.#tables()
    return sql ? snapshotOf(sql) : null
  }

  /** The last pushes received, newest first: kinds and keys, no content. */
  recent(): RecentPush[] {
    const sql = this.#tables()
    return sql ? recentOf(sql) : []
  }

  /** Deletes everything now (the admin API's DELETE), as an unsubscribe would. */
  async purge(): Promise<void> {
    await this.#purge(Math.floor(Date.now() / 1000))
  }

  async #purge(unsubscribedAt: number): Promise<void> {
    await purge(this.ctx.storage, unsubscribedAt)
    this.#migrated = false
    const { account, name: openid } = unscoped(this.ctx.id.name ?? '')
    const platform = readConfig(this.env).platform
    if (platform && isAuthorizer(this.env, account)) {
      await platformOf(this.env, platform).unregister(account, openid)
    }
  }

  /**
   * Whether this user may be given storage, as the one {@link Admitted} every table-making write
   * needs: always when the object holds tables already, or but for an account of the third-party
   * platform, whose platform registers them first (null when it has not authorized it, or the
   * push names another account's original id). `openid` is the push's state owner, which is
   * this object's own user.
   */
  async #admission(
    toUserName: string | null,
    openid = unscoped(this.ctx.id.name ?? '').name,
  ): Promise<Admitted | null> {
    const admitted: Admitted = { [ADMITTED]: true }
    if (this.#tables()) return admitted
    const { account } = unscoped(this.ctx.id.name ?? '')
    const platform = readConfig(this.env).platform
    if (!platform || !isAuthorizer(this.env, account)) return admitted
    const registered = await platformOf(this.env, platform).register(account, openid, toUserName)
    return registered ? admitted : null
  }

  /**
   * Prunes what outlived its retention, sweeps the dead letters of a purged user, and sets the
   * next wake from every table. An object left with nothing deletes its storage.
   */
  override async alarm(): Promise<void> {
    const now = Date.now()
    const tables = this.#tables()
    const sql = this.ctx.storage.sql
    if (tables) prune(tables, now)
    else pruneTombstone(sql, now)
    // A question due after its backoff, or a call lost with an earlier instance, is made now.
    if (tables) await this.#assistant.resume()
    const tombstone = this.#tombstone()
    const swept = sweepDue(tombstone, now) ? await this.#sweep(tombstone) : true
    if (!this.#tombstone() && !(tables && holdsAnything(tables))) {
      await this.ctx.storage.deleteAll()
      this.#migrated = false
      return
    }
    // A failed sweep comes back in a minute; otherwise the next row to expire wakes it.
    const next = swept ? nextWake(sql, tables !== null) : now + SWEEP_DELAY_MS
    await this.#wakeBy(next, true)
  }

  /** The tombstone, whether or not the other tables have been made again since the purge. */
  #tombstone(): Tombstone | null {
    return this.#migrated || this.#hasTombstoneTable() ? tombstoneOf(this.ctx.storage.sql) : null
  }

  #hasTombstoneTable(): boolean {
    return (
      this.ctx.storage.sql
        .exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tombstone'`)
        .toArray().length > 0
    )
  }

  /** Deletes the dead letters kept before the purge; false when KV failed (it is tried again). */
  async #sweep(tombstone: Tombstone): Promise<boolean> {
    // Letters are kept under the owner's name as its object is named: this object's own.
    const owner = this.ctx.id.name
    if (owner === undefined) return true
    try {
      await forgetDeadLetters(this.env.DEAD_LETTERS, owner, tombstone.expiresAt - TOMBSTONE_TTL_MS)
      return true
    } catch (error) {
      logProblem('dead_letter_sweep_failed', { error: errorName(error) })
      return false
    }
  }

  /** Sets the alarm for `at` unless one is due sooner (or, `replace`, whatever is set). */
  async #wakeBy(at: number | null, replace = false): Promise<void> {
    if (at === null) return
    const current = await this.ctx.storage.getAlarm()
    if (replace || current === null || current > at) await this.ctx.storage.setAlarm(at)
  }
}
