/**
 * Campaigns: the account's scene QR codes and, per scene and day, how many followed by them,
 * how many followers scanned them, and how many of those who followed by them unfollowed.
 * Aggregates only: no OpenID is kept here (a user's own scene is in their UserState and goes
 * with their purge). One object per account (src/accounts/objects.ts). Counts move when a user's object receives a scene
 * push the first time, so WeChat's retries count once.
 *
 * Days are China Standard Time (UTC+8, no daylight saving): the operator's calendar.
 */

import { DurableObject } from 'cloudflare:workers'
import type { Env } from './env.ts'
import { migrateTables } from './sqlite-migrations.ts'
import { LOGIN_SCENE_PREFIX } from './wechat/qrcode.ts'

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE qrcodes (
     scene TEXT PRIMARY KEY,
     ticket TEXT NOT NULL,
     url TEXT NOT NULL,
     image TEXT NOT NULL,
     expires_at INTEGER,
     created_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE counts (
     scene TEXT NOT NULL,
     day TEXT NOT NULL,
     follows INTEGER NOT NULL DEFAULT 0,
     scans INTEGER NOT NULL DEFAULT 0,
     unfollows INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (scene, day)
   ) WITHOUT ROWID;`,
]

export type CampaignEvent = 'follows' | 'scans' | 'unfollows'

export interface CampaignQrCode {
  readonly scene: string
  readonly ticket: string
  readonly url: string
  readonly image: string
  /** Milliseconds since the epoch; null for a permanent code. */
  readonly expiresAt: number | null
  readonly createdAt: number
}

export interface CampaignDay {
  readonly day: string
  readonly follows: number
  readonly scans: number
  readonly unfollows: number
}

export interface CampaignStats {
  readonly scene: string
  readonly follows: number
  readonly scans: number
  readonly unfollows: number
  /** Oldest first; only days with a count. */
  readonly days: readonly CampaignDay[]
}

const CST_OFFSET_MS = 8 * 60 * 60 * 1000

/** The China Standard Time date of a moment, as `YYYY-MM-DD`. */
export function campaignDay(at: number): string {
  return new Date(at + CST_OFFSET_MS).toISOString().slice(0, 10)
}

/** Whether a scene is counted: a login's one-time scene is not a campaign. */
export function isCampaignScene(scene: string | null): scene is string {
  return scene !== null && scene !== '' && !scene.startsWith(LOGIN_SCENE_PREFIX)
}

export class Campaigns extends DurableObject<Env> {
  #migrated = false

  get #sql(): SqlStorage {
    const sql = this.ctx.storage.sql
    if (!this.#migrated) {
      migrateTables(sql, MIGRATIONS)
      this.#migrated = true
    }
    return sql
  }

  /** Notes a code the admin API made; a scene made again keeps its newest code. */
  keepQrCode(code: CampaignQrCode): void {
    this.#sql.exec(
      `INSERT INTO qrcodes (scene, ticket, url, image, expires_at, created_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6)
       ON CONFLICT (scene) DO UPDATE SET ticket = ?2, url = ?3, image = ?4, expires_at = ?5,
         created_at = ?6`,
      code.scene,
      code.ticket,
      code.url,
      code.image,
      code.expiresAt,
      code.createdAt,
    )
  }

  qrCodes(): CampaignQrCode[] {
    return this.#sql
      .exec<{
        scene: string
        ticket: string
        url: string
        image: string
        expires_at: number | null
        created_at: number
      }>('SELECT * FROM qrcodes ORDER BY created_at DESC')
      .toArray()
      .map((row) => ({
        scene: row.scene,
        ticket: row.ticket,
        url: row.url,
        image: row.image,
        expiresAt: row.expires_at,
        createdAt: row.created_at,
      }))
  }

  /** One more of `event` for `scene` on the day of `at` (milliseconds). */
  count(scene: string, event: CampaignEvent, at: number): void {
    if (!isCampaignScene(scene)) return
    this.#sql.exec(
      `INSERT INTO counts (scene, day, ${event}) VALUES (?, ?, 1)
       ON CONFLICT (scene, day) DO UPDATE SET ${event} = ${event} + 1`,
      scene,
      campaignDay(at),
    )
  }

  /** Deletes the account's codes and counts: its authorization of the platform was revoked. */
  async forget(): Promise<void> {
    await this.ctx.storage.deleteAlarm()
    await this.ctx.storage.deleteAll()
    this.#migrated = false
  }

  stats(scene: string): CampaignStats {
    const days = this.#sql
      .exec<{ day: string; follows: number; scans: number; unfollows: number }>(
        'SELECT day, follows, scans, unfollows FROM counts WHERE scene = ? ORDER BY day',
        scene,
      )
      .toArray()
      .map((row) => ({ ...row }))
    const total = (event: CampaignEvent) => days.reduce((sum, day) => sum + day[event], 0)
    return {
      scene,
      follows: total('follows'),
      scans: total('scans'),
      unfollows: total('unfollows'),
      days,
    }
  }
}
