/**
 * UserState: one Durable Object per follower (by OpenID), on SQLite storage. It is the authority
 * for effects and for retries: each push is received at most once by its dedup key, together
 * with the reply it was given (a retry gets that reply back) and its handler's session writes;
 * a field never goes back in time; and an unsubscribe deletes everything, leaving only a
 * tombstone that holds the unsubscribe time and expires on its own, so that a late push cannot
 * bring data back. Each push writes as few rows as it can: one for its key and reply, one
 * upsert of the profile, one for a reply window it opens.
 */

import { DurableObject } from 'cloudflare:workers'
import { errorName, logProblem } from './log.ts'
import { MAX_SESSION_BYTES, type SessionOpened, sessionBytes } from './session.ts'
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

/**
 * One row per push received: its key, when, its kind and CreateTime (the recent log reads
 * them), and the reply it was given (null when the Queue applied it without one). WITHOUT ROWID,
 * so that the key is the table and no second index is written with each push.
 */
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
  CREATE TABLE IF NOT EXISTS received (
    key TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    mode TEXT,
    reply TEXT
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS session (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS windows (
    kind TEXT PRIMARY KEY,
    opened_at INTEGER NOT NULL,
    used INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS outbox (
    job TEXT NOT NULL,
    idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    grant_kind TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (job, idx)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS tombstone (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    unsubscribed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
`

/** What the request path's one call answers: how the push was taken, and what to answer. */
export type Receipt =
  | { readonly outcome: 'received' | 'stale' | 'purged' | 'too_large' }
  /** This push was received before: the reply it was given (`success` in another mode). */
  | { readonly outcome: 'replay'; readonly reply: string }
  | { readonly outcome: 'failed' }

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
    if (this.#received(key)) return 'duplicate'
    const owner = stateOwnerOf(push)
    if (owner === null) return 'not_a_follower'
    if (isPurge(push)) {
      await this.#purge(Math.max(push.createTime, unsubscribedAt ?? 0))
      return 'purged'
    }
    const now = Date.now()
    this.ctx.storage.transactionSync(() =>
      this.#receiveNew({ key, owner, push, now, hadTombstone: unsubscribedAt !== null }),
    )
    await this.#ensureAlarm(now + APPLIED_KEY_RETENTION_MS)
    return 'applied'
  }

  /**
   * The request path's one call: receives a push with the reply the bot gave it and its
   * handler's session writes, all in one transaction, at most once per key. A retry (or a
   * concurrent second attempt) gets the first reply back and changes nothing. Failures come
   * back as `failed`, not as exceptions.
   */
  async receive(
    key: string,
    mode: PushMode,
    push: Push,
    reply: string,
    writes: Readonly<Record<string, string | null>> = {},
  ): Promise<Receipt> {
    try {
      return await this.#receive(key, mode, push, reply, writes)
    } catch (error) {
      logProblem('receive_failed', { kind: push.kind, key, error: errorName(error) })
      return { outcome: 'failed' }
    }
  }

  async #receive(
    key: string,
    mode: PushMode,
    push: Push,
    reply: string,
    writes: Readonly<Record<string, string | null>>,
  ): Promise<Receipt> {
    const owner = stateOwnerOf(push)
    if (owner === null) return { outcome: 'failed' }
    const unsubscribedAt = this.#tombstoneTime()
    if (unsubscribedAt !== null && predatesUnsubscribe(push, unsubscribedAt)) {
      return { outcome: 'stale' }
    }
    const earlier = this.#received(key)
    if (earlier?.reply != null) {
      return { outcome: 'replay', reply: earlier.mode === mode ? earlier.reply : 'success' }
    }
    if (isPurge(push)) {
      // The purge deletes the session and every reply with the rest: nothing to remember.
      if (!earlier) await this.#purge(Math.max(push.createTime, unsubscribedAt ?? 0))
      return { outcome: 'purged' }
    }
    const tooLarge = !this.#fits(writes)
    const now = Date.now()
    this.ctx.storage.transactionSync(() => {
      if (!tooLarge) this.#write(writes)
      if (earlier) {
        // The Queue applied the push while this attempt answered: keep its reply only.
        this.#sql.exec('UPDATE received SET mode = ?, reply = ? WHERE key = ?', mode, reply, key)
        return
      }
      this.#receiveNew({
        key,
        owner,
        push,
        now,
        hadTombstone: unsubscribedAt !== null,
        mode,
        reply,
      })
    })
    if (!earlier) await this.#ensureAlarm(now + APPLIED_KEY_RETENTION_MS)
    return { outcome: tooLarge ? 'too_large' : 'received' }
  }

  /**
   * The session as this push should read it: its values, or, when this push was received
   * already with its reply, that reply (`success` for a push since sent in another mode, so
   * that an encrypted reply is never replayed in clear).
   */
  openSession(key: string, mode: PushMode): SessionOpened {
    const earlier = this.#received(key)
    if (earlier?.reply != null) return { replay: earlier.mode === mode ? earlier.reply : 'success' }
    return { replay: null, values: Object.fromEntries(this.#sessionRows()) }
  }

  #received(key: string): { mode: string | null; reply: string | null } | undefined {
    return this.#sql
      .exec<{ mode: string | null; reply: string | null }>(
        'SELECT mode, reply FROM received WHERE key = ?',
        key,
      )
      .toArray()[0]
  }

  #sessionRows(): Map<string, string> {
    const rows = this.#sql.exec<{ name: string; value: string }>('SELECT name, value FROM session')
    return new Map([...rows].map((row) => [row.name, row.value]))
  }

  /**
   * Whether the session stays within its limit with these writes. No writes, nothing to read:
   * most pushes come here without any, and reading the session costs a row read per key.
   */
  #fits(writes: Readonly<Record<string, string | null>>): boolean {
    if (Object.keys(writes).length === 0) return true
    return sessionBytes(this.#sessionAfter(writes)) <= MAX_SESSION_BYTES
  }

  #sessionAfter(writes: Readonly<Record<string, string | null>>): Map<string, string> {
    const next = this.#sessionRows()
    for (const [name, value] of Object.entries(writes)) {
      if (value === null) next.delete(name)
      else next.set(name, value)
    }
    return next
  }

  /** Session writes, inside the caller's transaction. */
  #write(writes: Readonly<Record<string, string | null>>): void {
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

  /**
   * Marks a deferred job done, with its handler's session writes, in one transaction: a
   * redelivery of it then does nothing, and writes nothing twice.
   */
  finishJob(job: string, writes: Readonly<Record<string, string | null>> = {}): void {
    const fits = this.#fits(writes)
    this.ctx.storage.transactionSync(() => {
      if (fits) this.#write(writes)
      this.#sql.exec(
        `INSERT INTO outbox (job, idx, state, at) VALUES (?, -1, 'done', ?) ON CONFLICT DO NOTHING`,
        job,
        Date.now(),
      )
    })
  }

  isJobFinished(job: string): boolean {
    return (
      this.#sql.exec(`SELECT 1 FROM outbox WHERE job = ? AND idx = -1`, job).toArray().length > 0
    )
  }

  /**
   * A push seen for the first time, inside the caller's transaction: a later follow ends the
   * tombstone, the push takes effect, and its key is kept (with its reply, when it has one).
   */
  #receiveNew(first: {
    key: string
    owner: string
    push: Push
    now: number
    hadTombstone: boolean
    mode?: PushMode
    reply?: string
  }): void {
    if (first.hadTombstone) this.#sql.exec('DELETE FROM tombstone')
    this.#record(first.owner, first.push)
    this.#sql.exec(
      'INSERT INTO received (key, received_at, kind, create_time, mode, reply) VALUES (?, ?, ?, ?, ?, ?)',
      first.key,
      first.now,
      first.push.kind,
      first.push.createTime,
      first.mode ?? null,
      first.reply ?? null,
    )
  }

  /** The push's effects on the profile and the reply windows, inside the caller's transaction. */
  #record(owner: string, push: Push): void {
    const [sql, ...params] = profileUpsert(owner, push)
    this.#sql.exec(sql, ...params)
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
    const rows = this.#sessionRows()
    return { keys: [...rows.keys()].sort(), bytes: sessionBytes(rows) }
  }

  /** The last pushes received, newest first: kinds and keys, no content. */
  recent(): RecentPush[] {
    return this.#sql
      .exec<{ key: string; kind: string; create_time: number; received_at: number }>(
        'SELECT key, kind, create_time, received_at FROM received ORDER BY received_at DESC, create_time DESC LIMIT ?',
        MAX_RECENT_PUSHES,
      )
      .toArray()
      .map((row) => ({
        key: row.key,
        kind: row.kind as PushKind,
        createTime: row.create_time,
        appliedAt: row.received_at,
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
    // Pruned here, once a day, rather than with each push: a scan per push would cost more
    // rows read than everything else together.
    this.#sql.exec('DELETE FROM received WHERE received_at <= ?', now - APPLIED_KEY_RETENTION_MS)
    this.#sql.exec(
      `DELETE FROM received WHERE key IN
         (SELECT key FROM received ORDER BY received_at DESC LIMIT -1 OFFSET ?)`,
      MAX_APPLIED_KEYS,
    )
    this.#sql.exec('DELETE FROM outbox WHERE at <= ?', now - APPLIED_KEY_RETENTION_MS)
    const oldest = this.#sql
      .exec<{ at: number | null }>('SELECT min(received_at) AS at FROM received')
      .toArray()[0]?.at
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

  async #ensureAlarm(at: number): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(at)
  }
}

/**
 * The profile's one upsert for a push: counted, and each field it carries moved forward only (a
 * push older than what a field holds leaves it). One statement, so one row written.
 */
function profileUpsert(owner: string, push: Push): [string, ...SqlStorageValue[]] {
  const insert = (columns: string, values: string, update: string) =>
    `INSERT INTO profile (id, openid, event_count${columns}) VALUES (1, ?1, 1${values})
     ON CONFLICT (id) DO UPDATE SET event_count = event_count + 1${update}`
  const at = push.createTime
  if (isKeyedMenuEvent(push)) {
    return [
      insert(
        ', last_menu_key, menu_at',
        ', ?3, ?2',
        `, last_menu_key = CASE WHEN ?2 >= menu_at THEN ?3 ELSE last_menu_key END,
           menu_at = max(menu_at, ?2)`,
      ),
      owner,
      at,
      push.key,
    ]
  }
  switch (push.kind) {
    case 'subscribe':
      return [
        insert(
          ', subscribed_at, subscription_at, scene, scene_at',
          ', ?2, ?2, ?3, ?2',
          `, subscribed = CASE WHEN ?2 >= subscription_at THEN 1 ELSE subscribed END,
             subscribed_at = CASE WHEN ?2 >= subscription_at THEN ?2 ELSE subscribed_at END,
             scene = CASE WHEN ?2 >= subscription_at AND ?2 >= scene_at THEN ?3 ELSE scene END,
             scene_at = CASE WHEN ?2 >= subscription_at THEN max(scene_at, ?2) ELSE scene_at END,
             subscription_at = max(subscription_at, ?2)`,
        ),
        owner,
        at,
        push.scene,
      ]
    case 'scan':
      return [
        insert(
          ', scene, scene_at',
          ', ?3, ?2',
          `, scene = CASE WHEN ?2 >= scene_at THEN ?3 ELSE scene END, scene_at = max(scene_at, ?2)`,
        ),
        owner,
        at,
        push.scene,
      ]
    case 'location_report':
      return [
        insert(
          ', latitude, longitude, precision, location_at',
          ', ?3, ?4, ?5, ?2',
          `, latitude = CASE WHEN ?2 >= location_at THEN ?3 ELSE latitude END,
             longitude = CASE WHEN ?2 >= location_at THEN ?4 ELSE longitude END,
             precision = CASE WHEN ?2 >= location_at THEN ?5 ELSE precision END,
             location_at = max(location_at, ?2)`,
        ),
        owner,
        at,
        push.latitude,
        push.longitude,
        push.precision,
      ]
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
      return [insert('', '', ''), owner]
    // Purges and pushes that touch nobody's state never reach here (#apply, #receive).
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
      return push satisfies never
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
