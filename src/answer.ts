/**
 * Answering one verified push: dedup, route within the reply budget, enqueue (durable before
 * the answer), commit the handler's session writes, remember the reply, seal it in safe mode,
 * and log one line for it.
 */

import type { Config } from './config.ts'
import { settleWithin } from './deadline.ts'
import type { ReplyCache } from './dedup.ts'
import { errorName, logEvent, logProblem } from './log.ts'
import type { QueuedJob, QueuedPush } from './queued-push.ts'
import type { LogFields, RouteContext, Router } from './router.ts'
import {
  PushSession,
  type SessionCommitted,
  SessionReplay,
  type SessionSchema,
  type SessionStore,
} from './session.ts'
import { dedupKey } from './wechat/dedup-key.ts'
import { type OpenedPush, sealReply } from './wechat/envelope.ts'
import { WechatError } from './wechat/errors.ts'
import { type Push, stateOwnerOf } from './wechat/push.ts'
import { type Reply, renderReply } from './wechat/reply.ts'

/** The body that tells WeChat "no reply", and not to retry. */
export const NO_REPLY = 'success'

export interface AnswerDeps<E, S extends SessionSchema<S>> {
  readonly config: Config
  readonly bot: Router<E, S>
  readonly env: E
  readonly cache: ReplyCache
  readonly enqueue: (queued: QueuedPush) => Promise<unknown>
  /** Sends a deferred route's job to the later queue. */
  readonly enqueueLater: (job: QueuedJob) => Promise<unknown>
  /** The session store of the user a push belongs to. */
  readonly sessions: (owner: string) => SessionStore
  readonly waitUntil: (work: Promise<unknown>) => void
  /** Milliseconds since the epoch when the request arrived: the budget counts from it. */
  readonly startedAt: number
}

type RouteOutcome = 'replied' | 'no_reply' | 'over_budget' | 'handler_error'
type Routed =
  | { readonly outcome: 'replied'; readonly reply: Reply }
  | { readonly outcome: Exclude<RouteOutcome, 'replied'> }
  /** The push's session was committed before: answer with that reply. */
  | { readonly outcome: 'replayed'; readonly body: string }

/**
 * Answers one push: the body to send, with status 200. Throws a 503 {@link WechatError} when the
 * push (or its session writes) could not be made durable, so that WeChat retries it.
 */
export async function answerPush<E, S extends SessionSchema<S>>(
  opened: OpenedPush,
  deps: AnswerDeps<E, S>,
): Promise<string> {
  const { push, mode } = opened
  const key = await dedupKey(push)
  const log: LogFields = {}
  const remembered = await deps.cache.lookup(key, mode)
  let body: string
  let outcome: Routed['outcome'] | 'retry'
  if (remembered !== null) {
    body = remembered
    outcome = 'retry'
  } else {
    const deadline = deps.startedAt + deps.config.replyBudgetMs
    const msLeft = () => deadline - Date.now()
    const owner = stateOwnerOf(push)
    const store = owner === null ? null : deps.sessions(owner)
    const session = new PushSession<S>(store, key, mode, msLeft)
    let deferred: number | undefined
    const context: RouteContext<E, S> = {
      env: deps.env,
      signal: new AbortController().signal,
      session,
      profile: () => (store ? store.profile() : Promise.resolve(null)),
      log,
      defer: (job) => {
        deferred = job
      },
    }
    const queued: QueuedPush = { key, push, receivedAt: deps.startedAt }
    const [durable, routed] = await Promise.all([
      // A push that touches nobody's state (a system push) needs no work after the answer.
      owner === null ? ('not_needed' as const) : enqueueWithin(deps.enqueue(queued), msLeft()),
      routeWithin(deps.bot, push, context, msLeft()),
    ])
    if (durable !== 'queued' && durable !== 'not_needed') {
      logProblem('push_not_queued', { kind: push.kind, key, reason: durable })
      throw new WechatError(503, 'push could not be queued; retry later')
    }
    outcome = routed.outcome
    body =
      routed.outcome === 'replayed'
        ? routed.body
        : routed.outcome === 'replied'
          ? renderReply(routed.reply, addressOf(push))
          : NO_REPLY
    const completed = routed.outcome === 'replied' || routed.outcome === 'no_reply'
    if (store && completed && Object.keys(session.writes).length > 0) {
      body = await commitSession(store, session, { key, mode, push, body, msLeft })
    }
    if (completed && deferred !== undefined) {
      // Durable before the answer, as the push is: the answer promises the work will be done.
      const job: QueuedJob = { ...queued, job: deferred }
      const sent = await enqueueWithin(deps.enqueueLater(job), msLeft())
      if (sent !== 'queued') {
        logProblem('job_not_queued', { kind: push.kind, key, reason: sent })
        throw new WechatError(503, 'push could not be queued; retry later')
      }
      log.deferred = true
    }
    deps.waitUntil(deps.cache.remember(key, mode, body))
  }
  logEvent('push', {
    ...log,
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

/**
 * Commits the handler's session writes with the push and its reply; the body to answer with.
 * Another attempt that committed first wins: its reply is the answer. A commit that cannot be
 * made is a 503: WeChat's retry runs the handler again, or finds the commit if it did land.
 */
async function commitSession<S extends SessionSchema<S>>(
  store: SessionStore,
  session: PushSession<S>,
  push: {
    key: string
    mode: OpenedPush['mode']
    push: Push
    body: string
    msLeft: () => number
  },
): Promise<string> {
  const committing = store
    .commit(push.key, push.mode, push.push, session.writes, push.body)
    .catch((error: unknown) => ({ outcome: 'failed', error: errorName(error) }) as const)
  const result: SessionCommitted | { outcome: 'failed' | 'timed_out'; error?: string } =
    await settleWithin(committing, push.msLeft(), () => ({ outcome: 'timed_out' }) as const)
  switch (result.outcome) {
    case 'committed':
    case 'discarded':
      return push.body
    case 'replay':
      return result.reply
    case 'stale':
    case 'too_large':
      logProblem('session_not_written', { key: push.key, reason: result.outcome })
      return push.body
    case 'failed':
    case 'timed_out':
      logProblem('session_not_committed', { key: push.key, reason: result.outcome })
      throw new WechatError(503, 'session could not be saved; retry later')
    default:
      return result satisfies never
  }
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

async function routeWithin<E, S extends SessionSchema<S>>(
  bot: Router<E, S>,
  push: Push,
  context: RouteContext<E, S>,
  budgetMs: number,
): Promise<Routed> {
  const budget = new AbortController()
  const routed = bot.route(push, { ...context, signal: budget.signal }).then(
    (reply): Routed => (reply ? { outcome: 'replied', reply } : { outcome: 'no_reply' }),
    (error: unknown): Routed => {
      if (error instanceof SessionReplay) return { outcome: 'replayed', body: error.reply }
      logProblem('handler_error', { kind: push.kind, error: errorName(error) })
      return { outcome: 'handler_error' }
    },
  )
  return settleWithin(routed, budgetMs, (): Routed => {
    budget.abort()
    return { outcome: 'over_budget' }
  })
}

/** The reply's MsgType for the log line, read off the rendered XML. */
function replyKindOf(body: string): string {
  if (body === NO_REPLY) return NO_REPLY
  return /<MsgType><!\[CDATA\[([a-z_]+)\]\]><\/MsgType>/.exec(body)?.[1] ?? 'unknown'
}
