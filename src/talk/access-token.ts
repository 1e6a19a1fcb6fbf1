/**
 * AccessToken: one Durable Object per AppID holding the account's access token, with the one
 * holder design (src/talk/holder.ts): one fetch at a time across every isolate, renewed ahead
 * of expiry by an alarm, dropped only if it is still the one that failed, never in a log. What
 * is the access token's own: where it comes from (stable_token, a token service of the
 * account's, or pushed in) and WeChat's budget of forced refreshes.
 */

import { DurableObject } from 'cloudflare:workers'
import { unscoped } from '../accounts/scope.ts'
import { findAccount } from '../accounts/served.ts'
import { readConfig, type TalkBack } from '../config.ts'
import { platformOf } from '../platform/platform.ts'
import {
  type ApiCall,
  fetchStableToken,
  type IssuedToken,
  issuedToken,
  refuseRedirect,
  WechatApiError,
} from '../wechat/api.ts'
import { fetchComponentToken } from '../wechat/platform.ts'
import { type Held, type HeldResult, type HeldStatus, Holder, resultOf } from './holder.ts'

export { REFRESH_AHEAD_MS } from './holder.ts'

/** WeChat allows 20 forced refreshes of the stable token a day, 30 s apart (getStableAccessToken). */
export const MAX_FORCED_REFRESHES_PER_DAY = 20
export const FORCED_REFRESH_SPACING_MS = 30_000
/** Automatic refreshes leave this many of the day's forced refreshes to the operator. */
export const FORCED_REFRESHES_KEPT_FOR_OPERATOR = 5
const DAY_MS = 24 * 60 * 60 * 1000

type Source = TalkBack['source']

/** What the admin API shows: never the token. */
export interface TokenStatus extends HeldStatus<Source> {
  readonly forcedRefreshesToday: number
}

/** RPC answers: failures as values, so that no stack crosses into a log. */
export type TokenResult = HeldResult

