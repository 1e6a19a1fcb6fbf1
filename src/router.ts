/**
 * The router a bot is written with: handlers by push kind, by menu key, by QR scene and by text
 * pattern, with a fallback. A handler returns a reply, or nothing for `success`.
 */

import {
  isKeyedMenuEvent,
  type KeyedMenuEvent,
  type Push,
  type PushKind,
  type PushOf,
  type ScanEvent,
  type SubscribeEvent,
  type TextMessage,
} from './wechat/push.ts'
import type { Reply } from './wechat/reply.ts'

/** What a handler gets besides its push: the Worker's env and the reply budget's signal. */
export interface HandlerContext<Env = unknown> {
  readonly env: Env
  /** Aborted when the reply budget runs out and `success` has been sent instead. */
  readonly signal: AbortSignal
}

// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing is a handler for `success`
export type HandlerResult = Reply | undefined | null | void
export type Handler<P extends Push = Push, Env = unknown> = (
  push: P,
  context: HandlerContext<Env>,
) => HandlerResult | Promise<HandlerResult>

/** Pushes that carry a QR scene: a follow through a QR code, or a scan by a follower. */
export type ScenePush = (SubscribeEvent & { scene: string }) | ScanEvent

type Pattern = string | RegExp

interface Route<P extends Push, Env> {
  readonly matches: (push: P) => boolean
  readonly handler: Handler<P, Env>
}

function matchesPattern(pattern: Pattern, value: string): boolean {
  return typeof pattern === 'string' ? pattern === value : pattern.test(value)
}

function hasScene(push: Push): push is ScenePush {
  return push.kind === 'scan' || (push.kind === 'subscribe' && push.scene !== null)
}

/**
 * Routes each push to the most specific handler: a menu key, then a QR scene, then a text
 * pattern, then a handler for the push's kind, then the fallback. Within one kind of route the
 * first registered wins.
 *
 * @example
 * const bot = new Router()
 *   .menu('V1001_TODAY_MUSIC', () => reply.text('Today’s pick…'))
 *   .scene('spring-campaign', (push) => reply.text(`Thanks for scanning, ${push.fromUserName}`))
 *   .text(/^help$/i, () => reply.text('Send anything: I echo it.'))
 *   .on('text', (push) => reply.text(push.content))
 *   .fallback(() => undefined)
 */
export class Router<Env = unknown> {
  readonly #menus: Route<KeyedMenuEvent, Env>[] = []
  readonly #scenes: Route<ScenePush, Env>[] = []
  readonly #texts: Route<TextMessage, Env>[] = []
  readonly #kinds = new Map<PushKind, Handler<Push, Env>>()
  #fallback: Handler<Push, Env> | undefined

  /** Handles every push of one kind, unless a more specific route matches. */
  on<K extends PushKind>(kind: K, handler: Handler<PushOf<K>, Env>): this {
    if (!this.#kinds.has(kind)) this.#kinds.set(kind, handler as Handler<Push, Env>)
    return this
  }

  /** Handles menu events (CLICK, scan code, photo, location select) whose key matches. */
  menu(key: Pattern, handler: Handler<KeyedMenuEvent, Env>): this {
    this.#menus.push({ matches: (push) => matchesPattern(key, push.key), handler })
    return this
  }

  /** Handles QR follows and scans whose scene (without `qrscene_`) matches. */
  scene(scene: Pattern, handler: Handler<ScenePush, Env>): this {
    this.#scenes.push({ matches: (push) => matchesPattern(scene, push.scene), handler })
    return this
  }

  /** Handles text messages whose content equals a string or matches a RegExp. */
  text(pattern: Pattern, handler: Handler<TextMessage, Env>): this {
    this.#texts.push({ matches: (push) => matchesPattern(pattern, push.content), handler })
    return this
  }

  /** Handles whatever no other route took. Without one, such pushes get `success`. */
  fallback(handler: Handler<Push, Env>): this {
    this.#fallback ??= handler
    return this
  }

  /** The handler this push goes to, or undefined when none does. */
  resolve(push: Push): Handler<Push, Env> | undefined {
    const specific =
      (isKeyedMenuEvent(push) && this.#menus.find((route) => route.matches(push))?.handler) ||
      (hasScene(push) && this.#scenes.find((route) => route.matches(push))?.handler) ||
      (push.kind === 'text' && this.#texts.find((route) => route.matches(push))?.handler) ||
      undefined
    return (
      (specific as Handler<Push, Env> | undefined) ?? this.#kinds.get(push.kind) ?? this.#fallback
    )
  }

  /** Runs the handler this push goes to; nothing → no reply. */
  async route(push: Push, context: HandlerContext<Env>): Promise<Reply | undefined> {
    const handler = this.resolve(push)
    return (await handler?.(push, context)) ?? undefined
  }
}
