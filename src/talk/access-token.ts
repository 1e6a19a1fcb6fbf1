/**
 * AccessToken: one Durable Object per AppID holding the account's access token. It fetches one
 * at a time across every isolate (concurrent callers wait for the same fetch), refreshes ahead
 * of expiry with an alarm so that no request waits for WeChat, drops a token only if it is
 * still the one that failed, and never lets the token reach a log.
 */

import { DurableObject } from 'cloudflare:workers'
import { unscoped } from '../accounts/scope.ts'
import { readConfig, type TalkBack } from '../config.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import {
  type ApiFailure,
  fetchStableToken,
  type IssuedToken,
  issuedToken,
  refuseRedirect,
  WechatApiError,
} from '../wechat/api.ts'

/** A token is refreshed this long before it expires, and not used past that point. */
export const REFRESH_AHEAD_MS = 5 * 60 * 1000
/** WeChat allows 20 forced refreshes of the stable token a day, 30 s apart (getStableAccessToken). */
export const MAX_FORCED_REFRESHES_PER_DAY = 20
export const FORCED_REFRESH_SPACING_MS = 30_000
/** Automatic refreshes leave this many of the day's forced refreshes to the operator. */
export const FORCED_REFRESHES_KEPT_FOR_OPERATOR = 5
const DAY_MS = 24 * 60 * 60 * 1000

interface Held extends IssuedToken {
  readonly source: TalkBack['source']
}

/** What the admin API shows: never the token. */
export interface TokenStatus {
  readonly held: boolean
  readonly expiresAt: number | null
  readonly source: TalkBack['source'] | null
  readonly lastError: {
    readonly failure: ApiFailure
    readonly code: number | null
    readonly at: number
  } | null
  readonly forcedRefreshesToday: number
}

/** RPC answers: failures as values, so that no stack crosses into a log. */
export type TokenResult =
  /** `expiresAt`: when WeChat stops taking it (milliseconds), for a caller's own copy. */
  | { readonly ok: true; readonly token: string; readonly expiresAt: number }
  | {
      readonly ok: false
      readonly failure: ApiFailure
      readonly code: number | null
      readonly message: string
    }

export class AccessToken extends DurableObject<Cloudflare.Env> {
  #inflight: Promise<Held> | null = null

  /** A valid token: the one held, or one fetched now (a single fetch for all who wait). */
  async token(): Promise<TokenResult> {
    const held = await this.#held()
    if (held && usable(held))
      return { ok: true, token: held.accessToken, expiresAt: held.expiresAt }
    return this.#result(this.#refresh(false))
  }