export class AccessToken extends DurableObject<Cloudflare.Env> {
  /** How many drops this instance carried out: a fetch that sees it change keeps nothing. */
  #drops = 0
  readonly #holder = new Holder<Source>(this.ctx.storage, {
    event: 'token',
    fetch: (force) => this.#fetch(force),
    // A pushed token has nothing here to renew it from: the system that pushed it does.
    renews: (held) => held.source !== 'pushed',
  })

  /** A valid token: the one held, or one fetched now (a single fetch for all who wait). */
  token(): Promise<TokenResult> {
    return this.#holder.current()
  }

  /**
   * The caller's token was refused as invalid or expired. If it is still the one held, fetch a
   * new one (once, whoever else asks meanwhile); if another caller refreshed it already, that
   * one is the answer.
   */
  invalidate(failed: string): Promise<TokenResult> {
    // WeChat hands back the same stable token until it expires: force a new one then.
    return this.#holder.invalidate(failed, () => this.#forced('automatic'))
  }

  /** A forced refresh from the admin API, at most 20 a day and 30 s apart, as WeChat allows. */
  forceRefresh(): Promise<TokenResult> {
    return resultOf(this.#forced('operator'))
  }

  /** A token handed in from elsewhere (`PUT /admin/access-token`). */
  async put(accessToken: string, expiresInSeconds: number): Promise<TokenStatus> {
    const issued = issuedToken({ access_token: accessToken, expires_in: expiresInSeconds })
    await this.#holder.keep({
      token: issued.accessToken,
      expiresAt: issued.expiresAt,
      source: 'pushed',
      fetchedAt: Date.now(),
    })
    return this.status()
  }

  async status(): Promise<TokenStatus> {
    return {
      ...(await this.#holder.status()),
      forcedRefreshesToday: (await this.#forcedTimes()).length,
    }
  }

  /** Refreshes ahead of expiry, so that no request waits for WeChat. */
  override async alarm(): Promise<void> {
    await this.#holder.alarm()
  }

  /**
   * A forced refresh, single flight like the others: callers that find one under way share its
   * token (and one of the day's 20), rather than each forcing a new one that retires the last.
   */
  async #forced(by: 'automatic' | 'operator'): Promise<Held<Source>> {
    const inflight = this.#holder.inflight
    if (inflight) return inflight
    // Only WeChat's stable_token counts forced refreshes: a token service decides for itself,
    // and a pushed token has nothing here to refresh it from.
    const source = this.#talkBack()?.source
    if (source === 'pushed') {
      throw new WechatApiError('refused', null, 'a pushed token is refreshed by pushing another')
    }
    // A token service, the platform (its own token, or an authorizer's) decides for itself.
    if (source === 'url' || source === 'component' || source === 'authorizer') {
      return this.#holder.refresh(true)
    }
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
    const started = this.#holder.inflight
    if (started) return started
    await this.ctx.storage.put('forced', [...times, Date.now()])
    return this.#holder.refresh(true)
  }

  /** The holder's fetch: from the configured source, for the AppID the object is named by. */
  async #fetch(force: boolean): Promise<{ token: string; expiresAt: number; source: Source }> {
    const talkBack = this.#talkBack()
    if (!talkBack) throw new WechatApiError('refused', null, 'no AppID: talking back is off')
    const drops = this.#drops
    const issued = await this.#fetchFrom(talkBack, force)
    // Dropped while the fetch was under way (a revoke): what it brings back is not kept.
    if (this.#drops !== drops) throw new WechatApiError('refused', null, 'the token was dropped')
    return { token: issued.accessToken, expiresAt: issued.expiresAt, source: talkBack.source }
  }

  /** The configured source; the platform's two through its own object (src/platform/). */
  async #fetchFrom(talkBack: TalkBack, force: boolean): Promise<IssuedToken> {
    const platform = readConfig(this.env).platform
    if (talkBack.source === 'component' || talkBack.source === 'authorizer') {
      if (!platform) throw new WechatApiError('refused', null, 'the third-party platform is off')
      const object = platformOf(this.env, platform)
      if (talkBack.source === 'authorizer') {
        const fresh = await object.authorizerToken(talkBack.appId)
        if (!fresh.ok) throw new WechatApiError(fresh.failure, fresh.code, fresh.message)
        return { accessToken: fresh.token, expiresAt: fresh.expiresAt }
      }
      const ticket = await object.ticket()
      if (ticket === null) {
        throw new WechatApiError(
          'refused',
          null,
          'no component_verify_ticket yet: WeChat pushes one to /wechat/platform every 10 minutes',
        )
      }
      const api: ApiCall = { fetch: (input, init) => fetch(input, init), base: platform.apiBase }
      const fresh = await fetchComponentToken(api, platform, ticket)
      return { accessToken: fresh.token, expiresAt: fresh.expiresAt }
    }
    return fetchFrom(talkBack, force)
  }

  /**
   * A token WeChat issued with an authorization (api_query_auth), held and renewed from its
   * own source from now on (unlike a pushed one).
   */
  async adopt(accessToken: string, expiresInSeconds: number): Promise<void> {
    const talkBack = this.#talkBack()
    if (talkBack?.source !== 'authorizer') {
      throw new WechatApiError('refused', null, 'only an authorizer’s token is adopted')
    }
    const issued = issuedToken({ access_token: accessToken, expires_in: expiresInSeconds })
    await this.#holder.keep({
      token: issued.accessToken,
      expiresAt: issued.expiresAt,
      source: talkBack.source,
      fetchedAt: Date.now(),
    })
  }

  /**
   * Drops the token now and its renewal: the account revoked the platform's authorization. A
   * fetch under way keeps nothing of what it brings back.
   */
  async drop(): Promise<void> {
    this.#drops++
    await this.ctx.storage.deleteAlarm()
    await this.ctx.storage.deleteAll()
  }

  /**
   * How this holder's account talks back, for the AppID it is named by: one holder per AppID
   * under the account's scope (src/accounts/scope.ts), whichever accounts the Worker serves.
   */
  #talkBack(): TalkBack | null {
    return talkBackOfHolder(this.env, this.ctx.id.name)
  }

  async #forcedTimes(): Promise<number[]> {
    const since = Date.now() - DAY_MS
    return ((await this.ctx.storage.get<number[]>('forced')) ?? []).filter((at) => at > since)
  }
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
    case 'component':
    case 'authorizer':
      throw new WechatApiError('refused', null, 'the platform’s tokens come from its object')
    default:
      return talkBack.source satisfies never
  }
}

/**
 * The account a token holder (an AccessToken, a JsapiTicket) serves, from its name: the AppID
 * under the account's scope. Null when that account no longer talks back.
 */
export function talkBackOfHolder(env: Cloudflare.Env, name: string | undefined): TalkBack | null {
  const { account, name: appId } = unscoped(name ?? '')
  if (account === 'platform') {
    // The platform's own token (component_access_token), named under the reserved id.
    const platform = readConfig(env).platform
    return platform && platform.appId === appId
      ? {
          appId,
          apiBase: platform.apiBase,
          source: 'component',
          appSecret: null,
          tokenUrl: null,
          tokenUrlSecret: null,
          textLimitBytes: platform.textLimitBytes,
        }
      : null
  }
  const talkBack = findAccount(env, account)?.talkBack ?? null
  return talkBack && { ...talkBack, appId: appId || talkBack.appId }
}
