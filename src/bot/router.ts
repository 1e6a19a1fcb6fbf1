/**
 * The router a bot is written with: middleware around every push, then handlers by menu key, QR
 * scene, text pattern, predicate and push kind, with a fallback. A handler returns a reply, or
 * nothing for `success`, or passes the push on to the next matching route.
 */

import type { Notifier } from '../talk/notify.ts'
import type { WechatClient } from '../talk/talk.ts'
import type { UserSnapshot } from '../user/state.ts'
import type { WebLink } from '../web/link.ts'
import type { CustomMessage } from '../wechat/api.ts'
import { type Menu, type MenuKeys, menuKeys } from '../wechat/menu.ts'
import {
  isKeyedMenuEvent,
  type KeyedMenuEvent,
  type Push,
  type PushKind,
  type PushOf,
  type ScanEvent,
  type SubscribeEvent,
  type TextMessage,
} from '../wechat/push.ts'
import type { Reply } from '../wechat/reply.ts'
import { defineTemplates, type Templates } from '../wechat/templates.ts'
import { type Notify, notifyWith } from './notify.ts'
import type { AnySession, Session, SessionSchema } from './session.ts'

/** Values a middleware may add to a push's log line: never message content. */
export type LogFields = Record<string, string | number | boolean>

/** What a handler gets besides its push. */
/** What middleware hands to later middleware and handlers, as Hono's `c.var`. */
export type StateVars = Record<string, unknown>

export interface HandlerContext<
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  V extends StateVars = StateVars,
  T extends Templates = Templates,
> {
  readonly env: E
  /** Aborted when the reply budget runs out and `success` has been sent instead. */
  readonly signal: AbortSignal
  /**
   * The user's session: small JSON values by key, kept in their Durable Object. A push's
   * writes take effect once, with the push, and the next push from the user reads them.
   */
  readonly session: Session<S>
  /** The user's stored profile (what the admin API shows), read on demand; null if none. */
  profile(): Promise<UserSnapshot | null>
  /** Passes the push on to the next route that matches it; resolves with that route's reply. */
  next(): Promise<Reply | undefined>
  /** Added to this push's log line. */
  readonly log: LogFields
  /**
   * The account's WeChat API (QR codes, the menu, user info, any endpoint through `call`),
   * with the token handled; null when talking back is off (no AppID).
   */
  readonly wechat: WechatClient | null
  /**
   * The link that opens a page of the website (one of WEB_ORIGINS) with the user signed in
   * through WeChat's web authorization: for a reply's article, a message's link or a menu
   * button's URL. Throws a TypeError when web authorization is off or the page is elsewhere.
   *
   * @example
   * reply.news([{ title: 'Your orders', url: webLink('https://shop.example.com/orders') }])
   */
  readonly webLink: WebLink
  /**
   * Whatever middleware hands to later middleware and handlers, typed by the bot's third
   * parameter: `new Router<Env, Session, { user: Member }>()`. Fresh for each push.
   */
  readonly state: Partial<V>
  /** The account this push came to: one bot may serve several. */
  readonly account: AccountRef
  /**
   * Sends a notification of a template the bot declares (`withTemplates`) to any user, once
   * per key: a subscription notification within the user's consent, or a template message.
   * Not bound by the reply windows.
   */
  readonly notify: Notify<T>
  /**
   * The push's dedup key: the same for every attempt of one push (WeChat's retries, a Queue's
   * redelivery, a replayed dead letter), another for every other push, and never content or an
   * OpenID. Work keyed by it is done once per push.
   */
  readonly key: string
  /**
   * Whether the push's body is authenticated: an encrypted push's is (`msg_signature` signs
   * it); a plaintext push's is not, and anyone holding one signed URL can post any body for any
   * OpenID. A handler that would act on what the user stored (their memory, their consent)
   * does so only when this holds (`bodyAuthenticated`, src/wechat/envelope.ts).
   */
  readonly authenticated: boolean
  /** Milliseconds left for this handler within the reply budget (what making the push durable needs is kept back). */
  msLeft(): number
  /**
   * Answers nothing on this attempt, on purpose: the push is received (without a reply, and
   * without this attempt's session writes), and the answer is held past WeChat's 5 s, so that
   * WeChat sends the push again and the handler's next run answers it. For an answer that
   * becomes ready between attempts, on an account that cannot send customer-service messages.
   */
  hold(): void
}

