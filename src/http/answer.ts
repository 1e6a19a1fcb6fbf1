/**
 * Answering one verified push: route it within the reply budget, then make it durable before
 * the answer with one call to the user's Durable Object, which receives the push, its reply and
 * its session writes at most once (a retry gets the first reply back). Should that call fail,
 * the push goes to the Queue instead; only when neither takes it is the answer a 503. Then the
 * reply is sealed in safe mode, and one line is logged.
 */

import { ENV_ACCOUNT } from '../accounts/settings.ts'
import type { Bot, LogFields, RouteContext } from '../bot/router.ts'
import { type AnySession, PushSession, userSessionStore } from '../bot/session.ts'
import type { AccountSettings } from '../config.ts'
import { settleWithin } from '../deadline.ts'
import { errorName, logEvent, logProblem, quotaNamed } from '../log.ts'
import { answerLoginPush, type LoginDesk } from '../login/answer.ts'
import { jobOf, type QueuedPush } from '../queues/queued.ts'
import type { Owner } from '../receive/owner.ts'
import { type Receipt, replayOf } from '../receive/receipt.ts'
import type { Notifier } from '../talk/notify.ts'
import type { WechatClient } from '../talk/talk.ts'
import type { WebLink } from '../web/link.ts'
import { dedupKey } from '../wechat/dedup-key.ts'
import { bodyAuthenticated, type OpenedPush, sealReply } from '../wechat/envelope.ts'
import { WechatError } from '../wechat/errors.ts'
import type { Push } from '../wechat/push.ts'
import { NO_REPLY, type Reply, renderReply } from '../wechat/reply.ts'
import type { ReplyCache } from './reply-cache.ts'

export interface AnswerDeps<E> {
  /** The account the push came to. */
  readonly account: AccountSettings
  readonly replyBudgetMs: number
  readonly bot: Bot<E>
  readonly env: E
  /** The push's owner: the user's Durable Object, or the ledger (src/receive/owner.ts). */
  readonly ownerOf: (push: Push, key: string) => Owner
  /** The fallback when the push's owner cannot be reached. */
  readonly enqueue: (queued: QueuedPush) => Promise<unknown>
  /** Replies kept while an owner is unreachable, for the retries (reply-cache.ts). */
  readonly replies: ReplyCache
  /** Milliseconds since the epoch when the request arrived: the budget counts from it. */
  readonly startedAt: number
  /** The account's WeChat API for handlers; null when talking back is off. */
  readonly wechat: WechatClient | null
  /** Sign-in links to the account's website (src/web/link.ts). */
  readonly webLink: WebLink
  /** The account's notifier, for handlers' `notify` (src/talk/notify.ts). */
  readonly notifier: Notifier
  /** The Worker's origin the push reached: a deferred job builds its links with it. */
  readonly workerOrigin: string
  /** Scan to log in's settings and objects: its pushes are answered before the bot's. */
  readonly login: LoginDesk
}

type RouteOutcome = 'replied' | 'no_reply' | 'over_budget' | 'handler_error'
type Routed =
  | { readonly outcome: 'replied'; readonly reply: Reply }
  | { readonly outcome: Exclude<RouteOutcome, 'replied'> }

/**
 * Answers one push: the body to send, with status 200. Throws a 503 {@link WechatError} when the
 * push (or its session writes) could not be made durable, so that WeChat retries it.
 */