  /**
   * The caller's token was refused as invalid or expired. If it is still the one held, fetch a
   * new one (once, whoever else asks meanwhile); if another caller refreshed it already, that
   * one is the answer.
   */
  async invalidate(failed: string): Promise<TokenResult> {
    const held = await this.#held()
    if (held && held.accessToken !== failed && usable(held))
      return { ok: true, token: held.accessToken, expiresAt: held.expiresAt }
    if (held?.accessToken === failed) await this.ctx.storage.delete('token')
    return this.#result(
      this.#refresh(false).then((fresh) =>
        // WeChat hands back the same stable token until it expires: force a new one then.
        fresh.accessToken === failed ? this.#forced('automatic') : fresh,
      ),
    )
  }

  /** A forced refresh from the admin API, at most 20 a day and 30 s apart, as WeChat allows. */
  async forceRefresh(): Promise<TokenResult> {
    return this.#result(this.#forced('operator'))
  }

  /** A token handed in from elsewhere (`PUT /admin/access-token`). */
  async put(accessToken: string, expiresInSeconds: number): Promise<TokenStatus> {
    const held: Held = {
      ...issuedToken({ access_token: accessToken, expires_in: expiresInSeconds }),
      source: 'pushed',
    }
    await this.#keep(held)
    return this.status()
  }

  async status(): Promise<TokenStatus> {
    const held = await this.#held()
    return {
      held: held !== undefined && held.expiresAt > Date.now(),
      expiresAt: held?.expiresAt ?? null,
      source: held?.source ?? null,
      lastError: (await this.ctx.storage.get<TokenStatus['lastError']>('lastError')) ?? null,
      forcedRefreshesToday: (await this.#forcedTimes()).length,
    }
  }

  /** Refreshes ahead of expiry, so that no request waits for WeChat. */
  override async alarm(): Promise<void> {
    const held = await this.#held()
    if (!held || held.source === 'pushed') return
    try {
      await this.#refresh(false)
    } catch (error) {
      logProblem('token_refresh_failed', { error: errorName(error) })
      await this.ctx.storage.setAlarm(Date.now() + 60_000)
    }
  }

  #refresh(force: boolean): Promise<Held> {
    this.#inflight ??= this.#fetch(force).finally(() => {
      this.#inflight = null
    })
    return this.#inflight
  }

  /**
   * A forced refresh, single flight like the others: callers that find one under way share its
   * token (and one of the day's 20), rather than each forcing a new one that retires the last.
   */
  async #forced(by: 'automatic' | 'operator'): Promise<Held> {
    if (this.#inflight) return this.#inflight
    // Only WeChat's stable_token counts forced refreshes: a token service decides for itself,
    // and a pushed token has nothing here to refresh it from.
    const source = this.#talkBack()?.source
    if (source === 'pushed') {
      throw new WechatApiError('refused', null, 'a pushed token is refreshed by pushing another')
    }
    if (source === 'url') return this.#refresh(true)
    const times = await this.#forcedTimes()
    const allowed =
      by === 'operator'
        ? MAX_FORCED_REFRESHES_PER_DAY
        : MAX_FORCED_REFRESHES_PER_DAY - FORCED_REFRESHES_KEPT_FOR_OPERATOR
    if (times.length >= allowed) {
      throw new WechatApiError(
        'refused',
        null,
        by === 'operator'
          ? `WeChat allows ${MAX_FORCED_REFRESHES_PER_DAY} forced refreshes a day`
          : `automatic forced refreshes stop at ${allowed} a day, leaving the rest of WeChat's ${MAX_FORCED_REFRESHES_PER_DAY} to the operator`,
      )
    }
    const last = times.at(-1)
    if (last !== undefined && Date.now() - last < FORCED_REFRESH_SPACING_MS) {
      throw new WechatApiError(
        'refused',
        null,
        'WeChat allows one forced refresh every 30 seconds: try again shortly',
      )
    }
    if (this.#inflight) return this.#inflight
    await this.ctx.storage.put('forced', [...times, Date.now()])
    return this.#refresh(true)
  }

  async #fetch(force: boolean): Promise<Held> {
    const talkBack = this.#talkBack()
    if (!talkBack) throw new WechatApiError('refused', null, 'no AppID: talking back is off')
    try {
      const issued = await fetchFrom(talkBack, force)
      const held: Held = { ...issued, source: talkBack.source }
      await this.#keep(held)
      logEvent('token_fetched', {
        source: held.source,
        expiresInS: Math.round((held.expiresAt - Date.now()) / 1000),
      })
      return held
    } catch (error) {
      const failure =
        error instanceof WechatApiError
          ? error
          : new WechatApiError('busy', null, 'token fetch failed')
      await this.ctx.storage.put('lastError', {
        failure: failure.failure,
        code: failure.code,
        at: Date.now(),
      })
      logProblem('token_fetch_failed', { failure: failure.failure, code: failure.code })
      throw failure
    }
  }

  async #keep(held: Held): Promise<void> {
    await this.ctx.storage.put('token', held)
    await this.ctx.storage.delete('lastError')
    if (held.source !== 'pushed') {
      // Not before a minute from now: WeChat may hand back a token with little time left.
      await this.ctx.storage.setAlarm(
        Math.max(held.expiresAt - REFRESH_AHEAD_MS, Date.now() + 60_000),
      )
    }
  }

  /**
   * How this holder's account talks back, for the AppID it is named by: one holder per AppID
   * under the account's scope (src/accounts/scope.ts), whichever accounts the Worker serves.
   */
  #talkBack(): TalkBack | null {
    const { account, name } = unscoped(this.ctx.id.name ?? '')
    const talkBack = readConfig(this.env).accounts.get(account)?.talkBack ?? null
    return talkBack && { ...talkBack, appId: name || talkBack.appId }
  }

  #held(): Promise<Held | undefined> {
    return this.ctx.storage.get<Held>('token')
  }

  async #forcedTimes(): Promise<number[]> {
    const since = Date.now() - DAY_MS
    return ((await this.ctx.storage.get<number[]>('forced')) ?? []).filter((at) => at > since)
  }

  async #result(work: Promise<Held>): Promise<TokenResult> {
    try {
      const held = await work
      return { ok: true, token: held.accessToken, expiresAt: held.expiresAt }
    } catch (error) {
      const failure =
        error instanceof WechatApiError
          ? error
          : new WechatApiError('busy', null, 'token fetch failed')
      return { ok: false, failure: failure.failure, code: failure.code, message: failure.message }
    }
  }
}

/** A held token is used until shortly before it expires. */
function usable(held: Held): boolean {
  return held.expiresAt - Date.now() > (held.source === 'pushed' ? 0 : REFRESH_AHEAD_MS / 5)
}

/** A token from the configured source: WeChat's stable_token, or the account's own service. */
export async function fetchFrom(
  talkBack: Omit<TalkBack, 'textLimitBytes'>,
  force: boolean,
): Promise<IssuedToken> {
  const call = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
    base: talkBack.apiBase,
  }
  switch (talkBack.source) {
    case 'stable_token':
      return fetchStableToken(call, talkBack.appId, talkBack.appSecret ?? '', force)
    case 'url': {
      // The service is told when a refresh is forced (the token it holds was refused), and
      // proves nothing about us without the shared secret.
      const headers: Record<string, string> = {}
      if (talkBack.tokenUrlSecret) headers.Authorization = `Bearer ${talkBack.tokenUrlSecret}`
      if (force) headers['X-Force-Refresh'] = 'true'
      let response: Response
      try {
        response = await fetch(talkBack.tokenUrl ?? '', {
          headers,
          redirect: 'manual',
          signal: AbortSignal.timeout(5_000),
        })
      } catch {
        throw new WechatApiError('busy', null, 'the token service could not be reached')
      }
      refuseRedirect(response, 'the token service')
      if (!response.ok)
        throw new WechatApiError('busy', null, `the token service answered ${response.status}`)
      return issuedToken(await response.json())
    }
    case 'pushed':
      throw new WechatApiError('refused', null, 'no token: push one with PUT /admin/access-token')
    default:
      return talkBack.source satisfies never
  }
}
