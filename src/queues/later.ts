/**
 * The later queue's consumer: runs deferred handlers after the push was answered. Each job
 * first applies its push (idempotently) so that the user's reply window is open, shows the
 * typing indicator while the handler works, and sends its messages through the user's outbox,
 * so that a Queue redelivery never resends what WeChat accepted. WeChat's refusals (window
 * closed, quota used) end the job; a busy WeChat or a failing handler is retried with backoff,
 * then dead-lettered with its reason.
 */

import { objectsOf } from '../accounts/objects.ts'
import { findAccount } from '../accounts/served.ts'
import type { Bots } from '../bot/bots.ts'
import { notifyWith } from '../bot/notify.ts'
import type { LaterContext } from '../bot/router.ts'
import { type AnySession, jobSession, PushSession } from '../bot/session.ts'
import type { Env } from '../env.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { ownerOf } from '../receive/owner.ts'
import { notifierOf } from '../talk/notify.ts'
import { partsOf, sendThroughOutbox, UserPurgedError } from '../talk/send.ts'
import { talkerFor, type WechatClient } from '../talk/talk.ts'
import { webLinkFor } from '../web/link.ts'
import { customMessageOf, WechatApiError } from '../wechat/api.ts'
import { bodyAuthenticated } from '../wechat/envelope.ts'
import { keepDeadLetter } from './dead-letters.ts'
import {
  accountOfQueued,
  LATER_MAX_ATTEMPTS,
  type QueuedJob,
  type QueuedMessage,
  queuedMessageOf,
} from './queued.ts'

/** A quota or a whitelist is not fixed in seconds: such a failure is retried this much later. */
export const LATE_RETRY_SECONDS = 300
/** WeChat shows "typing…" this long (its customer-service typing guide). */
export const TYPING_SHOWN_MS = 15_000
/** …and shows it only within this long of the user's last interaction (45080). */
export const TYPING_INTERACTION_MS = 30_000
/** A deferred handler's session reads may take this long. */
const LATER_SESSION_MS = 30_000

/**
 * What one job came to. `retry`: try again later (the reason is logged). `deadLetter`: it can
 * never run as queued (its route is gone); kept for the operator with the reason.
 */
export type JobOutcome =
  | 'done'
  | 'replayed'
  | 'skipped'
  /** Its user was purged after the push: nothing was sent or written. */
  | 'purged'
  /** `late`: a quota or a whitelist, which the Queue's short backoff would only waste. */
  | { retry: string; late?: true }
  | { deadLetter: string }

/** A deferred job's id in its owner's jobs table: one per push, whatever route it names. */
function jobIdOf(key: string): string {
  return `later:${key}`
}

/**
 * Runs one deferred job, through its push's owner: the job is claimed there (one Queue message
 * runs it), its push received (so that the user's reply window is open), and its session and
 * sends are the user's. A push of nobody's (a job result, an unknown event) is claimed in the
 * ledger and has no session and no window: `send` refuses without calling WeChat.
 *
 * @example
 * const outcome = await runLaterJob(message.body, env, bot, message.id)
 */
export async function runLaterJob(
  queued: QueuedJob,
  env: Env,
  bots: Bots,
  /** The Queue message's id: the same on a redelivery, another for a duplicate job. */
  claimant: string,
): Promise<JobOutcome> {
  const { key, push, job } = queued
  // A configured account or a platform authorizer, as the push was served (served.ts).
  const account = findAccount(env, accountOfQueued(queued))
  // A deploy removed the account: nothing here may run its job, or send for it.
  if (!account) return { deadLetter: `no account ${accountOfQueued(queued)} is configured` }
  const bot = bots(account.id)
  const run = bot.laterJob(job)
  // A deploy removed or renamed the route: no other handler may take its job.
  if (!run) return { deadLetter: `no later() route is named ${job}` }
  const objects = objectsOf(env, account.id)
  const owner = ownerOf(objects, push, key)
  const jobId = jobIdOf(key)
  // A push whose answer WeChat retried queues its job twice: one Queue message runs it.
  const claim = await owner.stub.claimJob(jobId, claimant, push)
  if (claim === 'purged') return 'purged'
  if (claim !== 'claimed') return 'replayed'
  const receipt = await owner.stub.receive({
    key,
    push,
    answered: null,
    mode: queued.mode ?? null,
    writes: {},
    job: null,
  })
  if (receipt.outcome === 'failed') return { retry: 'the push’s owner could not receive it' }
  if (
    receipt.outcome === 'stale' ||
    receipt.outcome === 'purged' ||
    receipt.outcome === 'refused'
  ) {
    return 'purged'
  }
  const talker = talkerFor(env, account)
  const { talkBack } = account
  if (owner.kind === 'user' && (!talker || !talkBack)) {
    logProblem('later_skipped', { key, reason: 'talking back is off' })
    return 'skipped'
  }

  // Each message takes outbox indexes in the order it is sent: the same on a redelivery.
  let index = 0
  let sent = 0
  const user = owner.kind === 'user' ? owner.stub : null
  const session =
    user === null
      ? new PushSession(null, () => 0)
      : jobSession(() => user.readSession(), LATER_SESSION_MS)
  const context: LaterContext<Env, AnySession> = {
    env,
    account: { id: account.id, appId: talkBack?.appId ?? null },
    session,
    profile: async () => (user === null ? null : user.snapshot()),
    log: {},
    wechat: talker,
    webLink: webLinkFor(env, account.id, queued.workerOrigin ?? null),
    // Once per key, in the addressee's outbox: a redelivery or a replay sends nothing again.
    notify: notifyWith(bot.declaredTemplates, notifierOf(objects, talker, account.id)),
    key,
    authenticated: queued.mode !== undefined && bodyAuthenticated(queued.mode),
    job,
    async send(reply) {
      if (owner.kind !== 'user' || talker === null || talkBack === null) {
        throw new WechatApiError(
          'window_closed',
          null,
          'this push belongs to no user: no window to send in',
        )
      }
      const first = index
      const parts = partsOf(customMessageOf(reply), talkBack.textLimitBytes)
      // The indexes are taken before the send, so that a failed send cannot shift later ones.
      index += parts.length
      sent += await sendThroughOutbox(
        { user: owner.stub, talker, openid: owner.openid, job: jobId },
        first,
        parts,
      )
    },
  }
  const typing =
    owner.kind === 'user' && talker !== null
      ? showTyping(talker, owner.openid, push.createTime * 1000)
      : null
  try {
    await run(push, context)
  } catch (error) {
    if (error instanceof UserPurgedError) return 'purged'
    if (!(error instanceof WechatApiError)) return { retry: `handler: ${errorName(error)}` }
    logProblem('send_refused', { key, failure: error.failure, code: error.code })
    return outcomeOf(error)
  } finally {
    await typing?.stop(sent === 0)
  }
  const finished = await owner.stub.finishJob(jobId, claimant, session.writes)
  if (finished === 'purged') return 'purged'
  // Reported as the request path reports a session write that does not fit.
  if (finished === 'too_large') logProblem('session_not_written', { key, reason: 'too_large' })
  logEvent('later_done', { ...context.log, account: account.id, key, kind: push.kind, sent })
  return 'done'
}