export async function answerPush<E>(opened: OpenedPush, deps: AnswerDeps<E>): Promise<string> {
  const { push, mode } = opened
  const { account } = deps
  const key = await dedupKey(push, account.envelope.token)
  const log: LogFields = {}
  const deadline = deps.startedAt + deps.replyBudgetMs
  const msLeft = () => deadline - Date.now()
  const owner = deps.ownerOf(push, key)
  const store = owner.kind === 'user' ? userSessionStore(owner.stub) : null
  const session = new PushSession(store, msLeft)
  let deferred: string | undefined
  let held = false
  // The handler may use the budget but what making the push durable needs after it.
  const reserve = Math.min(DURABLE_RESERVE_MS, deps.replyBudgetMs / 5)
  const context: RouteContext<E, AnySession> = {
    env: deps.env,
    account: { id: account.id, appId: account.talkBack?.appId ?? null },
    signal: new AbortController().signal,
    session,
    profile: () => (store ? store.profile() : Promise.resolve(null)),
    log,
    wechat: deps.wechat,
    webLink: deps.webLink,
    notifier: deps.notifier,
    defer: (job) => {
      deferred = job
    },
    key,
    authenticated: bodyAuthenticated(mode),
    msLeft: () => msLeft() - reserve,
    hold: () => {
      held = true
    },
  }
  // Scan to log in is the platform's, answered before the bot sees the push (src/login/).
  const route = async (routing: RouteContext<E, AnySession>) => {
    const login = await answerLoginPush(push, mode, session, deps.login)
    if (login === null) return deps.bot.route(push, routing)
    log.login = true
    return login
  }
  const routed = await routeWithin(route, push, context, msLeft() - reserve)
  let body = routed.outcome === 'replied' ? renderReply(routed.reply, addressOf(push)) : NO_REPLY
  let outcome: Routed['outcome'] | 'retry' | 'refused' | 'held' = routed.outcome
  const completed = routed.outcome === 'replied' || routed.outcome === 'no_reply'
  // A held attempt answers nobody: it is received without a reply (so that WeChat's next attempt
  // is not a replay of it, src/receive/receipt.ts) and without its session writes (the attempt
  // that answers brings its own), and it answers only once WeChat has given up on it.
  const holding = held && completed
  const queued: QueuedPush = {
    type: 'push',
    ...(account.id !== ENV_ACCOUNT && { account: account.id }),
    key,
    push,
    receivedAt: deps.startedAt,
    workerOrigin: deps.workerOrigin,
    mode,
  }
  const writes = completed && !holding ? session.writes : {}
  // A deferred route's job goes to the later queue with the push, from its owner, the first
  // time the owner receives the push: never again for a retry or a replayed capture.
  const job = completed && !holding && deferred !== undefined ? deferred : null
  const receipt = await receiveWithin(
    () =>
      owner.stub.receive({
        key,
        push,
        answered: holding ? null : { mode, reply: body },
        mode,
        writes,
        job: job === null ? null : jobOf(queued, job),
      }),
    () => msLeft() - reserve / 2,
  )
  if (holding) {
    if (receipt.outcome === 'replay') {
      // An earlier attempt answered: this one gets that answer, as every retry does.
      body = receipt.reply
      outcome = 'retry'
    } else if (receipt.outcome === 'failed' || receipt.outcome === 'timed_out') {
      // Nothing kept it: WeChat's retry must find the push as new.
      notDurable('push_not_queued', push, key, 'held', null)
    } else {
      await new Promise((resolve) => setTimeout(resolve, deps.startedAt + HELD_FOR_MS - Date.now()))
      body = NO_REPLY
      outcome = 'held'
    }
  } else if (receipt.outcome === 'replay') {
    body = receipt.reply
    outcome = 'retry'
  } else if (receipt.outcome === 'refused') {
    // The account does not have its pushes taken (it revoked the platform): nothing is kept,
    // and nothing is said.
    body = NO_REPLY
    outcome = 'refused'
  } else if (receipt.outcome === 'purged') {
    // The user's object deleted everything, and sweeps their dead letters from its alarm.
  } else if (receipt.outcome === 'too_large' || receipt.outcome === 'stale') {
    logProblem('session_not_written', { key, reason: receipt.outcome })
  } else if (receipt.outcome !== 'received' && receipt.outcome !== 'duplicate') {
    // The owner did not take it: the Queue must, or WeChat must send it again.
    logProblem('push_not_received', {
      kind: push.kind,
      key,
      reason: receipt.outcome,
      quota: 'quota' in receipt ? receipt.quota : null,
    })
    // Session writes cannot wait in the Queue: WeChat's retry runs the handler again.
    if (Object.keys(writes).length > 0)
      notDurable('push_not_queued', push, key, 'session writes', null)
    // A retry while the owner is still down gets the first attempt's reply, which that
    // attempt kept for it, by the same rule the owner answers retries with. The push goes to
    // the Queue with its reply and its job either way (the owner receives each key once, and
    // queues the job then), so that a retry after the outage gets the reply too.
    const cached = await deps.replies.get(key, msLeft() / 4)
    if (cached) {
      body = replayOf(cached, mode)
      outcome = 'retry'
    } else {
      await deps.replies.put(key, { mode, reply: body }, msLeft() / 4)
    }
    const answered: QueuedPush = {
      ...queued,
      answered: cached ?? { mode, reply: body },
      ...(job !== null && { job }),
    }
    const sent = await enqueueWithin(deps.enqueue(answered), msLeft(), 'Queues')
    if (sent.status !== 'queued') notDurable('push_not_queued', push, key, sent.status, sent.quota)
    log.via = 'queue'
  }
  if (job !== null && receipt.outcome !== 'replay') log.deferred = true
  logEvent('push', {
    ...log,
    account: account.id,
    kind: push.kind,
    key,
    mode,
    outcome,
    reply: replyKindOf(body),
    ms: Date.now() - deps.startedAt,
  })
  if (opened.mode === 'encrypted' && body !== NO_REPLY) {
    return sealReply(body, account.envelope.token, opened.aes, Date.now() / 1000)
  }
  return body
}

