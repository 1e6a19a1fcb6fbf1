/**
 * Scan to log in, in Durable Objects: one `LoginSession` per login, and one `LoginGate` per
 * account, which bounds how many logins each client may start (WeChat's QR quota and the
 * objects are the account's to spend).
 *
 * A login is confirmed in two steps, so that whoever holds a login's code cannot sign in as
 * whoever scans it (QRLJacking): the first user to scan it is asked, in WeChat, whether to sign
 * in to the site from the requester the website described; only that same user's agreement,
 * before the login expires, confirms it. Its one-time code is then traded once, by the
 * website's backend, for the OpenID. A login deletes itself when it expires or is exchanged:
 * an OpenID stays here minutes at most.
 */

import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../env.ts'
import { constantTimeEqual } from '../wechat/signature.ts'
import {
  ANONYMOUS_LOGINS_PER_MINUTE,
  CODE_SECONDS,
  LOGINS_PER_CLIENT_PER_MINUTE,
  LOGINS_PER_MINUTE,
  type Requester,
  randomToken,
} from './rules.ts'

export type LoginStatus =
  | { readonly status: 'waiting'; readonly expiresAt: number }
  /** Scanned: the user was asked in WeChat and has not agreed yet. */
  | { readonly status: 'scanned'; readonly expiresAt: number }
  | { readonly status: 'confirmed'; readonly code: string; readonly expiresAt: number }
  | { readonly status: 'expired' }

/**
 * What a scan of the login's code came to. `asking`: this user is asked to agree. `taken`:
 * another user scanned it first. `confirmed`: this user agreed already (a retry).
 */
export type Asked =
  | { readonly outcome: 'asking'; readonly requester: Requester | null; readonly expiresAt: number }
  | { readonly outcome: 'taken' | 'expired' | 'confirmed' }

/** What the user's agreement came to. `taken`: they are not the one who was asked. */
export type Confirmation = 'confirmed' | 'taken' | 'expired'

export interface LoggedIn {
  readonly openid: string
  readonly subscribed: true
  /** Whether the scan was the user's follow. */
  readonly newFollower: boolean
  readonly scene: string
}

interface LoginRecord {
  readonly id: string
  readonly scene: string
  readonly expiresAt: number
  /** What the website told of who asked to sign in, shown to the user who scans. */
  readonly requester: Requester | null
  /** The user who scanned first: the only one who may agree. */
  readonly scanner?: { readonly openid: string; readonly newFollower: boolean }
  readonly confirmed?: {
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
  async start(
    id: string,
    scene: string,
    expiresAt: number,
    requester: Requester | null = null,
  ): Promise<void> {
    await this.ctx.storage.put(RECORD, { id, scene, expiresAt, requester } satisfies LoginRecord)
    await this.ctx.storage.setAlarm(expiresAt + CODE_SECONDS * 1000)
  }

  async status(): Promise<LoginStatus> {
    const record = await this.#record()
    const now = Date.now()
    if (!record) return { status: 'expired' }
    const confirmed = record.confirmed
    if (confirmed) {
      return now < confirmed.codeExpiresAt
        ? {
            status: 'confirmed',
            code: `${record.id}.${confirmed.secret}`,
            expiresAt: confirmed.codeExpiresAt,
          }
        : { status: 'expired' }
    }
    if (now >= record.expiresAt) return { status: 'expired' }
    return { status: record.scanner ? 'scanned' : 'waiting', expiresAt: record.expiresAt }
  }

  /**
   * A scan or a QR follow with this login's scene. The first user to scan it is the one asked;
   * WeChat's retries of that push ask again and change nothing; another user is refused.
   */
  async ask(openid: string, newFollower: boolean, scene: string): Promise<Asked> {
    const record = await this.#record()
    if (!record || record.scene !== scene) return { outcome: 'expired' }
    if (record.scanner && record.scanner.openid !== openid) return { outcome: 'taken' }
    if (record.confirmed) return { outcome: 'confirmed' }
    if (Date.now() >= record.expiresAt) return { outcome: 'expired' }
    if (!record.scanner) {
      await this.ctx.storage.put(RECORD, {
        ...record,
        scanner: { openid, newFollower },
      } satisfies LoginRecord)
    }
    return { outcome: 'asking', requester: record.requester, expiresAt: record.expiresAt }
  }

  /**
   * The user agreed in WeChat. Only the user who was asked, and only before the login expires;
   * a retry of their agreement changes nothing.
   */
  async confirm(openid: string): Promise<Confirmation> {
    const record = await this.#record()
    const now = Date.now()
    if (!record) return 'expired'
    if (record.scanner?.openid !== openid) return 'taken'
    if (record.confirmed) return 'confirmed'
    if (now >= record.expiresAt) return 'expired'
    const codeExpiresAt = now + CODE_SECONDS * 1000
    await this.ctx.storage.put(RECORD, {
      ...record,
      confirmed: { secret: randomToken(), codeExpiresAt },
    } satisfies LoginRecord)
    await this.ctx.storage.setAlarm(codeExpiresAt)
    return 'confirmed'
  }

  /** The website's backend trades the code once; the login is then deleted. */
  async exchange(secret: string): Promise<LoggedIn | null> {
    const record = await this.#record()
    const confirmed = record?.confirmed
    const scanner = record?.scanner
    if (!record || !confirmed || !scanner || Date.now() >= confirmed.codeExpiresAt) return null
    if (!constantTimeEqual(secret, confirmed.secret)) return null
    await this.ctx.storage.deleteAll()
    return {
      openid: scanner.openid,
      subscribed: true,
      newFollower: scanner.newFollower,
      scene: record.scene,
    }
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll()
  }
}

/**
 * Who starts a login: a stranger's page (counted by its network, within the strangers' share),
 * or the website's backend holding LOGIN_SECRET (counted by the end user's network it passes,
 * if any, within the account's whole cap).
 */
export type Starter = 'anonymous' | 'site'

/** A fixed window per client: how many logins it started in the current minute. */
export class LoginGate extends DurableObject<Env> {
  #windowStart = 0
  #total = 0
  #anonymous = 0
  readonly #clients = new Map<string, number>()

  /**
   * Whether `client` (a hash of its network, never the address) may start a login now; `null`
   * for a backend that passed no address, which only the account's cap bounds. In memory: the
   * gate is one object, and a restart forgets at most a minute of counts.
   */
  admit(starter: Starter, client: string | null): boolean {
    const window = Math.floor(Date.now() / 60_000)
    if (window !== this.#windowStart) {
      this.#windowStart = window
      this.#total = 0
      this.#anonymous = 0
      this.#clients.clear()
    }
    if (this.#total >= LOGINS_PER_MINUTE) return false
    if (starter === 'anonymous' && this.#anonymous >= ANONYMOUS_LOGINS_PER_MINUTE) return false
    if (client !== null) {
      const key = `${starter}:${client}`
      const count = this.#clients.get(key) ?? 0
      if (count >= LOGINS_PER_CLIENT_PER_MINUTE) return false
      this.#clients.set(key, count + 1)
    }
    this.#total++
    if (starter === 'anonymous') this.#anonymous++
    return true
  }
}