/**
 * Keeps a job the consumer gave up on, and lets its claim go, so that a replay of the letter
 * runs it (the outbox keeps what WeChat accepted from being sent again).
 */
export async function giveUp(
  env: Env,
  queued: QueuedJob,
  attempts: number,
  reason: string | null,
): Promise<void> {
  const owner = ownerOf(objectsOf(env, accountOfQueued(queued)), queued.push, queued.key)
  await owner.stub.keepDeadLetter({ queued, attempts, reason })
  await owner.stub.releaseJob(jobIdOf(queued.key))
}

/** What a job that failed on WeChat's answer comes to: never dropped without a dead letter. */
function outcomeOf(error: WechatApiError): JobOutcome {
  const reason = `WeChat: ${error.failure}${error.code === null ? '' : ` (errcode ${error.code})`}`
  switch (error.failureClass) {
    case 'soon':
      return { retry: reason }
    case 'late':
      return { retry: reason, late: true }
    case 'final':
      return { deadLetter: reason }
    default:
      return error.failureClass satisfies never
  }
}

/** The later queue's messages: each job acknowledged, retried or dead-lettered on its own. */
export async function handleLaterBatch(
  batch: MessageBatch<QueuedMessage>,
  env: Env,
  bots: Bots,
  retryDelaySeconds: (attempts: number) => number,
): Promise<void> {
  await Promise.all(
    batch.messages.map(async function settle(message) {
      // A job queued before messages carried their type reads as the job it is.
      const queued = queuedMessageOf(message.body)
      if (queued.type !== 'job') {
        // Nothing here can run it: kept for the operator, who may replay it where it belongs.
        const letter = { queued, attempts: message.attempts, reason: 'a push on the later queue' }
        await keepDeadLetter(env, letter)
        message.ack()
        return
      }
      let outcome: JobOutcome
      try {
        outcome = await runLaterJob(queued, env, bots, message.id)
      } catch (error) {
        outcome = { retry: `binding: ${errorName(error)}` }
      }
      if (typeof outcome === 'string') {
        message.ack()
        return
      }
      if ('deadLetter' in outcome || message.attempts >= LATER_MAX_ATTEMPTS) {
        const reason = 'deadLetter' in outcome ? outcome.deadLetter : outcome.retry
        await giveUp(env, queued, message.attempts, reason)
        message.ack()
        return
      }
      const delaySeconds = Math.max(
        retryDelaySeconds(message.attempts),
        'late' in outcome ? LATE_RETRY_SECONDS : 0,
      )
      logProblem('later_retry', {
        key: queued.key,
        attempts: message.attempts,
        delaySeconds,
        reason: outcome.retry,
      })
      message.retry({ delaySeconds })
    }),
  )
}

/**
 * Shows "typing…" by WeChat's rules: it lasts {@link TYPING_SHOWN_MS}, a new one while it shows
 * is refused (45081), and one needs the user's interaction within {@link TYPING_INTERACTION_MS}
 * (45080). So it is shown once, and renewed only after it expired and while the interaction is
 * recent enough; the first failure ends it (45080 and 45081 are never retried) and is logged.
 */
function showTyping(talker: WechatClient, openid: string, interactionAt: number) {
  let shownUntil = 0
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const allowed = () => !stopped && Date.now() - interactionAt < TYPING_INTERACTION_MS
  const show = async (): Promise<void> => {
    if (!allowed()) return
    try {
      await talker.typing(openid, true)
      shownUntil = Date.now() + TYPING_SHOWN_MS
      if (!stopped) timer = setTimeout(show, TYPING_SHOWN_MS)
    } catch (error) {
      const failure = error instanceof WechatApiError ? error.failure : errorName(error)
      logEvent('typing_unavailable', { failure })
    }
  }
  const first = show()
  return {
    async stop(cancel: boolean) {
      stopped = true
      clearTimeout(timer)
      await first
      if (cancel && Date.now() < shownUntil) await talker.typing(openid, false).catch(() => {})
    },
  }
}
