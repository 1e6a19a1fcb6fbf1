/**
 * The one design for holding a credential WeChat issues for a while: the access token, the
 * jsapi_ticket, and later the third-party platform's component_access_token and authorizer
 * tokens. Each kind is held by one Durable Object per account, which uses a {@link Holder} for
 * its storage: fetched one at a time for every caller in every isolate (single flight),
 * renewed by the object's alarm ahead of expiry so that no request waits for WeChat, and
 * dropped only if it is still the one that was refused. Each isolate keeps a copy of what the
 * object handed it ({@link IsolateCopies}), so that a warm isolate asks nobody, and
 * {@link withHeld} uses a copy, and on a refusal drops only that copy and asks the object once.
 *
 * Written once; a kind says only how it is fetched and whether its alarm renews it.
 */

import { errorName, logEvent, logProblem } from '../log.ts'
import { type ApiFailure, WechatApiError } from '../wechat/api.ts'

/** A credential is renewed this long before it expires, and not handed out past that point. */
export const REFRESH_AHEAD_MS = 5 * 60 * 1000

/** What a kind's fetch hands back. */
export interface Issued {
  readonly token: string
  /** When WeChat stops taking it, in milliseconds since the epoch. */
  readonly expiresAt: number
}

/** What the holder keeps: the credential, where it came from, and when it was fetched. */
export interface Held<S extends string = string> extends Issued {
  readonly source: S
  readonly fetchedAt: number
}

/** RPC answers: failures as values, so that no stack crosses into a log. */
export type HeldResult =
  /** `expiresAt`: when WeChat stops taking it (milliseconds), for a caller's own copy. */
  | { readonly ok: true; readonly token: string; readonly expiresAt: number }
  | {
      readonly ok: false
      readonly failure: ApiFailure
      readonly code: number | null
      readonly message: string
    }

/** The last fetch that failed, for the admin API: never the credential. */
export interface LastError {
  readonly failure: ApiFailure
  readonly code: number | null
  readonly at: number
}

/** What a holder shows of itself: never the credential. */
export interface HeldStatus<S extends string = string> {
  readonly held: boolean
  readonly expiresAt: number | null
  readonly source: S | null
  readonly lastError: LastError | null
}

/** One kind of credential: how it is fetched, and whether the holder's alarm renews it. */
export interface HolderKind<S extends string> {
  /** Names its log lines: `token_fetched`, `jsapi_ticket_fetched`. */
  readonly event: string
  /** A fresh one; `force` when WeChat must hand out a new one rather than the one it holds. */
  fetch(force: boolean): Promise<Issued & { readonly source: S }>
  /** Whether the alarm renews this one (a token pushed in has nothing to renew it from). */
  renews(held: Held<S>): boolean
}

const KEY = 'token'
const LAST_ERROR = 'lastError'

/**
 * A Durable Object's holding of one credential, in its storage.
 *
 * @example
 * readonly #holder = new Holder(this.ctx.storage, { event: 'jsapi_ticket', fetch, renews: () => true })
 * token() { return this.#holder.current() }
 */
export class Holder<S extends string> {
  #inflight: Promise<Held<S>> | null = null
  readonly #storage: DurableObjectStorage
  readonly #kind: HolderKind<S>

  constructor(storage: DurableObjectStorage, kind: HolderKind<S>) {
    this.#storage = storage
    this.#kind = kind
  }

  /** A fetch under way, which whoever asks meanwhile shares. */
  get inflight(): Promise<Held<S>> | null {
    return this.#inflight
  }

  /** A valid one: the one held, or one fetched now (a single fetch for all who wait). */
  async current(): Promise<HeldResult> {
    const held = await this.held()
    if (held && this.#usable(held)) return answer(held)
    return resultOf(this.refresh(false))
  }

  /**
   * The caller's copy was refused. If it is still the one held, it is dropped and a new one
   * fetched (once, whoever else asks meanwhile); if another caller renewed it already, that one
   * is the answer. `sameAgain` says what to do when WeChat hands back the refused one.
   */
  async invalidate(
    failed: string,
    sameAgain: (fresh: Held<S>) => Promise<Held<S>>,
  ): Promise<HeldResult> {
    const held = await this.held()
    if (held && held.token !== failed && this.#usable(held)) return answer(held)
    if (held?.token === failed) await this.#storage.delete(KEY)
    return resultOf(
      this.refresh(false).then((fresh) => (fresh.token === failed ? sameAgain(fresh) : fresh)),
    )
  }

  /** Fetches now, single flight: callers that find a fetch under way share it. */
  refresh(force: boolean): Promise<Held<S>> {
    this.#inflight ??= this.#fetch(force).finally(() => {
      this.#inflight = null
    })
    return this.#inflight
  }

  /** Keeps `held`, and sets the alarm that renews it ahead of expiry. */
  async keep(held: Held<S>): Promise<void> {
    await this.#storage.put(KEY, held)
    await this.#storage.delete(LAST_ERROR)
    if (this.#kind.renews(held)) {
      // Not before a minute from now: WeChat may hand back one with little time left.
      await this.#storage.setAlarm(Math.max(held.expiresAt - REFRESH_AHEAD_MS, Date.now() + 60_000))
    }
  }

  /** What is held, if anything (a record of another shape, from an older version, is none). */
  async held(): Promise<Held<S> | undefined> {
    const held = await this.#storage.get<Held<S>>(KEY)
    return typeof held?.token === 'string' ? held : undefined
  }

