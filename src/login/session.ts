/**
 * Scan to log in, in Durable Objects: one `LoginSession` per login, which a QR follow or a scan
 * of its code confirms once, and whose one-time code the website's backend exchanges once for
 * the OpenID; and one `LoginGate` per account, which bounds how many logins each client may
 * start (WeChat's QR quota and the objects are the account's to spend). A login deletes itself
 * when it expires or is exchanged: an OpenID stays here minutes at most.
 */

import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../env.ts'
import { constantTimeEqual } from '../wechat/signature.ts'
import {
  CODE_SECONDS,
  LOGINS_PER_CLIENT_PER_MINUTE,
  LOGINS_PER_MINUTE,
  randomToken,
} from './rules.ts'

export type LoginStatus =
  | { readonly status: 'waiting'; readonly expiresAt: number }
  | { readonly status: 'confirmed'; readonly code: string; readonly expiresAt: number }
  | { readonly status: 'expired' }

/** What a scan of the login's code did. `taken`: another user confirmed it first. */
export type Confirmation = 'confirmed' | 'taken' | 'expired'

export interface LoggedIn {
  readonly openid: string
  readonly subscribed: true
  /** Whether this scan was the user's follow. */
  readonly newFollower: boolean
  readonly scene: string
}

interface LoginRecord {
  readonly id: string
  readonly scene: string
  readonly expiresAt: number
  readonly confirmed?: {
    readonly openid: string
    readonly newFollower: boolean
    /** The secret half of the one-time code; the login's id is the other. */
    readonly secret: string
    readonly codeExpiresAt: number
  }
}

const RECORD = 'login'

export class LoginSession extends DurableObject<Env> {
  async #record(): Promise<LoginRecord | null> {
    return (await this.ctx.storage.get<LoginRecord>(RECORD)) ?? null
  }

  /** Starts the login; it and anything it learns are deleted at its end. */
  async start(id: string, scene: string, expiresAt: number): Promise<void> {
    await this.ctx.storage.put(RECORD, { id, scene, expiresAt } satisfies LoginRecord)
    await this.ctx.storage.setAlarm(expiresAt + CODE_SECONDS * 1000)
  }

  async status(): Promise<LoginStatus> {
    const record = await this.#record()
    const now = Date.now()
    if (!record) return { status: 'expired' }
    const confirmed = record.confirmed
    if (confirmed && now < confirmed.codeExpiresAt) {
      return {
        status: 'confirmed',
        code: `${record.id}.${confirmed.secret}`,
        expiresAt: confirmed.codeExpiresAt,
      }
    }
    if (!confirmed && now < record.expiresAt)
      return { status: 'waiting', expiresAt: record.expiresAt }
    return { status: 'expired' }
  }

  /**
   * A scan or a QR follow with this login's scene. The first user confirms it; WeChat's
   * retries of that push change nothing; a later user, or a scan after expiry, is refused.
   */
  async confirm(openid: string, newFollower: boolean, scene: string): Promise<Confirmation> {
    const record = await this.#record()
    const now = Date.now()
    if (!record || record.scene !== scene) return 'expired'
    if (record.confirmed) return record.confirmed.openid === openid ? 'confirmed' : 'taken'
    if (now >= record.expiresAt) return 'expired'
    const codeExpiresAt = now + CODE_SECONDS * 1000
    await this.ctx.storage.put(RECORD, {
      ...record,
      confirmed: { openid, newFollower, secret: randomToken(), codeExpiresAt },
    } satisfies LoginRecord)
    await this.ctx.storage.setAlarm(codeExpiresAt)
    return 'confirmed'
  }

  /** The website's backend trades the code once; the login is then deleted. */
  async exchange(secret: string): Promise<LoggedIn | null> {
    const record = await this.#record()
    const confirmed = record?.confirmed
    if (!record || !confirmed || Date.now() >= confirmed.codeExpiresAt) return null
    if (!constantTimeEqual(secret, confirmed.secret)) return null
    await this.ctx.storage.deleteAll()
    return {
      openid: confirmed.openid,
      subscribed: true,
      newFollower: confirmed.newFollower,
      scene: record.scene,
    }
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll()
  }
}

/** A fixed window per client: how many logins it started in the current minute. */
export class LoginGate extends DurableObject<Env> {
  #windowStart = 0
  #total = 0
  readonly #clients = new Map<string, number>()

  /**
   * Whether `client` (a hash of its address, never the address) may start a login now. In
   * memory: the gate is one object, and a restart forgets at most a minute of counts.
   */
  admit(client: string): boolean {
    const window = Math.floor(Date.now() / 60_000)
    if (window !== this.#windowStart) {
      this.#windowStart = window
      this.#total = 0
      this.#clients.clear()
    }
    const count = this.#clients.get(client) ?? 0
    if (count >= LOGINS_PER_CLIENT_PER_MINUTE || this.#total >= LOGINS_PER_MINUTE) return false
    this.#clients.set(client, count + 1)
    this.#total++
    return true
  }
}
