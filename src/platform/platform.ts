/**
 * Platform: one Durable Object per third-party platform (by its AppID), the owner of what the
 * platform keeps between requests. The newest component_verify_ticket (durable: a restart or a
 * new isolate never loses it). Each authorization event received once (the one admit rule).
 * Each authorizer: what it granted, when, its original id (gh_…, which its pushes must name),
 * and its refresh token, sealed at rest (seal.ts); each authorization code traded once,
 * whether the redirect or the `authorized` event brings it first. The users of each authorizer
 * that have an object, so that a revoke can find and purge them all (user objects cannot be
 * listed), in batches from the alarm.
 *
 * Changes to an authorizer apply in the order they happened, not the order they arrive: a
 * trade that ends after a revoke of the account brings nothing back, and an event older (by
 * its CreateTime) than the last one applied, say a retried `authorized` behind an
 * `unauthorized`, changes nothing. Each revoke starts a generation: every user noted
 * before it is purged, even when the account authorizes again meanwhile.
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
  authorizerUserName,
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
     user_name TEXT,
     authorized_at INTEGER NOT NULL,
     refresh_token TEXT,
     revoked_at INTEGER,
     event_at INTEGER,
     generation INTEGER NOT NULL DEFAULT 0,
     letters_left INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE TABLE codes (
     code TEXT PRIMARY KEY,
     appid TEXT NOT NULL,
     at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE links (
     id TEXT PRIMARY KEY,
     uses INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE members (
     appid TEXT NOT NULL,
     openid TEXT NOT NULL,
     generation INTEGER NOT NULL,
     retry_at INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (appid, openid)
   ) WITHOUT ROWID;`,
]

/** A traded code is remembered this long: WeChat's codes live an hour (3,600 s in practice). */
const CODE_MEMORY_MS = 2 * 60 * 60 * 1000
/** Users purged per alarm when an authorizer revokes: each is a call to their object. */
export const PURGE_BATCH = 50
/** A user whose purge failed is tried again this much later, not before the rest. */
const PURGE_RETRY_MS = 60_000
/** Dead letters of a revoked authorizer deleted per alarm: each is a KV call. */
const LETTERS_BATCH = 100
/** Codes one authorization link may bring back: an administrator who retries, not a flood. */
export const LINK_TRADES = 3
/** WeChat's errcode for an account that has not authorized the platform (or no longer). */
const NOT_AUTHORIZED = 61003

/** A trade's outcome over RPC (an error thrown across it would lose its failure and code). */
export type Traded =
  | { readonly ok: true; readonly authorizer: AuthorizerView }
  | Extract<HeldResult, { readonly ok: false }>

/** Where a code came from: an event at its CreateTime (seconds), or the redirect through a link. */
export type TradeSource =
  | { readonly via: 'event'; readonly createTime: number }
  | { readonly via: 'link'; readonly link: string; readonly linkExpiresAt: number }

/** What the admin API shows of an authorizer: never a token. */
export interface AuthorizerView {
  readonly appId: string
  readonly state: 'authorized' | 'revoked'
  /** The permission sets granted (funcscope_category ids). */
  readonly permissions: readonly number[]
  /** Its original id, as its pushes name it (gh_…). */
  readonly userName: string | null
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
  user_name: string | null
  authorized_at: number
  refresh_token: string | null
  revoked_at: number | null
  event_at: number | null
  generation: number
}

/** Members still to purge: noted before their authorizer's last revoke. */
const TO_PURGE = `FROM members m JOIN authorizers a ON a.appid = m.appid WHERE m.generation < a.generation`