/** The account a push came to: its id (`env` for the one the Worker's variables configure). */
export interface AccountRef {
  readonly id: string
  /** Null when the account has no AppID configured. */
  readonly appId: string | null
}

/** What the request path supplies; the router adds `next` and `state`. */
export type RouteContext<E = unknown, S extends SessionSchema<S> = AnySession> = Omit<
  HandlerContext<E, S>,
  'next' | 'state' | 'notify'
> & {
  /** Called when the push went to a deferred route: the job named `name` runs after the answer. */
  readonly defer?: (name: string) => void
  /** The account's notifier, which the router's typed `notify` sends through. */
  readonly notifier?: Notifier
}

/**
 * A bot as the Worker runs it, whatever the shape of its session: every {@link Router} is one
 * (`router.bot`), so that one deployment can run a bot per account.
 */
export interface Bot<E = unknown> {
  route(push: Push, base: RouteContext<E, AnySession>): Promise<Reply | undefined>
  laterJob(name: string): LaterHandler<Push, E, AnySession> | undefined
  checkMenu(): void
  readonly declaredMenu: Menu | null
  /** The templates `withTemplates` declared, or null. */
  readonly declaredTemplates: Templates | null
}

/** A middleware or handler called `next()` a second time (as Hono's compose refuses it). */
export class NextCalledTwiceError extends Error {
  override readonly name = 'NextCalledTwiceError'
  constructor() {
    super('next() called multiple times')
  }
}

/** A bot that cannot run as written: two deferred routes with one name, say. Thrown at start-up. */
export class RouterDefinitionError extends Error {
  override readonly name = 'RouterDefinitionError'
}

/** What a deferred handler gets: the session, and `send` for customer-service messages. */
export interface LaterContext<
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  T extends Templates = Templates,
> {
  readonly env: E
  readonly session: Session<S>
  /**
   * Sends one customer-service message (a passive reply's builders work too). Each message is
   * sent once per push and index, whatever the Queue redelivers; past the user's window it
   * throws a `WechatApiError` (`window_closed`) without calling WeChat.
   */
  send(message: Reply | CustomMessage): Promise<void>
  profile(): Promise<UserSnapshot | null>
  readonly log: LogFields
  /** The account's WeChat API, as handlers have it; null for a push of nobody without one. */
  readonly wechat: WechatClient | null
  /** The account this job's push came to. */
  readonly account: AccountRef
  /** Sign-in links to the website's pages, as handlers have them (`HandlerContext.webLink`). */
  readonly webLink: WebLink
  /**
   * Notifications, as handlers have them (`HandlerContext.notify`): once per key whatever the
   * Queue redelivers or a dead letter's replay repeats.
   */
  readonly notify: Notify<T>
  /** The push's dedup key, as handlers have it (`HandlerContext.key`). */
  readonly key: string
  /** Whether the push's body is authenticated, as handlers have it (`HandlerContext.authenticated`). */
  readonly authenticated: boolean
  /** The name of the route whose job this is (`later(run, { name })`, or the route's own). */
  readonly job: string
}

export type LaterHandler<
  P extends Push = Push,
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  T extends Templates = Templates,
> = (push: P, context: LaterContext<E, S, T>) => void | Promise<void>

const LATER = Symbol('later')

/** What a `later()` route's `now` gets: a handler's context, and the way to leave the push to `run`. */
export type NowContext<
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  V extends StateVars = StateVars,
  T extends Templates = Templates,
