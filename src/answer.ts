/**
 * Answering one verified push: dedup, route within the reply budget, enqueue (durable before
 * the answer), remember the reply, seal it in safe mode, and log one line for it.
 */

import type { Config } from './config.ts'
import { settleWithin } from './deadline.ts'
import type { ReplyCache } from './dedup.ts'
import { errorName, logEvent, logProblem } from './log.ts'
import type { QueuedPush } from './queued-push.ts'
import type { Router } from './router.ts'
import { dedupKey } from './wechat/dedup-key.ts'
import { type OpenedPush, sealReply } from './wechat/envelope.ts'
import { WechatError } from './wechat/errors.ts'
import { type Push, stateOwnerOf } from './wechat/push.ts'
import { type Reply, renderReply } from './wechat/reply.ts'

/** The body that tells WeChat "no reply", and not to retry. */
export const NO_REPLY = 'success'

export interface AnswerDeps<Env> {
  readonly config: Config
  readonly bot: Router<Env>
  readonly env: Env
  readonly cache: ReplyCache
  readonly enqueue: (queued: QueuedPush) => Promise<unknown>
  readonly waitUntil: (work: Promise<unknown>) => void
  /** Milliseconds since the epoch when the request arrived: the budget counts from it. */
  readonly startedAt: number
}

type RouteOutcome = 'replied' | 'no_reply' | 'over_budget' | 'handler_error'

/**
 * Answers one push: the body to send, with status 200. Throws a 503 {@link WechatError} when the
 * push could not be made durable, so that WeChat retries it.
 */
export async function answerPush<Env>(opened: OpenedPush, deps: AnswerDeps<Env>): Promise<string> {
  const { push, mode } = opened
  const key = await dedupKey(push)
  const remembered = await deps.cache.lookup(key, mode)
  let body: string
  let outcome: RouteOutcome | 'retry'
  if (remembered !== null) {
    body = remembered
    outcome = 'retry'
  } else {
    const budgetMs = deps.config.replyBudgetMs - (Date.now() - deps.startedAt)
    const queued: QueuedPush = { key, push, receivedAt: deps.startedAt }
    const [durable, routed] = await Promise.all([
      // A push that touches nobody's state (a system push) needs no work after the answer.
      stateOwnerOf(push) === null
        ? ('not_needed' as const)
        : enqueueWithin(deps.enqueue(queued), budgetMs),
      routeWithin(deps.bot, push, deps.env, budgetMs),
    ])
    if (durable !== 'queued' && durable !== 'not_needed') {
      logProblem('push_not_queued', { kind: push.kind, key, reason: durable })
      throw new WechatError(503, 'push could not be queued; retry later')
    }
    outcome = routed.outcome
    body = routed.reply ? renderReply(routed.reply, addressOf(push)) : NO_REPLY
    deps.waitUntil(deps.cache.remember(key, mode, body))
  }
  logEvent('push', {
    kind: push.kind,
    key,
    mode,
    outcome,
    reply: replyKindOf(body),
    ms: Date.now() - deps.startedAt,
  })
  if (opened.mode === 'encrypted' && body !== NO_REPLY) {
    return sealReply(body, deps.config.account.token, opened.aes, Date.now() / 1000)
  }
  return body
}

function addressOf(push: Push) {
  return {
    toUser: push.fromUserName,
    fromUser: push.toUserName,
    createTime: Math.floor(Date.now() / 1000),
  }
}

async function enqueueWithin(
  send: Promise<unknown>,
  budgetMs: number,
): Promise<'queued' | `failed: ${string}` | 'timed out'> {
  const sent = send.then(
    () => 'queued' as const,
    (error: unknown) => `failed: ${errorName(error)}` as const,
  )
  return settleWithin(sent, budgetMs, () => 'timed out' as const)
}

async function routeWithin<Env>(
  bot: Router<Env>,
  push: Push,
  env: Env,
  budgetMs: number,
): Promise<{ reply?: Reply; outcome: RouteOutcome }> {
  const budget = new AbortController()
  const routed = bot.route(push, { env, signal: budget.signal }).then(
    (reply) => (reply ? { reply, outcome: 'replied' as const } : { outcome: 'no_reply' as const }),
    (error: unknown) => {
      logProblem('handler_error', { kind: push.kind, error: errorName(error) })
      return { outcome: 'handler_error' as const }
    },
  )
  return settleWithin(routed, budgetMs, () => {
    budget.abort()
    return { outcome: 'over_budget' as const }
  })
}

/** The reply's MsgType for the log line, read off the rendered XML. */
function replyKindOf(body: string): string {
  if (body === NO_REPLY) return NO_REPLY
  return /<MsgType><!\[CDATA\[([a-z_]+)\]\]><\/MsgType>/.exec(body)?.[1] ?? 'unknown'
}