export class Platform extends DurableObject<Env> {
  #migrated = false
  /** Trades under way, by code: the redirect and the `authorized` event share one. */
  readonly #trading = new Map<string, Promise<AuthorizerView>>()
  /** Refreshes under way, by authorizer: one api_authorizer_token at a time for each. */
  readonly #refreshing = new Map<string, Promise<Issued>>()
  /** Revokes this instance carried out, and each account's last: a trade under way checks them. */
  #revokes = 0
  readonly #revokedAt = new Map<string, number>()

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
          await this.#trade(event.authorizationCode, event.createTime)
          break
        case 'unauthorized':
          await this.#revoke(event.authorizerAppId, event.createTime)
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
   * redirect to /platform/authorized, through a link of ours, or the `authorized` event); the
   * one trade's result for every later arrival of the same code, within its life. A link
   * brings back at most {@link LINK_TRADES} codes.
   */
  async trade(code: string, source: TradeSource): Promise<Traded> {
    try {
      const known = await this.#known(code)
      if (known) return { ok: true, authorizer: known }
      if (source.via === 'link' && !this.#useLink(source.link, source.linkExpiresAt)) {
        throw new WechatApiError('refused', null, 'this authorization link was used')
      }
      const eventAt = source.via === 'event' ? source.createTime : null
      return { ok: true, authorizer: await this.#trade(code, eventAt) }
    } catch (error) {
      return failureOf(error)
    }
  }

  async #known(code: string): Promise<AuthorizerView | null> {
    const digest = await codeDigest(code)
    const row = this.#sql
      .exec<{ appid: string }>('SELECT appid FROM codes WHERE code = ?', digest)
      .toArray()[0]
    return row ? this.authorizer(row.appid) : null
  }

  /** Counts a use of a link; false past its trades or its life. */
  #useLink(link: string, expiresAt: number): boolean {
    if (expiresAt <= Date.now()) return false
    const { uses } = this.#sql
      .exec<{ uses: number }>(
        `INSERT INTO links (id, uses, expires_at) VALUES (?1, 1, ?2)
         ON CONFLICT (id) DO UPDATE SET uses = uses + 1 RETURNING uses`,
        link,
        expiresAt,
      )
      .one()
    return uses <= LINK_TRADES
  }

  async #trade(code: string, eventAt: number | null): Promise<AuthorizerView> {
    const digest = await codeDigest(code)
    const known = await this.#known(code)
    if (known) return known
    let trading = this.#trading.get(digest)
    if (!trading) {
      trading = this.#tradeOnce(code, digest, eventAt).finally(() => this.#trading.delete(digest))
      this.#trading.set(digest, trading)
    }
    return trading
  }

  async #tradeOnce(code: string, digest: string, eventAt: number | null): Promise<AuthorizerView> {
    const platform = this.#settings()
    // A revoke of the account while WeChat is asked is newer than this trade: it wins.
    const revokesBefore = this.#revokes
    const granted = await this.#withComponentToken((token) =>
      queryAuth(this.#api(), token, platform.appId, code),
    )
    const appId = granted.authorizerAppId
    const userName = await this.#withComponentToken((token) =>
      authorizerUserName(this.#api(), token, platform.appId, appId),
    )
    const now = Date.now()
    const sealed =
      granted.refreshToken === null
        ? null
        : await sealFor(platform.appSecret, appId, granted.refreshToken)
    const applied = this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        'INSERT OR REPLACE INTO codes (code, appid, at) VALUES (?, ?, ?)',
        digest,
        appId,
        now,
      )
      if ((this.#revokedAt.get(appId) ?? 0) > revokesBefore) return false
      // An event older than the last one applied (a retry behind an `unauthorized`) changes nothing.
      const row = this.#row(appId)
      if (eventAt !== null && row?.event_at != null && row.event_at > eventAt) return false
      this.#sql.exec(
        `INSERT INTO authorizers (appid, state, permissions, user_name, authorized_at, refresh_token,
           revoked_at, event_at)
         VALUES (?1, 'authorized', ?2, ?3, ?4, ?5, NULL, ?6)
         ON CONFLICT (appid) DO UPDATE SET state = 'authorized', permissions = ?2, user_name = ?3,
           authorized_at = ?4, refresh_token = coalesce(?5, refresh_token), revoked_at = NULL,
           event_at = coalesce(?6, event_at)`,
        appId,
        JSON.stringify(granted.permissions),
        userName,
        now,
        sealed,
        eventAt,
      )
      return true
    })
    // The token that came with the grant is the authorizer's first: held, renewed from here.
    if (applied && granted.accessToken) {
      const holder = objectsOf(this.env, appId).token(appId)
      const seconds = Math.floor((granted.accessToken.expiresAt - now) / 1000)
      await holder.adopt(granted.accessToken.token, seconds)
    }
    await this.#wakeBy(now + CODE_MEMORY_MS)
    logEvent('platform_authorized', { applied, permissions: granted.permissions.length })
    return this.authorizer(appId) as AuthorizerView
  }

  /**
   * A fresh token for an authorizer (`api_authorizer_token`), for its AccessToken object: one
   * refresh at a time for each; the refresh token WeChat hands back replaces the old one in the
   * same write. Refused for an account that is not (or no longer) authorized; WeChat's 61003
   * (the `unauthorized` push was lost) revokes it here too.
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
    let fresh: Awaited<ReturnType<typeof refreshAuthorizerToken>>
    try {
      fresh = await this.#withComponentToken((token) =>
        refreshAuthorizerToken(this.#api(), token, platform.appId, appId, refreshToken),
      )
    } catch (error) {
      if (error instanceof WechatApiError && error.code === NOT_AUTHORIZED) {
        await this.#revoke(appId, null)
      }
      throw error
    }
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
   * the account has not authorized the platform, or the push names another account's original
   * id (a push signed for one authorizer posted to another's URL): nothing is kept for it.
   */
  register(appId: string, openid: string, toUserName: string | null): boolean {
    if (!this.isAuthorized(appId, toUserName)) return false
    // A user noted before a revoke stays to purge: their object is emptied, then noted anew.
    this.#sql.exec(
      `INSERT INTO members (appid, openid, generation)
       SELECT ?1, ?2, generation FROM authorizers WHERE appid = ?1
       ON CONFLICT (appid, openid) DO NOTHING`,
      appId,
      openid,
    )
    return true
  }

  /** A user unfollowed (their object purged itself): nothing of them is kept here either. */
  unregister(appId: string, openid: string): void {
    this.#sql.exec(
      `DELETE FROM members WHERE appid = ?1 AND openid = ?2
         AND generation = (SELECT generation FROM authorizers WHERE appid = ?1)`,
      appId,
      openid,
    )
  }

  /** Whether pushes of this account, to this original id (when known), are taken. */
  isAuthorized(appId: string, toUserName: string | null = null): boolean {
    const row = this.#row(appId)
    if (row?.state !== 'authorized') return false
    return toUserName === null || row.user_name === null || row.user_name === toUserName
  }

  /**
   * The operator drops an authorizer (WeChat has no call for it): as `unauthorized` does.
   * False for an AppID that never authorized.
   */
  async drop(appId: string): Promise<boolean> {
    if (!this.#row(appId)) return false
    await this.#revoke(appId, null)
    return true
  }

  /**
   * The account revoked its authorization (or the operator dropped it), at `at`: its tokens
   * are dropped at once and never refreshed again, its codes and counts deleted, and its users'
   * objects and dead letters purged from the alarm, a batch at a time, however many there are.
   * A revoke older than the authorization last applied is one that authorization undid.
   */
  async #revoke(appId: string, eventAt: number | null): Promise<void> {
    const row = this.#row(appId)
    // An `unauthorized` older than the last event applied was undone by that authorization.
    if (eventAt !== null && row?.event_at != null && row.event_at > eventAt) return
    this.#revokedAt.set(appId, ++this.#revokes)
    this.#sql.exec(
      `INSERT INTO authorizers (appid, state, permissions, authorized_at, event_at, generation,
         letters_left, revoked_at)
       VALUES (?1, 'revoked', '[]', 0, ?2, 1, 1, ?3)
       ON CONFLICT (appid) DO UPDATE SET state = 'revoked', refresh_token = NULL, revoked_at = ?3,
         event_at = coalesce(?2, event_at), generation = generation + 1, letters_left = 1`,
      appId,
      eventAt,
      Date.now(),
    )
    await this.ctx.storage.setAlarm(Date.now())
    const objects = objectsOf(this.env, appId)
    await objects.token(appId).drop()
    await this.env.JSAPI_TICKETS.getByName(scoped(appId, appId)).drop()
    await objects.campaigns(appId).forget()
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

  /**
   * A release test's QUERY_AUTH_CODE answered once: true the first time for the code (a retry
   * of WeChat's push sends nothing twice).
   */
  async answerOnce(code: string): Promise<boolean> {
    const key = `release:${await codeDigest(code)}`
    this.#sql.exec(
      'INSERT OR IGNORE INTO received (key, received_at) VALUES (?, ?)',
      key,
      Date.now(),
    )
    const first = this.#sql.exec<{ n: number }>('SELECT changes() AS n').one().n === 1
    if (first) await this.#wakeBy(Date.now() + RETENTION_MS)
    return first
  }

  /**
   * Prunes receipts, old codes and links; deletes a batch of a revoked authorizer's dead
   * letters, and purges a batch of its users.
   */
  override async alarm(): Promise<void> {
    const now = Date.now()
    pruneReceipts(this.#sql, now)
    this.#sql.exec('DELETE FROM codes WHERE at <= ?', now - CODE_MEMORY_MS)
    this.#sql.exec('DELETE FROM links WHERE expires_at <= ?', now)
    let more = false
    const sweeps = this.#sql
      .exec<{ appid: string }>('SELECT appid FROM authorizers WHERE letters_left = 1 LIMIT 5')
      .toArray()
    for (const { appid } of sweeps) {
      try {
        if (await forgetAccountLetters(this.env.DEAD_LETTERS, appid, LETTERS_BATCH)) more = true
        else this.#sql.exec('UPDATE authorizers SET letters_left = 0 WHERE appid = ?', appid)
      } catch (error) {
        logProblem('platform_letters_failed', { error: errorName(error) })
      }
    }
    const batch = this.#sql
      .exec<{ appid: string; openid: string }>(
        `SELECT m.appid, m.openid ${TO_PURGE} AND m.retry_at <= ? LIMIT ?`,
        now,
        PURGE_BATCH,
      )
      .toArray()
    for (const { appid, openid } of batch) {
      try {
        await objectsOf(this.env, appid).user(openid).purge()
        this.#sql.exec('DELETE FROM members WHERE appid = ? AND openid = ?', appid, openid)
        more = true
      } catch (error) {
        this.#sql.exec(
          'UPDATE members SET retry_at = ? WHERE appid = ? AND openid = ?',
          now + PURGE_RETRY_MS,
          appid,
          openid,
        )
        logProblem('platform_purge_failed', { error: errorName(error) })
      }
    }
    // Another batch at once while one went through; otherwise the next thing due.
    if (more) return this.ctx.storage.setAlarm(Date.now() + 100)
    const { at } = this.#sql
      .exec<{ at: number | null }>(
        `SELECT min(
           coalesce((SELECT min(received_at) FROM received) + ?1, 1e18),
           coalesce((SELECT min(at) FROM codes) + ?2, 1e18),
           coalesce((SELECT min(expires_at) FROM links), 1e18),
           coalesce((SELECT min(m.retry_at) ${TO_PURGE}), 1e18),
           coalesce((SELECT ?3 FROM authorizers WHERE letters_left = 1 LIMIT 1), 1e18)
         ) AS at`,
        RETENTION_MS,
        CODE_MEMORY_MS,
        now + PURGE_RETRY_MS,
      )
      .one()
    if (at !== null && at < 1e18) await this.ctx.storage.setAlarm(at)
  }

  #row(appId: string): AuthorizerRow | undefined {
    return this.#sql
      .exec<AuthorizerRow>('SELECT * FROM authorizers WHERE appid = ?', appId)
      .toArray()[0]
  }

  #view(row: AuthorizerRow): AuthorizerView {
    const { count } = this.#sql
      .exec<{ count: number }>(
        `SELECT count(*) AS count FROM members WHERE appid = ?1 AND generation < ?2`,
        row.appid,
        row.generation,
      )
      .one()
    return {
      appId: row.appid,
      state: row.state === 'revoked' ? 'revoked' : 'authorized',
      permissions: JSON.parse(row.permissions) as number[],
      userName: row.user_name,
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

function codeDigest(code: string): Promise<string> {
  return sha1Hex(`auth-code\n${code}`)
}

/** The platform's object: one per platform AppID. */
export function platformOf(env: Env, platform: PlatformSettings): DurableObjectStub<Platform> {
  return env.PLATFORM.getByName(platform.appId)
}
