/**
 * A handler's per-user session: small JSON values by key, kept in the user's `UserState`.
 *
 * Exactly once: reads are loaded from the Durable Object on first use (a handler that never
 * touches the session costs no extra call); writes are buffered and handed over after the
 * handler, in the one call that receives the push, with its dedup key and its reply. A second
 * run of the same push (a retry, or a concurrent attempt) is told so by that call, which answers
 * with the first reply and drops the second run's writes: a counter counts each push once.
 */

import { settleWithin } from '../deadline.ts'
import { MAX_SESSION_BYTES, type SessionWrites, sessionBytes } from '../user/session-rows.ts'
import type { UserSnapshot, UserState } from '../user/state.ts'

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/**
 * The shape a bot declares for its session, key → JSON value: `interface MySession { step:
 * number }` satisfies `SessionSchema<MySession>`. Without one, any key holds any JSON.
 */
export type SessionSchema<S = Record<string, Json>> = { [K in keyof S]: Json }

/** The session of a bot that declares no shape. */
export type AnySession = Record<string, Json>

export { MAX_SESSION_BYTES } from '../user/session-rows.ts'

const KEY = /^[\w.:-]{1,64}$/

/**
 * Entries the framework keeps in a user's session for itself, beside the bot's: a `~` is in no
 * key a bot can write, and `keys()` never lists them. They go and come back with the push, as
 * the bot's writes do, and are deleted with the user.
 */
export type OwnKey = '~login'

/** The framework's own entries of a push's session (see {@link OwnKey}). */
export interface OwnEntries {
  getOwn(key: OwnKey): Promise<Json | undefined>
  setOwn(key: OwnKey, value: Json): Promise<void>
  deleteOwn(key: OwnKey): Promise<void>
}
/**
 * A session read gives up this long before the reply budget ends, so that a handler that sees
 * it fail still has time to answer, and the push time to be made durable.
 */
export const SESSION_READ_RESERVE_MS = 1_500

/**
 * @example
 * const step = (await context.session.get('step')) ?? 0
 * await context.session.set('step', step + 1)
 */
export interface Session<S extends SessionSchema<S> = AnySession> {
  get<K extends keyof S & string>(key: K): Promise<S[K] | undefined>
  set<K extends keyof S & string>(key: K, value: S[K]): Promise<void>
  delete<K extends keyof S & string>(key: K): Promise<void>
  keys(): Promise<(keyof S & string)[]>
}

/** The user's Durable Object, as a push's session reads it. */
export interface SessionStore {
  /** The session's values. A retry reads them too; its writes are dropped when it is received. */
  read(): Promise<Readonly<Record<string, string>>>
  profile(): Promise<UserSnapshot | null>
}

/** The session was not reached within the reply budget, or this push has no user. */
export class SessionUnavailableError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SessionUnavailableError'
  }
}

/** A write would take the user's session past {@link MAX_SESSION_BYTES}, or a key is malformed. */
export class SessionLimitError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SessionLimitError'
  }
}

/**
 * The session of one push on the request path.
 *
 * @example
 * const session = new PushSession(store, () => deadline - Date.now())
 */
export class PushSession<S extends SessionSchema<S> = AnySession>
  implements Session<S>, OwnEntries
{
  readonly #load: () => Promise<Map<string, string>>
  #values: Promise<Map<string, string>> | undefined
  readonly #writes = new Map<string, string | null>()

  /**
   * @param store the user's object, or null for a push that belongs to no user (then every
   *   read throws a {@link SessionUnavailableError}).
   * @param msLeft what is left of the reply budget: a read gives up before it runs out.
   */
  constructor(store: SessionStore | null, msLeft: () => number)
  constructor(load: () => Promise<Map<string, string>>)
  constructor(
    source: SessionStore | null | (() => Promise<Map<string, string>>),
    msLeft: () => number = () => 0,
  ) {
    this.#load =
      typeof source === 'function'
        ? source
        : async function loadForPush() {
            if (!source) throw new SessionUnavailableError('this push belongs to no user')
            const values = await withinBudget(source.read(), msLeft() - SESSION_READ_RESERVE_MS)
            return new Map(Object.entries(values))
          }
  }

  /** The writes to hand over with the push (or the job), null for a deleted key. */
  get writes(): SessionWrites {
    return Object.fromEntries(this.#writes)
  }

  async get<K extends keyof S & string>(key: K): Promise<S[K] | undefined> {
    const value = (await this.#open()).get(key)
    return value === undefined ? undefined : (JSON.parse(value) as S[K])
  }

  async set<K extends keyof S & string>(key: K, value: S[K]): Promise<void> {
    if (!KEY.test(key))
      throw new SessionLimitError('a session key is 1–64 letters, digits, _ . : -')
    await this.#write(key, value)
  }

  /** The framework's own entry ({@link OwnKey}): scan to log in's pending login, say. */
  async getOwn(key: OwnKey): Promise<Json | undefined> {
    const value = (await this.#open()).get(key)
    return value === undefined ? undefined : (JSON.parse(value) as Json)
  }

  async setOwn(key: OwnKey, value: Json): Promise<void> {
    await this.#write(key, value)
  }

  async deleteOwn(key: OwnKey): Promise<void> {
    await this.#remove(key)
  }

  async #write(key: string, value: Json): Promise<void> {
    const json = JSON.stringify(value)
    if (json === undefined) throw new SessionLimitError('a session value must be JSON')
    const values = await this.#open()
    const next = new Map(values).set(key, json)
    if (sessionBytes(next) > MAX_SESSION_BYTES) {
      throw new SessionLimitError(`the session would exceed ${MAX_SESSION_BYTES} bytes`)
    }
    values.set(key, json)
    this.#writes.set(key, json)
  }

  async delete<K extends keyof S & string>(key: K): Promise<void> {
    await this.#remove(key)
  }

  async #remove(key: string): Promise<void> {
    const values = await this.#open()
    values.delete(key)
    this.#writes.set(key, null)
  }

  async keys(): Promise<(keyof S & string)[]> {
    const keys = [...(await this.#open()).keys()].filter((key) => !key.startsWith('~'))
    return keys as (keyof S & string)[]
  }

  #open(): Promise<Map<string, string>> {
    this.#values ??= this.#load()
    return this.#values
  }
}

/**
 * The session of a deferred job: read from the user's object on first use (nothing to replay:
 * the job's claim keeps it to one run), its writes handed over when the job finishes.
 *
 * @example
 * const session = jobSession(() => user.readSession(), 30_000)
 */
export function jobSession<S extends SessionSchema<S> = AnySession>(
  read: () => Promise<Readonly<Record<string, string>>>,
  ms: number,
): PushSession<S> {
  return new PushSession<S>(async () => new Map(Object.entries(await withinBudget(read(), ms))))
}

/** Rejects with a {@link SessionUnavailableError} once `ms` have passed, or if `work` fails. */
async function withinBudget<T>(work: Promise<T>, ms: number): Promise<T> {
  const late: unique symbol = Symbol('late')
  const settled = await settleWithin<T, typeof late>(
    work.catch(() => {
      throw new SessionUnavailableError('the session could not be reached')
    }),
    ms,
    () => late,
  )
  if (settled === late) throw new SessionUnavailableError('the session was not reached in time')
  return settled
}

/** The session store of one user: thin RPC to their Durable Object. */
export function userSessionStore(user: DurableObjectStub<UserState>): SessionStore {
  return {
    read: () => user.readSession(),
    profile: () => user.snapshot(),
  }
}