> = HandlerContext<E, S, V, T> & {
  /** Leaves the push to the route's `run`, on the later queue, once this answer is sent. */
  defer(): void
  /** The route's job name, as its queued job and its dead letters carry it. */
  readonly job: string
}

/** A `later()` route's first part, on the request path: it answers now, or calls `defer()`. */
export type NowHandler<
  P extends Push = Push,
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  V extends StateVars = StateVars,
  T extends Templates = Templates,
> = (push: P, context: NowContext<E, S, V, T>) => HandlerResult | Promise<HandlerResult>

interface Deferred {
  readonly [LATER]: {
    readonly run: LaterHandler<Push, never, never>
    readonly interim: Reply | undefined
    /** The name the Queue carries; without one, the route's own (see Router). */
    readonly name: string | undefined
    /** Runs first, on the request path: it answers, or defers to `run` (see later()). */
    readonly now: NowHandler<Push, never, never> | undefined
  }
}

/**
 * Marks a route to run later: the push is answered at once (`success`, or `interim`), and `run`
 * goes to the Queue, where it may take as long as it needs and talk back with `send`.
 *
 * A queued job names its route, so that a deploy that adds or reorders routes sends it to the
 * same handler (or, when the name is gone, to the dead letters, never to another handler). The
 * name defaults to the route's: `menu:KEY`, `scene:NAME`, `text:PATTERN`, `kind:KIND`,
 * `fallback`; a `when()` route, whose predicate has no stable name, must be given one.
 *
 * With `now`, the route first runs `now` on the request path, within the reply budget: it
 * answers as any handler does, or calls `context.defer()` to leave the push to `run` (what it
 * answers then goes out at once, `interim` is not used). The job is queued once per push, as
 * for every deferred route.
 *
 * @example
 * bot.text(/^ask /, later(async (push, { send }) => {
 *   await send(reply.text(await slowAnswer(push.content)))
 * }, { interim: reply.text('Thinking…'), name: 'ask' }))
 *
 * bot.text(/^quote /, later(sendQuote, {
 *   now: (push, { defer }) => cachedQuote(push.content) ?? defer(),
 * }))
 */
export function later<
  P extends Push,
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  T extends Templates = Templates,
>(
  run: LaterHandler<P, E, S, T>,
  options: { interim?: Reply; name?: string; now?: NowHandler<P, E, S, StateVars, T> } = {},
): Handler<P, E, S, StateVars, T> {
  const { interim, name, now } = options
  const handler: Handler<P, E, S, StateVars, T> = () => interim
  return Object.assign(handler, {
    [LATER]: {
      run: run as unknown as LaterHandler<Push, never, never>,
      interim,
      name,
      now: now as unknown as NowHandler<Push, never, never> | undefined,
    },
  })
}

/** `next` that runs the rest once: a second call is an error, as in Hono's compose. */
function once(next: () => Promise<Reply | undefined>): () => Promise<Reply | undefined> {
  let called = false
  return function nextOnce() {
    if (called) return Promise.reject(new NextCalledTwiceError())
    called = true
    return next()
  }
}

function deferredOf(handler: unknown): Deferred[typeof LATER] | undefined {
  return typeof handler === 'function' && LATER in handler
    ? (handler as unknown as Deferred)[LATER]
    : undefined
}

// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing is a handler for `success`
export type HandlerResult = Reply | undefined | null | void
export type Handler<
  P extends Push = Push,
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  V extends StateVars = StateVars,
  T extends Templates = Templates,
> = (push: P, context: HandlerContext<E, S, V, T>) => HandlerResult | Promise<HandlerResult>

/**
 * Runs around every push, in the order registered (the first is outermost). `next()` runs the
 * rest and resolves with their reply. Return a reply to answer with it, `null` for no reply,
 * or nothing to keep what `next()` produced (no reply if it was not called).
 */
