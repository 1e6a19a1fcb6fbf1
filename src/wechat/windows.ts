/**
 * When WeChat lets an account send a user customer-service messages: each interaction opens a
 * window with a quota. Since June 2023 (the current rule, as the customer-service page states
 * it: https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Messages.html):
 *
 * | the user…                                             | messages | within |
 * | ----------------------------------------------------- | -------- | ------ |
 * | sends a message                                       | 5        | 48 h   |
 * | clicks a menu (CLICK, scancode_push, scancode_waitmsg) | 3        | 1 min  |
 * | follows                                               | 3        | 1 min  |
 * | scans a QR code                                       | 3        | 1 min  |
 * | taps a menu message (a text push with `bizmsgmenuid`) | 3        | 1 min  |
 *
 * A new interaction of the same kind opens its window afresh. Windows do not add up: WeChat
 * does not say they do, so every send counts against every open window, and the allowance at
 * any moment is the largest single window's. Pure: the state is the caller's.
 */

import type { Push, PushKind } from './push.ts'

export type WindowKind = 'message' | 'event'

export interface WindowRule {
  readonly quota: number
  readonly lengthMs: number
}

export const WINDOW_RULES: { readonly [K in WindowKind]: WindowRule } = {
  message: { quota: 5, lengthMs: 48 * 60 * 60 * 1000 },
  event: { quota: 3, lengthMs: 60 * 1000 },
}

/** An open window: when the interaction happened (ms) and how many messages it has carried. */
export interface Grant {
  readonly openedAt: number
  readonly used: number
}

const OPENS: Partial<Record<PushKind, WindowKind>> = {
  text: 'message',
  image: 'message',
  voice: 'message',
  video: 'message',
  shortvideo: 'message',
  location: 'message',
  link: 'message',
  click: 'event',
  scancode_push: 'event',
  scancode_waitmsg: 'event',
  subscribe: 'event',
  scan: 'event',
}

/** The window a push opens, if any: a tap on a menu message is a click, not a message. */
export function windowOpenedBy(push: Push): WindowKind | null {
  if (push.kind === 'text' && push.menuId !== null) return 'event'
  return OPENS[push.kind] ?? null
}

/**
 * An open window with room for `count` more messages at `now`, or null. Every send counts
 * against every open window, so sends are allowed while one single window has room for them:
 * never the sum of two.
 */
export function usableWindow(
  grants: Partial<Record<WindowKind, Grant>>,
  now: number,
  count = 1,
): WindowKind | null {
  for (const kind of WINDOW_KINDS) {
    if (roomIn(kind, grants[kind], now) >= count) return kind
  }
  return null
}

/**
 * How many more messages can go out at `now`: the room of the single open window with the most
 * (windows do not add up), 0 when none is open.
 *
 * @example
 * windowRoom({ message: { openedAt: now, used: 2 } }, now) // 3
 */
export function windowRoom(grants: Partial<Record<WindowKind, Grant>>, now: number): number {
  return Math.max(...WINDOW_KINDS.map((kind) => roomIn(kind, grants[kind], now)))
}

const WINDOW_KINDS = ['message', 'event'] as const

/** The messages one window still carries at `now`: 0 when it is not open (or never was). */
function roomIn(kind: WindowKind, grant: Grant | undefined, now: number): number {
  const rule = WINDOW_RULES[kind]
  if (!grant || now >= grant.openedAt + rule.lengthMs) return 0
  return Math.max(0, rule.quota - grant.used)
}
