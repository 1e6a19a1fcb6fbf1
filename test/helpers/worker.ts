/**
 * Calls the Worker's fetch with an env of the test's choosing: the real bindings, with vars
 * overridden or bindings wrapped, and a context whose waitUntil work the test can await.
 */

import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import type { Router } from '../../src/bot/router.ts'
import type { SessionSchema } from '../../src/bot/session.ts'
import { debugTools } from '../../src/debug/tools.ts'
import type { Env } from '../../src/env.ts'
import { createApp } from '../../src/http/app.ts'
import { bot as testBot } from '../fixtures/bot.ts'

/** The response, and a promise for the work the Worker left running after it (waitUntil). */
export async function fetchLeavingWork<S extends SessionSchema<S>>(
  request: Request,
  overrides: Partial<Env> = {},
  bot?: Router<Env, S>,
): Promise<{ response: Response; leftWork: Promise<void> }> {
  const ctx = createExecutionContext()
  // As the tests' entry builds it (test/fixtures/worker.ts): the debugging tools answer with
  // DEBUG_CONSOLE=true, and the bot is the framework's test bot unless the test brings one.
  const app = bot ? createApp(bot, { debugTools }) : createApp(testBot, { debugTools })
  const response = await app.fetch(request, { ...env, ...overrides }, ctx)
  return { response, leftWork: waitOnExecutionContext(ctx) }
}

export async function fetchWith<S extends SessionSchema<S>>(
  request: Request,
  overrides: Partial<Env> = {},
  bot?: Router<Env, S>,
): Promise<Response> {
  const { response, leftWork } = await fetchLeavingWork(request, overrides, bot)
  await leftWork
  return response
}