export type Middleware<
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  V extends StateVars = StateVars,
  T extends Templates = Templates,
> = (
  push: Push,
  context: HandlerContext<E, S, V, T>,
  next: () => Promise<Reply | undefined>,
) => HandlerResult | Promise<HandlerResult>

/** Pushes that carry a QR scene: a follow through a QR code, or a scan by a follower. */
export type ScenePush = (SubscribeEvent & { scene: string }) | ScanEvent

type Pattern = string | RegExp

interface Route<
  P extends Push,
  E,
  S extends SessionSchema<S>,
  V extends StateVars,
  T extends Templates,
> {
  readonly matches: (push: P) => boolean
  readonly handler: Handler<P, E, S, V, T>
}

function matchesPattern(pattern: Pattern, value: string): boolean {
  return typeof pattern === 'string' ? pattern === value : pattern.test(value)
}

function hasScene(push: Push): push is ScenePush {
  return push.kind === 'scan' || (push.kind === 'subscribe' && push.scene !== null)
}

/**
 * Routes each push through the middleware, then to the most specific handler: a menu key, a
 * QR scene, a text pattern, a predicate, the push's kind, the fallback. Within each, the first
 * registered wins; a handler that calls `context.next()` hands the push to the next match in
 * that same order.
 *
 * @example
 * const bot = new Router<Env, { step: number }>()
 *   .use(async (push, context, next) => {
 *     const started = Date.now()
 *     await next()
 *     context.log.botMs = Date.now() - started
 *   })
 *   .menu('V1001_TODAY_MUSIC', () => reply.text('Today’s pick…'))
 *   .scene('spring-campaign', () => reply.text('Thanks for scanning the spring poster'))
 *   .text(/^help$/i, () => reply.text('Send anything: I echo it.'))
 *   .when((push) => push.kind === 'text' && push.content.length > 500, () => reply.text('Too long'))
 *   .on('text', (push) => reply.text(push.content))
 *   .fallback(() => undefined)
 */
export class Router<
  E = unknown,
  S extends SessionSchema<S> = AnySession,
  V extends StateVars = StateVars,
  /** The menu's keys once `withMenu` declared one: `.menu(key)` takes only these. */
  K extends string = string,
  /** The templates once `withTemplates` declared them: `notify` takes only these. */
  T extends Templates = Templates,
