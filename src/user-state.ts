/**
 * UserState: one Durable Object per follower (by OpenID), on SQLite storage. It is the authority
 * for effects: each push applies at most once by its dedup key, a field never goes back in time,
 * and an unsubscribe deletes everything, leaving only a tombstone that holds the unsubscribe
 * time and expires on its own, so that a late push cannot bring data back.
 */

import { DurableObject } from 'cloudflare:workers'
import { errorName, logProblem } from './log.ts'
import {
  MAX_SESSION_BYTES,
  type SessionCommitted,
  type SessionOpened,
  sessionBytes,
} from './session.ts'
import type { PushMode } from './wechat/envelope.ts'
import { isKeyedMenuEvent, isPurge, type Push, type PushKind, stateOwnerOf } from './wechat/push.ts'
import { type Grant, usableWindow, type WindowKind, windowOpenedBy } from './wechat/windows.ts'

/** The admin API's view of a user: what `GET /admin/users/:openid` answers. */
export interface UserSnapshot {
  readonly openid: string
  readonly subscribed: boolean
  readonly subscribedAt: number | null
  readonly scene: string | null
  readonly location: {
    readonly latitude: number
    readonly longitude: number
    readonly precision: number
    readonly at: number
  } | null
  readonly lastMenuKey: string | null
  readonly eventCount: number
  /** The session's keys and size in bytes: never its values. */
  readonly session: { readonly keys: readonly string[]; readonly bytes: number }
}

export interface RecentPush {
  readonly key: string
  readonly kind: PushKind
  readonly createTime: number
  /** Milliseconds since the epoch when it was applied. */
  readonly appliedAt: number
}

/**
 * `failed`: nothing was applied and the caller should retry (storage refused the push).
 * `not_a_follower`: the push touches nobody's state (a system push); nothing was stored.
 */
/** What {@link UserState.reserveSend} decided. */
export type SendReservation = 'reserved' | 'already_sent' | 'window_closed'

export type ApplyOutcome =
  | 'applied'
  | 'duplicate'
  | 'stale'
  | 'purged'
  | 'not_a_follower'
  | 'failed'

/** Applied keys are remembered this long: well past WeChat's and the Queue's retries. */
export const APPLIED_KEY_RETENTION_MS = 24 * 60 * 60 * 1000
/** …and at most this many, oldest forgotten first. */
export const MAX_APPLIED_KEYS = 1000
export const MAX_RECENT_PUSHES = 20
/** A tombstone outlives every retry of a push sent before the unsubscribe. */
export const TOMBSTONE_TTL_MS = APPLIED_KEY_RETENTION_MS