/** The push could not be made durable: logged, and a 503 so that WeChat sends it again. */
function notDurable(
  event: 'push_not_queued',
  push: Push,
  key: string,
  reason: string,
  quota: string | null,
): never {
  logProblem(event, { kind: push.kind, key, reason, quota })
  throw new WechatError(503, 'push could not be made durable; retry later')
}

/** Time kept back from the handler for making the push durable (and the Queue fallback). */
const DURABLE_RESERVE_MS = 1_000

/**
 * A held attempt (`context.hold()`) answers no sooner than this after it arrived: WeChat gives
 * an attempt 5 seconds, then drops the connection and sends the push again, so what it answers
 * then reaches nobody and the retry is the attempt that answers.
 */
export const HELD_FOR_MS = 6_000

/**
 * The push's owner (the user's Durable Object, or the ledger) receives it within `msLeft` (what
 * is left of the budget but the Queue fallback's share). A failure or a timeout is an outcome,
 * not an exception.
 */
async function receiveWithin(
  receive: () => Promise<Receipt>,
  msLeft: () => number,
): Promise<Receipt | { outcome: 'failed'; quota: string | null } | { outcome: 'timed_out' }> {
  const receiving = Promise.resolve()
    .then(receive)
    .catch((error: unknown) => ({
      outcome: 'failed' as const,
      quota: quotaNamed(error, 'Durable Objects'),
    }))
  return settleWithin(receiving, msLeft(), () => ({ outcome: 'timed_out' }) as const)
}

function addressOf(push: Push) {
  return {
    toUser: push.fromUserName,
    fromUser: push.toUserName,
    createTime: Math.floor(Date.now() / 1000),
  }
}

interface Enqueued {
  readonly status: 'queued' | 'failed' | 'timed out'
  readonly quota: string | null
}

async function enqueueWithin(
  send: Promise<unknown>,
  budgetMs: number,
  binding: string,
): Promise<Enqueued> {
  const sent = send.then(
    (): Enqueued => ({ status: 'queued', quota: null }),
    (error: unknown): Enqueued => ({ status: 'failed', quota: quotaNamed(error, binding) }),
  )
  return settleWithin(sent, budgetMs, (): Enqueued => ({ status: 'timed out', quota: null }))
}

async function routeWithin<E>(
  route: (context: RouteContext<E, AnySession>) => Promise<Reply | undefined>,
  push: Push,
  context: RouteContext<E, AnySession>,
  budgetMs: number,
): Promise<Routed> {
  const budget = new AbortController()
  const routed = route({ ...context, signal: budget.signal }).then(
    (reply): Routed => (reply ? { outcome: 'replied', reply } : { outcome: 'no_reply' }),
    (error: unknown): Routed => {
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
