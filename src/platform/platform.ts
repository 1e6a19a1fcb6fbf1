/**
 * Platform: one Durable Object per third-party platform (by its AppID), the owner of what the
 * platform keeps between requests. The newest component_verify_ticket (durable: a restart or a
 * new isolate never loses it). Each authorization event received once (the one admit rule).
 * Each authorizer: what it granted, when, and its refresh token, sealed at rest (seal.ts); each
 * authorization code traded once, whether the redirect or the `authorized` event brings it
 * first. The users of each authorizer that have an object, so that an `unauthorized` can find
 * and purge them all (user objects cannot be listed), in batches from the alarm.
 *
 * The platform's token and each authorizer's token are held like every other token, by an
 * AccessToken object each (src/talk/access-token.ts, sources `component` and `authorizer`):
 * this object only answers their fetches.
 */

import { DurableObject } from 'cloudflare:workers'
import { objectsOf } from '../accounts/objects.ts'
import { scoped } from '../accounts/scope.ts'
import { type PlatformSettings, readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { forgetAccountLetters } from '../queues/dead-letters.ts'
import { JOBS_TABLE } from '../receive/jobs.ts'
import { admit, type Earlier } from '../receive/receipt.ts'
import { pruneReceipts, RETENTION_MS } from '../receive/retention.ts'
import { migrateTables } from '../sqlite-migrations.ts'
import { failureOf, type HeldResult, resultOf } from '../talk/holder.ts'
import { tokenHolderName, withAccessToken } from '../talk/talk.ts'
import { type ApiCall, WechatApiError } from '../wechat/api.ts'
import {
  type Issued,
  type PlatformEvent,
  queryAuth,
  refreshAuthorizerToken,
} from '../wechat/platform.ts'
import { sha1Hex } from '../wechat/signature.ts'
import { openFor, sealFor } from './seal.ts'

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE ticket (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     ticket TEXT NOT NULL,
     create_time INTEGER NOT NULL,
     received_at INTEGER NOT NULL
   );
   CREATE TABLE received (
     key TEXT PRIMARY KEY,
     received_at INTEGER NOT NULL,
     mode TEXT,
     reply TEXT
   ) WITHOUT ROWID;
   ${JOBS_TABLE}
   CREATE TABLE authorizers (
     appid TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     permissions TEXT NOT NULL,
     authorized_at INTEGER NOT NULL,
     refresh_token TEXT,
     revoked_at INTEGER
   ) WITHOUT ROWID;
   CREATE TABLE codes (
     code TEXT PRIMARY KEY,
     appid TEXT NOT NULL,
     at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE members (
     appid TEXT NOT NULL,
     openid TEXT NOT NULL,
     PRIMARY KEY (appid, openid)
   ) WITHOUT ROWID;`,
]

/** A traded code is remembered this long: WeChat's codes live an hour (3,600 s in practice). */
const CODE_MEMORY_MS = 2 * 60 * 60 * 1000
/** Users purged per alarm when an authorizer revokes: each is a call to their object. */
export const PURGE_BATCH = 50

/** A trade's outcome over RPC (an error thrown across it would lose its failure and code). */
export type Traded =
  | { readonly ok: true; readonly authorizer: AuthorizerView }
  | Extract<HeldResult, { readonly ok: false }>

/** What the admin API shows of an authorizer: never a token. */
export interface AuthorizerView {
  readonly appId: string
  readonly state: 'authorized' | 'revoked'
  /** The permission sets granted (funcscope_category ids). */
  readonly permissions: readonly number[]
  readonly authorizedAt: number
  readonly revokedAt: number | null
  /** Users with an object still to purge after a revoke; 0 once the purge is done. */
  readonly usersToPurge: number
}

/** The platform's health, for GET / (admin): never the ticket itself. */
export interface PlatformStatus {
  /** Milliseconds since the newest ticket was received; null: none yet. */
  readonly ticketAgeMs: number | null
  /** Whether the platform's token can be fetched: a ticket lives 12 hours, one comes every 10 minutes. */
  readonly ready: boolean
  /** Accounts that have authorized the platform and not revoked it. */
  readonly authorized: number
}

/** A ticket lives 12 hours (component_verify_ticket's page). */
const TICKET_LIFE_MS = 12 * 60 * 60 * 1000

interface AuthorizerRow extends Record<string, SqlStorageValue> {
  appid: string
  state: string
  permissions: string
  authorized_at: number
  refresh_token: string | null
  revoked_at: number | null
}

export class Platform extends DurableObject<Env> {
  #migrated = false
  /** Trades under way, by code: the redirect and the `authorized` event share one. */
  readonly #trading = new Map<string, Promise<AuthorizerView>>()
  /** Refreshes under way, by authorizer: one api_authorizer_token at a time for each. */
  readonly #refreshing = new Map<string, Promise<Issued>>()

  get #sql(): SqlStorage {
    const sql = this.ctx.storage.sql
    if (!this.#migrated) {
      migrateTables(sql, MIGRATIONS)
      this.#migrated = true
    }
    return sql
  }

  #settings(): PlatformSettings {
    const platform = readConfig(this.env).platform
    if (!platform) throw new WechatApiError('refused', null, 'the third-party platform is off')
    return platform
  }

  #api(): ApiCall {
    return { fetch: (input, init) => fetch(input, init), base: this.#settings().apiBase }
  }

  /** The platform's token, as its AccessToken object holds it (source `component`). */
  #withComponentToken<T>(use: (token: string) => Promise<T>): Promise<T> {
    return withAccessToken(this.env, tokenHolderName('platform', this.#settings().appId), use)
  }

  /**
   * An authorization event, received at most once by its key (the one admit rule): a ticket is
   * kept when it is the newest, an authorization's code traded, a revoke carried out. `failed`
   * leaves no receipt, so WeChat's retry (or the next push) does the work.
   */
  async receiveEvent(
    key: string,
    event: PlatformEvent,
  ): Promise<'received' | 'duplicate' | 'failed'> {
    const earlier = this.#sql
      .exec<Earlier & Record<string, SqlStorageValue>>(
        'SELECT mode, reply FROM received WHERE key = ?',
        key,
      )
      .toArray()[0]
    if (admit(earlier, { answered: null }).take !== 'first') return 'duplicate'
    try {
      switch (event.kind) {
        case 'component_verify_ticket':
          this.#sql.exec(
            `INSERT INTO ticket (id, ticket, create_time, received_at) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET ticket = ?1, create_time = ?2, received_at = ?3
             WHERE ?2 >= create_time`,
            event.ticket,
            event.createTime,
            Date.now(),
          )
          break
        case 'authorized':
        case 'updateauthorized':
          await this.#trade(event.authorizationCode)
          break
        case 'unauthorized':
          await this.revoke(event.authorizerAppId)
          break
        case 'unknown':
          logEvent('platform_event', { infoType: event.infoType })
          break
      }
    } catch (error) {
      logProblem('platform_event_failed', { kind: event.kind, error: errorName(error) })
      return 'failed'
    }
    this.#sql.exec('INSERT INTO received (key, received_at) VALUES (?, ?)', key, Date.now())
    await this.#wakeBy(Date.now() + RETENTION_MS)
    return 'received'
  }

  /** The newest ticket, for the platform's token; null when none came yet. */
  ticket(): string | null {
    return (
      this.#sql.exec<{ ticket: string }>('SELECT ticket FROM ticket').toArray()[0]?.ticket ?? null
    )
  }

  status(): PlatformStatus {
    const row = this.#sql
      .exec<{ received_at: number }>('SELECT received_at FROM ticket')
      .toArray()[0]
    const { count } = this.#sql
      .exec<{ count: number }>(
        `SELECT count(*) AS count FROM authorizers WHERE state = 'authorized'`,
      )
      .one()
    const ticketAgeMs = row ? Date.now() - row.received_at : null
    return {
      ticketAgeMs,
      ready: ticketAgeMs !== null && ticketAgeMs < TICKET_LIFE_MS,
      authorized: count,
    }
  }

  /**
   * Trades an authorization code once (`api_query_auth`), whoever brings it first (the
   * redirect to /platform/authorized, or the `authorized` event); the one trade's result for
   * every later arrival of the same code, within its life.
   */
  async trade(code: string): Promise<Traded> {
    try {
      return { ok: true, authorizer: await this.#trade(code) }
    } catch (error) {
      return failureOf(error)
    }
  }

  async #trade(code: string): Promise<AuthorizerView> {
    const digest = await sha1Hex(`auth-code\n${code}`)
    const known = this.#sql
      .exec<{ appid: string }>('SELECT appid FROM codes WHERE code = ?', digest)
      .toArray()[0]
    if (known) {
      const view = this.authorizer(known.appid)
      if (view) return view
    }
    let trading = this.#trading.get(digest)
    if (!trading) {
      trading = this.#tradeOnce(code, digest).finally(() => this.#trading.delete(digest))
      this.#trading.set(digest, trading)
    }
    return trading
  }

  async #tradeOnce(code: string, digest: string): Promise<AuthorizerView> {
    const platform = this.#settings()
    const granted = await this.#withComponentToken((token) =>
      queryAuth(this.#api(), token, platform.appId, code),
    )
    const appId = granted.authorizerAppId
    const now = Date.now()
    const sealed =
      granted.refreshToken === null
        ? null
        : await sealFor(platform.appSecret, appId, granted.refreshToken)
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO authorizers (appid, state, permissions, authorized_at, refresh_token, revoked_at)
         VALUES (?1, 'authorized', ?2, ?3, ?4, NULL)
         ON CONFLICT (appid) DO UPDATE SET state = 'authorized', permissions = ?2,
           authorized_at = ?3, refresh_token = coalesce(?4, refresh_token), revoked_at = NULL`,
        appId,
        JSON.stringify(granted.permissions),
        now,
        sealed,
      )
      this.#sql.exec(
        'INSERT OR REPLACE INTO codes (code, appid, at) VALUES (?, ?, ?)',
        digest,
        appId,
        now,
      )
    })
    // The token that came with the grant is the authorizer's first: held, renewed from here.
    if (granted.accessToken) {
      const holder = objectsOf(this.env, appId).token(appId)
      const seconds = Math.floor((granted.accessToken.expiresAt - now) / 1000)
      await holder.adopt(granted.accessToken.token, seconds)
    }
    await this.#wakeBy(now + CODE_MEMORY_MS)
    logEvent('platform_authorized', { permissions: granted.permissions.length })
    return this.authorizer(appId) as AuthorizerView
  }

  /**
   * A fresh token for an authorizer (`api_authorizer_token`), for its AccessToken object: one
   * refresh at a time for each; the refresh token WeChat hands back replaces the old one in the
   * same write. Refused for an account that is not (or no longer) authorized.
   */
  authorizerToken(appId: string): Promise<HeldResult> {
    let refreshing = this.#refreshing.get(appId)
    if (!refreshing) {
      refreshing = this.#refreshOnce(appId).finally(() => this.#refreshing.delete(appId))
      this.#refreshing.set(appId, refreshing)
    }
    return resultOf(refreshing)
  }

  async #refreshOnce(appId: string): Promise<Issued> {
    const platform = this.#settings()
    const row = this.#row(appId)
    if (row?.state !== 'authorized') {
      throw new WechatApiError('refused', null, 'this account has not authorized the platform')
    }
    const refreshToken =
      row.refresh_token === null
        ? null
        : await openFor(platform.appSecret, appId, row.refresh_token)
    if (refreshToken === null) {
      throw new WechatApiError(
        'refused',
        null,
        'no refresh token is kept for this authorizer: authorize again',
      )
    }
    const fresh = await this.#withComponentToken((token) =>
      refreshAuthorizerToken(this.#api(), token, platform.appId, appId, refreshToken),
    )
    if (fresh.refreshToken !== refreshToken) {
      const sealed = await sealFor(platform.appSecret, appId, fresh.refreshToken)
      // Only over the one it replaces: a revoke meanwhile keeps it gone.
      this.#sql.exec(
        `UPDATE authorizers SET refresh_token = ? WHERE appid = ? AND state = 'authorized'`,
        sealed,
        appId,
      )
    }
    return fresh.accessToken
  }

  /**
   * A user of an authorizer is given an object: noted, so that a revoke finds them. False when
   * the account has not authorized the platform: nothing is kept for it.
   */
  register(appId: string, openid: string): boolean {
    const row = this.#row(appId)
    if (row?.state !== 'authorized') return false
    this.#sql.exec('INSERT OR IGNORE INTO members (appid, openid) VALUES (?, ?)', appId, openid)
    return true
  }

  /** A user unfollowed (their object purged itself): nothing of them is kept here either. */
  unregister(appId: string, openid: string): void {
    this.#sql.exec('DELETE FROM members WHERE appid = ? AND openid = ?', appId, openid)
  }

  /** Whether pushes of this account are taken (pushes of nobody, for the ledger). */
  isAuthorized(appId: string): boolean {
    return this.#row(appId)?.state === 'authorized'
  }

  /**
   * The account revoked its authorization (or the operator dropped it): its tokens are dropped
   * at once and never refreshed again, and its users' objects are purged from the alarm, a
   * batch at a time, however many there are.
   */
  async revoke(appId: string): Promise<void> {
    this.#sql.exec(
      `UPDATE authorizers SET state = 'revoked', refresh_token = NULL, revoked_at = ? WHERE appid = ?`,
      Date.now(),
      appId,
    )
    const objects = objectsOf(this.env, appId)
    await objects.token(appId).drop()
    await this.env.JSAPI_TICKETS.getByName(scoped(appId, appId)).drop()
    await objects.campaigns(appId).forget()
    // Letters of pushes of nobody; each user's object sweeps its own with its purge.
    await forgetAccountLetters(this.env.DEAD_LETTERS, appId)
    await this.ctx.storage.setAlarm(Date.now())
    logEvent('platform_unauthorized', {})
  }

  authorizer(appId: string): AuthorizerView | null {
    const row = this.#row(appId)
    return row ? this.#view(row) : null
  }

  authorizers(): AuthorizerView[] {
    return this.#sql
      .exec<AuthorizerRow>('SELECT * FROM authorizers ORDER BY authorized_at DESC')
      .toArray()
      .map((row) => this.#view(row))
  }

  /** Prunes receipts and old codes, and purges a batch of a revoked authorizer's users. */
  override async alarm(): Promise<void> {
    const now = Date.now()
    pruneReceipts(this.#sql, now)
    this.#sql.exec('DELETE FROM codes WHERE at <= ?', now - CODE_MEMORY_MS)
    const batch = this.#sql
      .exec<{ appid: string; openid: string }>(
        `SELECT m.appid, m.openid FROM members m JOIN authorizers a ON a.appid = m.appid
         WHERE a.state = 'revoked' LIMIT ?`,
        PURGE_BATCH,
      )
      .toArray()
    for (const { appid, openid } of batch) {
      try {
        await objectsOf(this.env, appid).user(openid).purge()
        this.#sql.exec('DELETE FROM members WHERE appid = ? AND openid = ?', appid, openid)
      } catch (error) {
        logProblem('platform_purge_failed', { error: errorName(error) })
      }
    }
    // Another batch at once while any is left; otherwise the next receipt or code to expire.
    if (batch.length > 0) return this.ctx.storage.setAlarm(Date.now() + 100)
    const { at } = this.#sql
      .exec<{ at: number | null }>(
        `SELECT min(coalesce(r, c), coalesce(c, r)) AS at FROM
           (SELECT (SELECT min(received_at) FROM received) + ${RETENTION_MS} AS r,
                   (SELECT min(at) FROM codes) + ${CODE_MEMORY_MS} AS c)`,
      )
      .one()
    if (at !== null) await this.ctx.storage.setAlarm(at)
  }

  #row(appId: string): AuthorizerRow | undefined {
    return this.#sql
      .exec<AuthorizerRow>('SELECT * FROM authorizers WHERE appid = ?', appId)
      .toArray()[0]
  }

  #view(row: AuthorizerRow): AuthorizerView {
    const { count } = this.#sql
      .exec<{ count: number }>(
        `SELECT count(*) AS count FROM members WHERE appid = ?1 AND ?2 = 'revoked'`,
        row.appid,
        row.state,
      )
      .one()
    return {
      appId: row.appid,
      state: row.state === 'revoked' ? 'revoked' : 'authorized',
      permissions: JSON.parse(row.permissions) as number[],
      authorizedAt: row.authorized_at,
      revokedAt: row.revoked_at,
      usersToPurge: count,
    }
  }

  /** Sets the alarm for `at` unless one is due sooner. */
  async #wakeBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm()
    if (current === null || current > at) await this.ctx.storage.setAlarm(at)
  }
}

/** The platform's object: one per platform AppID. */
export function platformOf(env: Env, platform: PlatformSettings): DurableObjectStub<Platform> {
  return env.PLATFORM.getByName(platform.appId)
}
