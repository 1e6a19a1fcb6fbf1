/**
 * JsapiTicket: one Durable Object per AppID holding the account's jsapi_ticket for the JS-SDK,
 * with the one holder design (src/talk/holder.ts) the access token uses: one getticket at a
 * time for every caller in every isolate, renewed by an alarm ahead of expiry, this isolate's
 * copy used while good. The ticket is fetched with the access token (withAccessToken: a 40001
 * renews the access token once and fetches again). A ticket a page reports refused is dropped
 * alone, the access token kept, and only if it is still the one held and a minute old: so
 * soon, what the page got wrong is its URL, not the ticket, and nobody can make the Worker
 * spend getticket (WeChat allows it "非常有限" often) faster than once a minute.
 */

import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../env.ts'
import { logEvent } from '../log.ts'
import { WechatApiError } from '../wechat/api.ts'
import { fetchJsapiTicket } from '../wechat/jssdk.ts'
import { talkBackOfHolder } from './access-token.ts'
import { type HeldResult, type HeldStatus, Holder, IsolateCopies } from './holder.ts'
import { withAccessToken } from './talk.ts'

/** A refused ticket younger than this is kept: the page's URL, not the ticket, was wrong. */
export const REFUSED_TICKET_MIN_AGE_MS = 60_000

export class JsapiTicket extends DurableObject<Env> {
  readonly #holder = new Holder<'getticket'>(this.ctx.storage, {
    event: 'jsapi_ticket',
    fetch: () => this.#fetch(),
    renews: () => true,
  })

  /** A valid ticket: the one held, or one fetched now (a single getticket for all who wait). */
  token(): Promise<HeldResult> {
    return this.#holder.current()
  }

  /**
   * A page's `wx.config` was refused with this ticket. Dropped only if it is still the one
   * held and at least a minute old; otherwise the held one is the answer.
   */
  async invalidate(failed: string): Promise<HeldResult> {
    const held = await this.#holder.held()
    if (held?.token === failed && Date.now() - held.fetchedAt < REFUSED_TICKET_MIN_AGE_MS) {
      return this.#holder.current()
    }
    if (held?.token === failed)
      logEvent('jssdk_ticket_refused', { ageS: ageSeconds(held.fetchedAt) })
    // getticket has no forced refresh: if WeChat hands the same ticket back, it is the one.
    return this.#holder.invalidate(failed, async (fresh) => fresh)
  }

  /** Drops the ticket now: the account revoked the platform's authorization. */
  async drop(): Promise<void> {
    await this.ctx.storage.deleteAlarm()
    await this.ctx.storage.deleteAll()
  }

  status(): Promise<HeldStatus<'getticket'>> {
    return this.#holder.status()
  }

  override async alarm(): Promise<void> {
    await this.#holder.alarm()
  }

  /**
   * getticket with the access token of the account and AppID this object is named by: the
   * same name as that account's AccessToken (src/talk/talk.ts, tokenHolderName).
   */
  async #fetch(): Promise<{ token: string; expiresAt: number; source: 'getticket' }> {
    const name = this.ctx.id.name
    const talkBack = talkBackOfHolder(this.env, name)
    if (!talkBack || !name) {
      throw new WechatApiError('refused', null, 'no AppID: the JS-SDK is off')
    }
    const api = {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
      base: talkBack.apiBase,
    }
    const issued = await withAccessToken(this.env, name, (token) => fetchJsapiTicket(api, token))
    return { token: issued.ticket, expiresAt: issued.expiresAt, source: 'getticket' }
  }
}

function ageSeconds(at: number): number {
  return Math.round((Date.now() - at) / 1000)
}

/** This isolate's copies of each account's ticket, by the holder's name. */
const tickets = new IsolateCopies()

/**
 * The account's jsapi_ticket: this isolate's copy, or its JsapiTicket object's.
 *
 * @example
 * const ticket = await jsapiTicketOf(env, account.holders.jsapiTicket)
 */
export async function jsapiTicketOf(env: Env, holder: string): Promise<string> {
  return (
    tickets.get(holder) ??
    (await tickets.ask(holder, () => env.JSAPI_TICKETS.getByName(holder).token()))
  )
}

/**
 * A page reported its config refused, signed with `ticket`: this isolate's copy is dropped, and
 * the holder drops the ticket if it is still the one held (and old enough); its answer is kept.
 */
export async function refusedTicket(env: Env, holder: string, ticket: string): Promise<string> {
  tickets.drop(holder, ticket)
  return tickets.keep(holder, await env.JSAPI_TICKETS.getByName(holder).invalidate(ticket))
}
