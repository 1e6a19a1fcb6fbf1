/**
 * WebAuthorization: one Durable Object per sign-in, named by its state, from WeChat's callback
 * until the website's backend trades its ticket. It trades WeChat's code once, however often
 * the browser reloads the callback or comes back to it: a reload with the same code lands where
 * the first did (or learns that its ticket was used), and WeChat is never asked twice, so
 * nobody sees 40163. The user's web access token is used inside the trade and kept nowhere;
 * who signed in is kept until the ticket is traded or expires (minutes), then deleted; what
 * remains until the state's end holds no OpenID (a digest of the spent code), and the object
 * deletes itself then.
 */

import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../env.ts'
import { logProblem } from '../log.ts'
import { type ApiFailure, WechatApiError } from '../wechat/api.ts'
import {
  type Authorized,
  CODE_INVALID,
  CODE_USED,
  readUserinfo,
  tradeCode,
  type WebUserinfo,
} from '../wechat/oauth.ts'
import { constantTimeEqual } from '../wechat/signature.ts'
import { randomHex, TICKET_SECONDS, withQuery } from './rules.ts'
import type { Grant } from './state.ts'

/** Who signed in, as the website's backend receives it once. */
export interface SignedIn extends Authorized {
  /** For snsapi_userinfo: the profile WeChat gave. */
  readonly userinfo?: WebUserinfo
}

/** What the trade needs of the account: WeChat's API and the AppSecret. */
export interface OAuthClient {
  readonly appId: string
  readonly appSecret: string
  readonly apiBase: string
}

/** Where the callback sends the browser. */
export type Landing =
  /** To the website, with the ticket: the first time, or a reload (`replay`). */
  | { readonly outcome: 'landed'; readonly location: string; readonly replay: boolean }
  /** This sign-in's ticket was traded or expired: a clear page, no second trade. */
  | { readonly outcome: 'used' }
  /** This sign-in ended with another code: a clear page. */
  | { readonly outcome: 'other_code' }
  /** WeChat refused the code (used elsewhere, 40163; unknown or stale, 40029). */
  | { readonly outcome: 'code_refused'; readonly code: number | null }
  /** WeChat could not be asked; the code may still be good, a reload tries again. */
  | { readonly outcome: 'failed'; readonly failure: ApiFailure; readonly code: number | null }

interface Traded {
  readonly codeDigest: string
  /** The landing, with the ticket; null when WeChat refused the code. */
  readonly location: string | null
  readonly ticketSecret: string | null
  readonly ticketExpiresAt: number
  /** When the object deletes itself: the state's end (its cookie's), or the ticket's. */
  readonly endsAt: number
  /** Deleted when the ticket is traded or expires. */
  readonly signedIn?: SignedIn
}

const RECORD = 'traded'

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('')
}

export class WebAuthorization extends DurableObject<Env> {
  /** The trade under way or done in this instance: concurrent callbacks (a double tap) share it. */
  #trading: { readonly digest: string; readonly landing: Promise<Landing> } | null = null

  async #record(): Promise<Traded | null> {
    return (await this.ctx.storage.get<Traded>(RECORD)) ?? null
  }

  /**
   * WeChat's callback with `code` for the started sign-in `grant` (its cookie held): the first
   * call trades it, every later one answers from what the first kept.
   */
  async land(code: string, grant: Grant, client: OAuthClient): Promise<Landing> {
    const digest = await sha256Hex(code)
    const record = await this.#record()
    if (record) return replayed(record, digest)
    const trading = this.#trading
    if (trading) return trading.digest === digest ? trading.landing : { outcome: 'other_code' }
    const landing = this.#trade(code, digest, grant, client).then(
      (landed) => {
        // Kept once stored: a call that read storage before the trade wrote it still finds it
        // here. Only a trade WeChat could not answer may be tried again.
        if (landed.outcome === 'failed') this.#trading = null
        return landed
      },
      (error: unknown) => {
        this.#trading = null
        throw error
      },
    )
    this.#trading = { digest, landing }
    return landing
  }

  /** The website's backend trades the ticket, once; who signed in is then deleted. */
  async exchange(secret: string): Promise<SignedIn | null> {
    const record = await this.#record()
    if (!record?.signedIn || record.ticketSecret === null) return null
    if (Date.now() >= record.ticketExpiresAt) return null
    if (!constantTimeEqual(secret, record.ticketSecret)) return null
    const { signedIn, ...spent } = record
    await this.ctx.storage.put(RECORD, spent satisfies Traded)
    return signedIn
  }

  /** At the ticket's end, who signed in goes; at the state's end, everything. */
  override async alarm(): Promise<void> {
    const record = await this.#record()
    if (record && record.endsAt > Date.now()) {
      const { signedIn: _gone, ...spent } = record
      await this.ctx.storage.put(RECORD, spent satisfies Traded)
      await this.ctx.storage.setAlarm(record.endsAt)
      return
    }
    await this.ctx.storage.deleteAll()
  }

  async #trade(code: string, digest: string, grant: Grant, client: OAuthClient): Promise<Landing> {
    const api = {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
      base: client.apiBase,
    }
    let signedIn: SignedIn
    try {
      const { authorized, used } = await tradeCode(
        api,
        { appId: client.appId, secret: client.appSecret },
        code,
        (webToken, who) =>
          grant.scope === 'snsapi_userinfo' && who.scope === 'snsapi_userinfo'
            ? readUserinfo(api, webToken, who.openid).catch((error: unknown) => {
                // Signed in still: the website gets no profile and may ask again.
                const failure = error instanceof WechatApiError ? error : null
                logProblem('oauth_userinfo_failed', {
                  failure: failure?.failure ?? 'busy',
                  code: failure?.code ?? null,
                })
                return undefined
              })
            : Promise.resolve(undefined),
      )
      signedIn = { ...authorized, ...(used !== undefined && { userinfo: used }) }
    } catch (error) {
      if (!(error instanceof WechatApiError)) throw error
      if (error.code === CODE_USED || error.code === CODE_INVALID) {
        // Kept, so that a reload gets the same page without asking WeChat again.
        await this.#keep({
          codeDigest: digest,
          location: null,
          ticketSecret: null,
          ticketExpiresAt: 0,
          endsAt: grant.expiresAt,
        })
        return { outcome: 'code_refused', code: error.code }
      }
      return { outcome: 'failed', failure: error.failure, code: error.code }
    }
    const ticketSecret = randomHex()
    const ticketExpiresAt = Date.now() + TICKET_SECONDS * 1000
    const location = withQuery(grant.redirect, { ticket: `${grant.state}.${ticketSecret}` })
    await this.#keep({
      codeDigest: digest,
      location,
      ticketSecret,
      ticketExpiresAt,
      endsAt: Math.max(grant.expiresAt, ticketExpiresAt),
      signedIn,
    })
    return { outcome: 'landed', location, replay: false }
  }

  async #keep(record: Traded): Promise<void> {
    await this.ctx.storage.put(RECORD, record)
    await this.ctx.storage.setAlarm(
      record.signedIn ? record.ticketExpiresAt : Math.max(record.endsAt, Date.now()),
    )
  }
}

/** A callback after the first: what the first kept, or why not. */
function replayed(record: Traded, digest: string): Landing {
  if (record.codeDigest !== digest) return { outcome: 'other_code' }
  if (record.location === null) return { outcome: 'code_refused', code: null }
  if (!record.signedIn || Date.now() >= record.ticketExpiresAt) return { outcome: 'used' }
  return { outcome: 'landed', location: record.location, replay: true }
}