> {
  readonly #middleware: Middleware<E, S, V, T>[] = []
  readonly #menus: Route<KeyedMenuEvent, E, S, V, T>[] = []
  /** The custom menu this bot declares, and the keys its `.menu()` routes name. */
  #declaredMenu: Menu | null = null
  #declaredTemplates: Templates | null = null
  readonly #menuPatterns: Pattern[] = []
  readonly #scenes: Route<ScenePush, E, S, V, T>[] = []
  readonly #texts: Route<TextMessage, E, S, V, T>[] = []
  readonly #predicates: Route<Push, E, S, V, T>[] = []
  readonly #kinds = new Map<PushKind, Handler<Push, E, S, V, T>[]>()
  #fallback: Handler<Push, E, S, V, T> | undefined
  /** Deferred handlers by the name their jobs carry on the Queue. */
  readonly #laterRuns = new Map<string, LaterHandler<Push, never, never>>()
  /** The name of each deferred route's handler, as registered. */
  readonly #laterNames = new Map<unknown, string>()

  /**
   * Names a deferred handler by its `later()` name or the route's own; two routes with one
   * name are refused here, when the bot is built.
   */
  #note<H>(handler: H, routeName: string | null): H {
    const deferred = deferredOf(handler)
    if (!deferred) return handler
    const name = deferred.name ?? routeName
    if (name === null) {
      throw new RouterDefinitionError(
        'a later() route under when() needs a name: later(run, { name })',
      )
    }
    if (this.#laterRuns.has(name)) {
      throw new RouterDefinitionError(`two later() routes are named ${name}: give one another name`)
    }
    this.#laterRuns.set(name, deferred.run)
    this.#laterNames.set(handler, name)
    return handler
  }

  /**
   * This bot as the Worker runs it, beside other accounts' bots: the session's shape types the
   * handlers, not what the Worker hands them (every push gets the same kind of session), so it
   * can be forgotten here.
   *
   * @example
   * createWorker(bot, { accounts: { shop: shopBot } })
   */
  get bot(): Bot<E> {
    return this as unknown as Bot<E>
  }

  /** The deferred handler a queued job names, or undefined when no route has that name now. */
  laterJob(name: string): LaterHandler<Push, E, S, T> | undefined {
    return this.#laterRuns.get(name) as LaterHandler<Push, E, S, T> | undefined
  }

  /** Runs `middleware` around every push (blocklists, admin-only commands, metrics). */
  use(middleware: Middleware<E, S, V, T>): this {
    this.#middleware.push(middleware)
    return this
  }

  /** Handles every push of one kind, unless a more specific route matches. */
  on<P extends PushKind>(kind: P, handler: Handler<PushOf<P>, E, S, V, T>): this {
    const handlers = this.#kinds.get(kind) ?? []
    handlers.push(this.#note(handler, `kind:${kind}`) as Handler<Push, E, S, V, T>)
    this.#kinds.set(kind, handlers)
    return this
  }

  /**
   * Declares the account's custom menu (`defineMenu`): `POST /admin/menu` publishes it, the
   * console draws it, `.menu(key)` takes only its keys (a compile error otherwise), and a keyed
   * button without a handler is refused at start-up ({@link Router.checkMenu}).
   *
   * @example
   * new Router<Env>().withMenu(menu).menu('TODAY', () => reply.text('Today…'))
   */
  withMenu<const M extends Menu>(menu: M): Router<E, S, V, MenuKeys<M>, T> {
    this.#declaredMenu = menu
    return this as unknown as Router<E, S, V, MenuKeys<M>, T>
  }

  /** The custom menu `withMenu` declared, or null. */
  get declaredMenu(): Menu | null {
    return this.#declaredMenu
  }

  /**
   * Declares the account's notification templates (`defineTemplates`): handlers' and deferred
   * handlers' `notify` takes only their names, each with exactly its keywords (a compile error
   * otherwise); the admin API's notifications take them by name too; a template WeChat would
   * refuse stops the bot here, at start-up.
   *
   * @example
   * new Router<Env>().withTemplates(templates).on('text', async (push, { notify }) => {
   *   await notify(push.fromUserName, { template: 'shipped', key: 'order-42', data })
   * })
   */
  withTemplates<const D extends Templates>(templates: D): Router<E, S, V, K, D> {
    this.#declaredTemplates = defineTemplates(templates)
    return this as unknown as Router<E, S, V, K, D>
  }

  /** The templates `withTemplates` declared, or null. */
  get declaredTemplates(): Templates | null {
    return this.#declaredTemplates
  }

  /**
   * Refuses a declared menu whose keyed button no `.menu()` route handles: its taps would fall
   * through to a generic handler. Called by `createApp`, at start-up.
   */
  checkMenu(): void {
    if (this.#declaredMenu === null) return
    const unhandled = menuKeys(this.#declaredMenu).filter(
      (key) => !this.#menuPatterns.some((pattern) => matchesPattern(pattern, key)),
    )
    if (unhandled.length > 0) {
      throw new RouterDefinitionError(
        `the menu's keys ${unhandled.join(', ')} have no .menu() handler`,
      )
    }
  }

  /** Handles menu events (CLICK, scan code, photo, location select) whose key matches. */
  menu(key: K | RegExp, handler: Handler<KeyedMenuEvent, E, S, V, T>): this {
    this.#menuPatterns.push(key)
    this.#menus.push({
      matches: (push) => matchesPattern(key, push.key),
      handler: this.#note(handler, `menu:${key}`),
    })
    return this
  }

  /** Handles QR follows and scans whose scene (without `qrscene_`) matches. */
  scene(scene: Pattern, handler: Handler<ScenePush, E, S, V, T>): this {
    this.#scenes.push({
      matches: (push) => matchesPattern(scene, push.scene),
      handler: this.#note(handler, `scene:${scene}`),
    })
    return this
  }

  /** Handles text messages whose content equals a string or matches a RegExp. */
  text(pattern: Pattern, handler: Handler<TextMessage, E, S, V, T>): this {
    this.#texts.push({
      matches: (push) => matchesPattern(pattern, push.content),
      handler: this.#note(handler, `text:${pattern}`),
    })
    return this
  }

  /** Handles any push for which `predicate` holds: after text patterns, before kinds. */
  when<P extends Push>(predicate: (push: Push) => push is P, handler: Handler<P, E, S, V, T>): this
  when(predicate: (push: Push) => boolean, handler: Handler<Push, E, S, V, T>): this
  when(predicate: (push: Push) => boolean, handler: Handler<Push, E, S, V, T>): this {
    this.#predicates.push({ matches: predicate, handler: this.#note(handler, null) })
    return this
  }

  /** Handles whatever no other route took. Without one, such pushes get `success`. */
  fallback(handler: Handler<Push, E, S, V, T>): this {
    this.#fallback ??= this.#note(handler, 'fallback')
    return this
  }

  /** Every handler that matches this push, in the order they are tried. */
  resolve(push: Push): Handler<Push, E, S, V, T>[] {
    const matching = <P extends Push>(routes: Route<P, E, S, V, T>[], typed: P) =>
      routes
        .filter((route) => route.matches(typed))
        .map((route) => route.handler as Handler<Push, E, S, V, T>)
    return [
      ...(isKeyedMenuEvent(push) ? matching(this.#menus, push) : []),
      ...(hasScene(push) ? matching(this.#scenes, push) : []),
      ...(push.kind === 'text' ? matching(this.#texts, push) : []),
      ...matching(this.#predicates, push),
      ...(this.#kinds.get(push.kind) ?? []),
      ...(this.#fallback ? [this.#fallback] : []),
    ]
  }

  /** Runs the middleware and the handlers this push goes to; nothing → no reply. */
  async route(push: Push, base: RouteContext<E, S>): Promise<Reply | undefined> {
    const handlers = this.resolve(push)
    const state: Partial<V> = {}
    const { notifier, ...rest } = base
    const notify = notifyWith(this.#declaredTemplates, notifier ?? null) as Notify<T>
    const contextWith = (next: () => Promise<Reply | undefined>): HandlerContext<E, S, V, T> => ({
      ...rest,
      state,
      next,
      notify,
    })
    const runHandler = async (index: number): Promise<Reply | undefined> => {
      const handler = handlers[index]
      if (!handler) return undefined
      const deferred = deferredOf(handler)
      if (deferred) {
        const name = this.#laterNames.get(handler)
        const defer = () => {
          if (name !== undefined) base.defer?.(name)
        }
        if (deferred.now) {
          const now = deferred.now as unknown as NowHandler<Push, E, S, V, T>
          const context = contextWith(once(() => runHandler(index + 1)))
          return (await now(push, { ...context, defer, job: name ?? '' })) ?? undefined
        }
        defer()
        return deferred.interim
      }
      return (await handler(push, contextWith(once(() => runHandler(index + 1))))) ?? undefined
    }
    const runMiddleware = async (index: number): Promise<Reply | undefined> => {
      const middleware = this.#middleware[index]
      if (!middleware) return runHandler(0)
      let produced: Reply | undefined
      const next = once(async () => {
        produced = await runMiddleware(index + 1)
        return produced
      })
      const result = await middleware(push, contextWith(next), next)
      if (result === null) return undefined
      return result ?? produced
    }
    return runMiddleware(0)
  }
}
