/**
 * The later queue's consumer: runs deferred handlers after the push was answered. Each job
 * first applies its push (idempotently) so that the user's reply window is open, shows the
 * typing indicator while the handler works, and sends its messages through the user's outbox,
 * so that a Queue redelivery never resends what WeChat accepted. WeChat's refusals (window
 * closed, quota used) end the job; a busy WeChat or a failing handler is retried with backoff,
 * then dead-lettered with its reason.
 */

import type { LaterContext, LaterHandler, Router } from '../bot/router.ts'
import { jobSession, PushSession, type SessionSchema } from '../bot/session.ts'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { ledgerFor } from '../ledger.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { partsOf, sendThroughOutbox, UserPurgedError } from '../talk/send.ts'
import { talkerFor, type WechatClient } from '../talk/talk.ts'
import { webLinkFor } from '../web/link.ts'
import { customMessageOf, WechatApiError } from '../wechat/api.ts'
import { type Push, stateOwnerOf } from '../wechat/push.ts'
import { keepDeadLetter } from './dead-letters.ts'
import type { QueuedJob } from './queued.ts'

/** A quota or a whitelist is not fixed in seconds: such a failure is retried this much later. */
export const LATE_RETRY_SECONDS = 300
/** After this many attempts a failing job is dead-lettered, with its reason. */
export const LATER_MAX_ATTEMPTS = 5
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
 * Runs one deferred job.
 *
 * @example
 * const outcome = await runLaterJob(message.body, env, bot)
 */
export async function runLaterJob<S extends SessionSchema<S>>(
  queued: QueuedJob,
  env: Env,
  bot: Router<Env, S>,
  /** The Queue message's id: the same on a redelivery, another for a duplicate job. */
  claimant: string,
): Promise<JobOutcome> {
  const { key, push, job } = queued
  const owner = stateOwnerOf(push)
  const run = bot.laterJob(job)
  // A deploy removed or renamed the route: no other handler may take its job.
  if (!run) return { deadLetter: `no later() route is named ${job}` }
  if (owner === null) return runUnownedJob(queued, env, run, claimant)
  const user = env.USERS.getByName(owner)
  const jobId = jobIdOf(key)
  // A push whose answer WeChat retried queues its job twice: one Queue message runs it.
  const claim = await user.claimJob(jobId, claimant, push)
  if (claim === 'purged') return 'purged'
  if (claim !== 'claimed') return 'replayed'
  const applied = await user.apply(key, push)
  if (applied === 'failed') return { retry: 'UserState could not apply the push' }
  if (applied === 'stale' || applied === 'purged') return 'purged'
  const talker = talkerFor(env)
  const talkBack = readConfig(env).talkBack
  if (!talker || !talkBack) {
    logProblem('later_skipped', { key, reason: 'talking back is off' })
    return 'skipped'
  }

  // Each message takes outbox indexes in the order it is sent: the same on a redelivery.
  let index = 0
  let sent = 0
  const outbox = { user, talker, openid: owner, job: jobId }
  const session = jobSession<S>(() => user.readSession(), LATER_SESSION_MS)
  const context: LaterContext<Env, S> = {
    env,
    session,
    profile: () => user.snapshot(),
    log: {},
    wechat: talker,
    webLink: webLinkFor(env, queued.workerOrigin ?? null),
    async send(reply) {
      const first = index
      const parts = partsOf(customMessageOf(reply), talkBack.textLimitBytes)
      // The indexes are taken before the send, so that a failed send cannot shift later ones.
      index += parts.length
      sent += await sendThroughOutbox(outbox, first, parts)
    },
  }
  const typing = showTyping(talker, owner, push.createTime * 1000)
  try {
    await run(push, context)
  } catch (error) {
    if (error instanceof UserPurgedError) return 'purged'
    if (!(error instanceof WechatApiError)) return { retry: `handler: ${errorName(error)}` }
    logProblem('send_refused', { key, failure: error.failure, code: error.code })
    return outcomeOf(error)
  } finally {
    await typing.stop(sent === 0)
  }
  const finished = await user.finishJob(jobId, claimant, session.writes)
  if (finished === 'purged') return 'purged'
  // Reported as the request path reports a session write that does not fit.
  if (finished === 'too_large') logProblem('session_not_written', { key, reason: 'too_large' })
  logEvent('later_done', { key, kind: push.kind, sent, ...context.log })
  return 'done'
}

/**
 * A job on a push that belongs to no user (a job result, an unknown event): claimed in the
 * ledger, so that it runs once however often WeChat delivers the push. It has no session and
 * no window to send in: `send` refuses without calling WeChat.
 */
async function runUnownedJob<S extends SessionSchema<S>>(
  queued: QueuedJob,
  env: Env,
  run: LaterHandler<Push, Env, S>,
  claimant: string,
): Promise<JobOutcome> {
  const { key, push } = queued
  const ledger = ledgerFor(env.LEDGER, push, key)
  const jobId = jobIdOf(key)
  if ((await ledger.claimJob(jobId, claimant)) !== 'claimed') return 'replayed'
  const context: LaterContext<Env, S> = {
    env,
    session: new PushSession<S>(null, () => 0),
    profile: async () => null,
    log: {},
    wechat: talkerFor(env),
    webLink: webLinkFor(env, queued.workerOrigin ?? null),
    send() {
      return Promise.reject(
        new WechatApiError(
          'window_closed',
          null,
          'this push belongs to no user: no window to send in',
        ),
      )
    },
  }
  try {
    await run(push, context)
  } catch (error) {
    if (!(error instanceof WechatApiError)) return { retry: `handler: ${errorName(error)}` }
    logProblem('send_refused', { key, failure: error.failure, code: error.code })
    return outcomeOf(error)
  }
  await ledger.finishJob(jobId, claimant)
  logEvent('later_done', { key, kind: push.kind, sent: 0, ...context.log })
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
  await keepDeadLetter(env, { queued, attempts, reason })
  const owner = stateOwnerOf(queued.push)
  const job = jobIdOf(queued.key)
  if (owner !== null) await env.USERS.getByName(owner).releaseJob(job)
  else await ledgerFor(env.LEDGER, queued.push, queued.key).releaseJob(job)
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
export async function handleLaterBatch<S extends SessionSchema<S>>(
  batch: MessageBatch<QueuedJob>,
  env: Env,
  bot: Router<Env, S>,
  retryDelaySeconds: (attempts: number) => number,
): Promise<void> {
  await Promise.all(
    batch.messages.map(async function settle(message) {
      let outcome: JobOutcome
      try {
        outcome = await runLaterJob(message.body, env, bot, message.id)
      } catch (error) {
        outcome = { retry: `binding: ${errorName(error)}` }
      }
      if (typeof outcome === 'string') {
        message.ack()
        return
      }
      if ('deadLetter' in outcome || message.attempts >= LATER_MAX_ATTEMPTS) {
        const reason = 'deadLetter' in outcome ? outcome.deadLetter : outcome.retry
        await giveUp(env, message.body, message.attempts, reason)
        message.ack()
        return
      }
      const delaySeconds = Math.max(
        retryDelaySeconds(message.attempts),
        'late' in outcome ? LATE_RETRY_SECONDS : 0,
      )
      logProblem('later_retry', {
        key: message.body.key,
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
