/**
 * Which bot serves which account: one bot may serve them all, and a deployment may give some
 * accounts bots of their own. The request path and the later queue's consumer both ask here.
 */

import type { Env } from '../env.ts'
import type { Bot } from './router.ts'

/** Anything that runs as a bot: every Router (`router.bot`). */
export interface BotSource {
  readonly bot: Bot<Env>
}

/** The bot an account runs. */
export type Bots = (account: string) => Bot<Env>

/**
 * Every bot checked at start-up (a declared menu whose keyed button has no handler is refused),
 * then looked up by account.
 *
 * @example
 * const bots = botsOf(bot, { shop: shopBot })
 * bots('shop').route(push, context)
 */
export function botsOf(main: BotSource, accounts: Readonly<Record<string, BotSource>> = {}): Bots {
  const own = new Map(Object.entries(accounts).map(([id, source]) => [id, source.bot]))
  for (const bot of [main.bot, ...own.values()]) bot.checkMenu()
  return (account) => own.get(account) ?? main.bot
}