  async status(): Promise<HeldStatus<S>> {
    const held = await this.held()
    return {
      held: held !== undefined && held.expiresAt > Date.now(),
      expiresAt: held?.expiresAt ?? null,
      source: held?.source ?? null,
      lastError: (await this.#storage.get<LastError>(LAST_ERROR)) ?? null,
    }
  }

  /** The object's alarm: renews ahead of expiry, so that no request waits for WeChat. */
  async alarm(): Promise<void> {
    const held = await this.held()
    if (!held || !this.#kind.renews(held)) return
    try {
      await this.refresh(false)
    } catch (error) {
      logProblem(`${this.#kind.event}_refresh_failed`, { error: errorName(error) })
      await this.#storage.setAlarm(Date.now() + 60_000)
    }
  }

  /**
   * Handed out until shortly before it expires, when the alarm would have renewed it; one the
   * alarm does not renew (handed in from elsewhere) to its end.
   */
  #usable(held: Held<S>): boolean {
    const margin = this.#kind.renews(held) ? REFRESH_AHEAD_MS / 5 : 0
    return held.expiresAt - Date.now() > margin
  }

  async #fetch(force: boolean): Promise<Held<S>> {
    try {
      const issued = await this.#kind.fetch(force)
      const held: Held<S> = {
        token: issued.token,
        expiresAt: issued.expiresAt,
        source: issued.source,
        fetchedAt: Date.now(),
      }
      await this.keep(held)
      logEvent(`${this.#kind.event}_fetched`, {
        source: held.source,
        expiresInS: Math.round((held.expiresAt - Date.now()) / 1000),
      })
      return held
    } catch (error) {
      const failure = asApiError(error)
      await this.#storage.put(LAST_ERROR, {
        failure: failure.failure,
        code: failure.code,
        at: Date.now(),
      } satisfies LastError)
      logProblem(`${this.#kind.event}_fetch_failed`, {
        failure: failure.failure,
        code: failure.code,
      })
      throw failure
    }
  }
}

function answer(held: Issued): HeldResult {
  return { ok: true, token: held.token, expiresAt: held.expiresAt }
}

function asApiError(error: unknown): WechatApiError {
  return error instanceof WechatApiError
    ? error
    : new WechatApiError('busy', null, 'the fetch failed')
}

/** A failure as an RPC answer: an error thrown across RPC would lose its failure and code. */
export function failureOf(error: unknown): Extract<HeldResult, { readonly ok: false }> {
  const failure = asApiError(error)
  return { ok: false, failure: failure.failure, code: failure.code, message: failure.message }
}

/** The outcome of a fetch as an RPC answer. */
export async function resultOf(work: Promise<Issued>): Promise<HeldResult> {
  try {
    return answer(await work)
  } catch (error) {
    return failureOf(error)
  }
}

/** What a holder object answers over RPC: {@link Holder.current} and {@link Holder.invalidate}. */
export interface HolderStub {
  token(): Promise<HeldResult>
  invalidate(failed: string): Promise<HeldResult>
}

/**
 * An isolate's copies of one kind's credentials, by holder name, so that a warm isolate asks
 * the holder nothing. A copy is used until the holder would renew it ({@link REFRESH_AHEAD_MS}
 * before it expires) and dropped when WeChat refuses it; isolates that find no copy at once
 * share one ask.
 */
export class IsolateCopies {
  readonly #copies = new Map<string, { readonly token: string; readonly expiresAt: number }>()
  readonly #asking = new Map<string, Promise<string>>()
  /** False: every use asks the holder (concurrent asks still share one), no copy is kept. */
  readonly #keeps: boolean

  constructor(options: { readonly keep?: boolean } = {}) {
    this.#keeps = options.keep ?? true
  }

  /** The copy for `name`, if one is still good. */
  get(name: string): string | null {
    if (!this.#keeps) return null
    const copy = this.#copies.get(name)
    return copy && Date.now() < copy.expiresAt - REFRESH_AHEAD_MS ? copy.token : null
  }

  /** Asks the holder for `name`, once for every caller that waits meanwhile. */
  ask(name: string, ask: () => Promise<HeldResult>): Promise<string> {
    let pending = this.#asking.get(name)
    if (!pending) {
      pending = ask()
        .then((result) => this.keep(name, result))
        .finally(() => this.#asking.delete(name))
      this.#asking.set(name, pending)
    }
    return pending
  }

  /** The holder's answer: its credential, kept for this isolate, or its failure thrown. */
  keep(name: string, result: HeldResult): string {
    if (!result.ok) throw new WechatApiError(result.failure, result.code, result.message)
    if (this.#keeps) this.#copies.set(name, { token: result.token, expiresAt: result.expiresAt })
    return result.token
  }

  /** Drops the copy of `name` if it is still `token` (another caller may have a newer one). */
  drop(name: string, token: string): void {
    if (this.#copies.get(name)?.token === token) this.#copies.delete(name)
  }
}

/**
 * Uses the credential `name` held by `holder`: this isolate's copy, or the holder's. When
 * `refused` says WeChat refused it, only that copy is dropped, the holder renews it once for
 * everyone, and the call is made once more with the new one.
 *
 * @example
 * await withHeld(accessTokens, appId, () => env.ACCESS_TOKENS.getByName(appId), send, isTokenRefusal)
 */
export async function withHeld<T>(
  copies: IsolateCopies,
  name: string,
  holder: () => HolderStub,
  use: (token: string) => Promise<T>,
  refused: (error: unknown) => boolean,
): Promise<T> {
  // A stub only when the holder is asked: a warm isolate's calls never ask it.
  const token = copies.get(name) ?? (await copies.ask(name, () => holder().token()))
  try {
    return await use(token)
  } catch (error) {
    if (!refused(error)) throw error
    copies.drop(name, token)
    return use(copies.keep(name, await holder().invalidate(token)))
  }
}

/** WeChat refused the access token as invalid or expired (40001, 40014, 42001). */
export function isTokenRefusal(error: unknown): boolean {
  return error instanceof WechatApiError && error.failure === 'token_invalid'
}