interface ProfileRow extends Record<string, SqlStorageValue> {
  openid: string
  subscribed: number
  subscribed_at: number | null
  subscription_at: number
  scene: string | null
  scene_at: number
  latitude: number | null
  longitude: number | null
  precision: number | null
  location_at: number
  last_menu_key: string | null
  menu_at: number
  event_count: number
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS profile (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    openid TEXT NOT NULL,
    subscribed INTEGER NOT NULL DEFAULT 1,
    subscribed_at INTEGER,
    subscription_at INTEGER NOT NULL DEFAULT 0,
    scene TEXT,
    scene_at INTEGER NOT NULL DEFAULT 0,
    latitude REAL,
    longitude REAL,
    precision REAL,
    location_at INTEGER NOT NULL DEFAULT -1,
    last_menu_key TEXT,
    menu_at INTEGER NOT NULL DEFAULT -1,
    event_count INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS applied (key TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS applied_by_age ON applied (applied_at);
  CREATE TABLE IF NOT EXISTS recent (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    applied_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS session (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    body TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS windows (
    kind TEXT PRIMARY KEY,
    opened_at INTEGER NOT NULL,
    used INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS outbox (
    job TEXT NOT NULL,
    idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    grant_kind TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (job, idx)
  );
  CREATE TABLE IF NOT EXISTS tombstone (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    unsubscribed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
`

export class UserState extends DurableObject {
  readonly #sql: SqlStorage

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env)
    this.#sql = ctx.storage.sql
    this.#sql.exec(SCHEMA)
  }

  /**
   * Applies one push at most once; returns what happened to it. Failures come back as `failed`
   * rather than as exceptions, so that no stack crosses RPC into a log.
   */
  async apply(key: string, push: Push): Promise<ApplyOutcome> {
    try {
      return await this.#apply(key, push)
    } catch (error) {
      logProblem('apply_failed', { kind: push.kind, key, error: errorName(error) })
      return 'failed'
    }
  }

  async #apply(key: string, push: Push): Promise<ApplyOutcome> {
    const unsubscribedAt = this.#tombstoneTime()
    if (unsubscribedAt !== null && predatesUnsubscribe(push, unsubscribedAt)) return 'stale'
    if (this.#isApplied(key)) return 'duplicate'
    const owner = stateOwnerOf(push)
    if (owner === null) return 'not_a_follower'
    if (isPurge(push)) {
      await this.#purge(Math.max(push.createTime, unsubscribedAt ?? 0))
      return 'purged'
    }
    const now = Date.now()
    this.ctx.storage.transactionSync(() => this.#record(key, owner, push, now))
    await this.#ensureAlarm(now + APPLIED_KEY_RETENTION_MS)
    return 'applied'
  }

  /**
   * The session as this push should read it: its values, or, when this push was committed
   * already, the reply it was given then (`success` for a push since sent in another mode, so
   * that an encrypted reply is never replayed in clear).
   */
  openSession(key: string, mode: PushMode): SessionOpened {
    const committed = this.#sql
      .exec<{ mode: string; body: string }>('SELECT mode, body FROM replies WHERE key = ?', key)
      .toArray()[0]
    if (committed) return { replay: committed.mode === mode ? committed.body : 'success' }
    const values: Record<string, string> = {}
    for (const row of this.#sql.exec<{ name: string; value: string }>(
      'SELECT name, value FROM session',
    )) {
      values[row.name] = row.value
    }
    return { replay: null, values }
  }

  /**
   * Commits a push's session writes, in one transaction with the push itself (unless the Queue
   * applied it already), its key and its reply. A second commit of the same key writes nothing
   * and returns the first reply.
   */
  async commitSession(
    key: string,
    mode: PushMode,
    push: Push,
    writes: Readonly<Record<string, string | null>>,
    reply: string,
    recordPush = true,
  ): Promise<SessionCommitted> {
    const owner = stateOwnerOf(push)
    // A purge deletes the session with everything else: its writes would not outlive it.
    if (owner === null || isPurge(push)) return { outcome: 'discarded' }
    const unsubscribedAt = this.#tombstoneTime()
    if (unsubscribedAt !== null && predatesUnsubscribe(push, unsubscribedAt)) {
      return { outcome: 'stale' }
    }
    const opened = this.openSession(key, mode)
    if (opened.replay !== null) return { outcome: 'replay', reply: opened.replay }
    const next = new Map(Object.entries(opened.values))
    for (const [name, value] of Object.entries(writes)) {
      if (value === null) next.delete(name)
      else next.set(name, value)
    }
    if (sessionBytes(next) > MAX_SESSION_BYTES) return { outcome: 'too_large' }
    const now = Date.now()
    this.ctx.storage.transactionSync(() => {
      for (const [name, value] of Object.entries(writes)) {
        if (value === null) this.#sql.exec('DELETE FROM session WHERE name = ?', name)
        else {
          this.#sql.exec(
            'INSERT INTO session (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = ?2',
            name,
            value,
          )
        }
      }
      this.#sql.exec(
        'INSERT INTO replies (key, mode, body, at) VALUES (?, ?, ?, ?)',
        key,
        mode,
        reply,
        now,
      )
      if (recordPush && !this.#isApplied(key)) this.#record(key, owner, push, now)
    })
    await this.#ensureAlarm(now + APPLIED_KEY_RETENTION_MS)
    return { outcome: 'committed' }
  }

  #isApplied(key: string): boolean {
    return this.#sql.exec('SELECT 1 FROM applied WHERE key = ?', key).toArray().length > 0
  }

  /**
   * Takes one message of a customer-service send out of the user's open windows, and notes it
   * in the outbox by job and index. `already_sent`: WeChat accepted this one before (a Queue
   * redelivery), so it is not sent again. `window_closed`: no window is open or its quota is
   * spent. A reservation left by an attempt that died before confirming is reused: WeChat may
   * or may not have that message, and it is sent again (the one window for a duplicate).
   */
  reserveSend(job: string, index: number): SendReservation {
    const row = this.#sql
      .exec<{ state: string }>('SELECT state FROM outbox WHERE job = ? AND idx = ?', job, index)
      .toArray()[0]
    if (row?.state === 'sent') return 'already_sent'
    if (row?.state === 'reserved') return 'reserved'
    const grants: Partial<Record<WindowKind, Grant>> = {}
    for (const window of this.#sql.exec<{ kind: WindowKind; opened_at: number; used: number }>(
      'SELECT kind, opened_at, used FROM windows',
    )) {
      grants[window.kind] = { openedAt: window.opened_at, used: window.used }
    }
    const now = Date.now()
    const kind = usableWindow(grants, now)
    if (kind === null) return 'window_closed'
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec('UPDATE windows SET used = used + 1 WHERE kind = ?', kind)
      this.#sql.exec(
        `INSERT INTO outbox (job, idx, state, grant_kind, at) VALUES (?, ?, 'reserved', ?, ?)`,
        job,
        index,
        kind,
        now,
      )
    })
    return 'reserved'
  }

  /** WeChat accepted the message: a redelivery will not send it again. */
  confirmSend(job: string, index: number): void {
    this.#sql.exec(`UPDATE outbox SET state = 'sent' WHERE job = ? AND idx = ?`, job, index)
  }

  /** WeChat did not take the message: its place in the window is given back. */
  releaseSend(job: string, index: number): void {
    const row = this.#sql
      .exec<{ grant_kind: string }>(
        `SELECT grant_kind FROM outbox WHERE job = ? AND idx = ? AND state = 'reserved'`,
        job,
        index,
      )
      .toArray()[0]
    if (!row) return
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec('UPDATE windows SET used = max(0, used - 1) WHERE kind = ?', row.grant_kind)
      this.#sql.exec('DELETE FROM outbox WHERE job = ? AND idx = ?', job, index)
    })
  }

  /**
   * Claims a deferred job for one Queue message (its id survives redelivery): `taken` when
   * another message holds it (a duplicate sent by a retried push), `done` when it finished.
   */
  claimJob(job: string, claimant: string): 'claimed' | 'taken' | 'done' {
    if (this.isJobFinished(job)) return 'done'
    const holder = this.#sql
      .exec<{ grant_kind: string }>('SELECT grant_kind FROM outbox WHERE job = ? AND idx = -2', job)
      .toArray()[0]
    if (holder && holder.grant_kind !== claimant) return 'taken'
    this.#sql.exec(
      `INSERT INTO outbox (job, idx, state, grant_kind, at) VALUES (?, -2, 'claimed', ?, ?)
       ON CONFLICT DO NOTHING`,
      job,
      claimant,
      Date.now(),
    )
    return 'claimed'
  }

  /** Lets another message take the job (its own was dead-lettered, so a replay may run it). */
  releaseJob(job: string): void {
    this.#sql.exec('DELETE FROM outbox WHERE job = ? AND idx = -2', job)
  }

  /** Marks a deferred job done, so that a redelivery of it does nothing. */
  finishJob(job: string): void {
    this.#sql.exec(
      `INSERT INTO outbox (job, idx, state, at) VALUES (?, -1, 'done', ?) ON CONFLICT DO NOTHING`,
      job,
      Date.now(),
    )
  }

  isJobFinished(job: string): boolean {
    return (
      this.#sql.exec(`SELECT 1 FROM outbox WHERE job = ? AND idx = -1`, job).toArray().length > 0
    )
  }

  /** The push's effects, inside the caller's transaction. */
  #record(key: string, owner: string, push: Push, now: number): void {
    this.#sql.exec('DELETE FROM tombstone')
    this.#applyFields(owner, push)
    const opens = windowOpenedBy(push.kind)
    if (opens !== null) {
      // A newer interaction opens its window afresh; an older one delivered late does not.
      this.#sql.exec(
        `INSERT INTO windows (kind, opened_at, used) VALUES (?1, ?2, 0)
         ON CONFLICT (kind) DO UPDATE SET opened_at = ?2, used = 0 WHERE ?2 > opened_at`,
        opens,
        push.createTime * 1000,
      )
    }
    this.#sql.exec('INSERT INTO applied (key, applied_at) VALUES (?, ?)', key, now)
    this.#sql.exec(
      'INSERT INTO recent (key, kind, create_time, applied_at) VALUES (?, ?, ?, ?)',
      key,
      push.kind,
      push.createTime,
      now,
    )
    this.#trim()
  }

  /** The admin view, or null when nothing is stored (purged users included). */
  snapshot(): UserSnapshot | null {
    const row = this.#profile()
    if (!row) return null
    return {
      openid: row.openid,
      subscribed: row.subscribed === 1,
      subscribedAt: row.subscribed_at,
      scene: row.scene,
      location:
        row.latitude === null || row.longitude === null || row.precision === null
          ? null
          : {
              latitude: row.latitude,
              longitude: row.longitude,
              precision: row.precision,
              at: row.location_at,
            },
      lastMenuKey: row.last_menu_key,
      eventCount: row.event_count,
      session: this.#sessionSummary(),
    }
  }

  #sessionSummary(): UserSnapshot['session'] {
    const rows = this.#sql
      .exec<{ name: string; value: string }>('SELECT name, value FROM session ORDER BY name')
      .toArray()
    return {
      keys: rows.map((row) => row.name),
      bytes: sessionBytes(rows.map((row) => [row.name, row.value])),
    }
  }

  /** The bounded log of recent pushes, newest first: kinds and keys, no content. */
  recent(): RecentPush[] {
    return this.#sql
      .exec<{ key: string; kind: string; create_time: number; applied_at: number }>(
        'SELECT key, kind, create_time, applied_at FROM recent ORDER BY seq DESC',
      )
      .toArray()
      .map((row) => ({
        key: row.key,
        kind: row.kind as PushKind,
        createTime: row.create_time,
        appliedAt: row.applied_at,
      }))
  }

  /** Deletes everything now (the admin API's DELETE), as an unsubscribe would. */
  async purge(): Promise<void> {
    await this.#purge(Math.floor(Date.now() / 1000))
  }

  override async alarm(): Promise<void> {
    const now = Date.now()
    const tombstone = this.#sql
      .exec<{ expires_at: number }>('SELECT expires_at FROM tombstone')
      .toArray()[0]
    if (tombstone && !this.#profile()) {
      if (tombstone.expires_at <= now) {
        await this.ctx.storage.deleteAll()
        return
      }
      await this.ctx.storage.setAlarm(tombstone.expires_at)
      return
    }
    this.#sql.exec('DELETE FROM applied WHERE applied_at <= ?', now - APPLIED_KEY_RETENTION_MS)
    this.#sql.exec('DELETE FROM replies WHERE at <= ?', now - APPLIED_KEY_RETENTION_MS)
    this.#sql.exec('DELETE FROM outbox WHERE at <= ?', now - APPLIED_KEY_RETENTION_MS)
    const oldest = this.#sql
      .exec<{ applied_at: number }>('SELECT min(applied_at) AS applied_at FROM applied')
      .toArray()[0]?.applied_at
    if (typeof oldest === 'number') {
      await this.ctx.storage.setAlarm(oldest + APPLIED_KEY_RETENTION_MS)
    }
  }

  async #purge(unsubscribedAt: number): Promise<void> {
    await this.ctx.storage.deleteAlarm()
    await this.ctx.storage.deleteAll()
    const expiresAt = Date.now() + TOMBSTONE_TTL_MS
    this.#sql.exec(SCHEMA)
    this.#sql.exec(
      'INSERT INTO tombstone (id, unsubscribed_at, expires_at) VALUES (1, ?, ?)',
      unsubscribedAt,
      expiresAt,
    )
    await this.ctx.storage.setAlarm(expiresAt)
  }

  #profile(): ProfileRow | undefined {
    return this.#sql.exec<ProfileRow>('SELECT * FROM profile WHERE id = 1').toArray()[0]
  }

  #tombstoneTime(): number | null {
    const row = this.#sql
      .exec<{ unsubscribed_at: number }>('SELECT unsubscribed_at FROM tombstone')
      .toArray()[0]
    return row ? row.unsubscribed_at : null
  }

  /** Each field moves forward only: a push older than what a field holds leaves it. */
  #applyFields(owner: string, push: Push): void {
    const at = push.createTime
    this.#sql.exec(
      `INSERT INTO profile (id, openid, event_count) VALUES (1, ?, 1)
       ON CONFLICT (id) DO UPDATE SET event_count = event_count + 1`,
      owner,
    )
    if (isKeyedMenuEvent(push)) {
      this.#sql.exec(
        'UPDATE profile SET last_menu_key = ?2, menu_at = ?1 WHERE id = 1 AND ?1 >= menu_at',
        at,
        push.key,
      )
      return
    }
    switch (push.kind) {
      case 'subscribe':
        this.#sql.exec(
          `UPDATE profile SET subscribed = 1, subscribed_at = ?1, subscription_at = ?1,
             scene = CASE WHEN ?1 >= scene_at THEN ?2 ELSE scene END,
             scene_at = max(scene_at, ?1)
           WHERE id = 1 AND ?1 >= subscription_at`,
          at,
          push.scene,
        )
        return
      case 'scan':
        this.#sql.exec(
          'UPDATE profile SET scene = ?2, scene_at = ?1 WHERE id = 1 AND ?1 >= scene_at',
          at,
          push.scene,
        )
        return
      case 'location_report':
        this.#sql.exec(
          `UPDATE profile SET latitude = ?2, longitude = ?3, precision = ?4, location_at = ?1
           WHERE id = 1 AND ?1 >= location_at`,
          at,
          push.latitude,
          push.longitude,
          push.precision,
        )
        return
      // Counted, nothing else kept: no content of a message is stored.
      case 'view':
      case 'view_miniprogram':
      case 'text':
      case 'image':
      case 'voice':
      case 'video':
      case 'shortvideo':
      case 'location':
      case 'link':
      case 'subscribe_msg_popup_event':
      case 'subscribe_msg_change_event':
      case 'subscribe_msg_sent_event':
      case 'kf_create_session':
      case 'kf_close_session':
      case 'kf_switch_session':
        return
      // Purges and pushes that touch nobody's state never reach here (#apply).
      case 'unsubscribe':
      case 'user_authorization_revoke':
      case 'user_authorization_cancellation':
      case 'user_info_modified':
      case 'template_send_job_finish':
      case 'mass_send_job_finish':
      case 'publish_job_finish':
      case 'unknown':
        throw new Error(`${push.kind} does not update a profile`)
      default:
        push satisfies never
    }
  }

  #trim(): void {
    this.#sql.exec(
      `DELETE FROM applied WHERE key IN
         (SELECT key FROM applied ORDER BY applied_at DESC LIMIT -1 OFFSET ?)`,
      MAX_APPLIED_KEYS,
    )
    this.#sql.exec(
      'DELETE FROM recent WHERE seq IN (SELECT seq FROM recent ORDER BY seq DESC LIMIT -1 OFFSET ?)',
      MAX_RECENT_PUSHES,
    )
    this.#sql.exec(
      'DELETE FROM replies WHERE key IN (SELECT key FROM replies ORDER BY at DESC LIMIT -1 OFFSET ?)',
      MAX_APPLIED_KEYS,
    )
  }

  async #ensureAlarm(at: number): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(at)
  }
}

/**
 * A push from before the unsubscribe must not bring data back. A follow in the unsubscribe's
 * own second is a re-follow; anything else from that second is taken as earlier.
 */
function predatesUnsubscribe(push: Push, unsubscribedAt: number): boolean {
  if (push.createTime < unsubscribedAt) return true
  return push.createTime === unsubscribedAt && push.kind !== 'subscribe'
}
