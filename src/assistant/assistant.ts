/**
 * `assistant()`: a route handler that answers text with a language model, once per push.
 *
 * On the request path it asks the user's object (src/user/assistant.ts), keyed by the push's
 * dedup key, and waits what the reply budget allows: a ready answer that fits goes out as the
 * passive reply; otherwise the push is answered at once and its job (on the later queue) asks
 * the same key, getting the call in flight or its answer, never a second call, and sends it as
 * customer-service messages (typing meanwhile, long text in parts, within WeChat's windows). An
 * account that cannot send those (48001, `passiveOnly`) holds the answer across WeChat's own
 * retries instead, and past the last one tells the user to send a short word to fetch it.
 */

import { objectsOf } from '../accounts/objects.ts'
import { findAccount } from '../accounts/served.ts'
import { ENV_ACCOUNT } from '../accounts/settings.ts'
import type { AccountRef, Handler, LaterContext, NowContext } from '../bot/router.ts'
import { later } from '../bot/router.ts'
import type { AnySession, SessionSchema } from '../bot/session.ts'
import { settleWithin } from '../deadline.ts'
import type { Env } from '../env.ts'
import { errorName, logProblem } from '../log.ts'
import { ownerOf } from '../receive/owner.ts'
import { UserPurgedError } from '../talk/send.ts'
import type { AssistOp, AssistResult } from '../user/assistant.ts'
import type { UserSnapshot, UserState } from '../user/state.ts'
import { message, WechatApiError } from '../wechat/api.ts'
import type { TextMessage } from '../wechat/push.ts'
import { type Reply, reply } from '../wechat/reply.ts'
import { TEXT_LIMIT_BYTES } from '../wechat/split-text.ts'
import {
  boundedQuestion,
  type ContextFields,
  DEFAULT_MEMORY,
  lastAttempt,
  type MemoryBounds,
  type Plan,
  utf8Bytes,
} from './rules.ts'
import { assistantSettings } from './settings.ts'
import { assistantWords } from './words.ts'

/** What the bot's `context` option is given to choose from. */
export interface AssistantContext {
  readonly account: AccountRef
  /** The user's stored profile (subscribedAt, scene, location, …); null if none. */
  profile(): Promise<UserSnapshot | null>
}

/** What the user is told besides answers; each is one short passive reply or message. */
export interface AssistantNotices {
  /** The model failed (after its attempts) or timed out. */
  readonly failed: string
  /** Past the user's or the account's questions an hour. */
  readonly limited: string
  /** The reset word cleared the conversation. */
  readonly reset: string
  /** Passive-only: WeChat's last attempt came before the answer. */
  readonly waiting: string
  /** Passive-only: the fetch word, with nothing waiting. */
  readonly nothing: string
  /** Passive-only: after a part of a long answer. */
  readonly more: string
  /** Ends the last message a window carries when the answer's rest waits for the user's next push. */
  readonly rest: string
}

export interface AssistantOptions {
  /** The system prompt. */
  readonly system: string
  /**
   * What of the push and the user the model is told, chosen by the bot: nothing by default (a
   * profile field goes to the model provider only if the bot hands it over here).
   */
  readonly context?: (
    push: TextMessage,
    context: AssistantContext,
  ) => ContextFields | Promise<ContextFields>
  /** The question asked; the text as sent by default. */
  readonly question?: (push: TextMessage) => string
  /** How much of the conversation is kept: 10 turns, 8,000 bytes, 24 hours by default. */
  readonly memory?: Partial<MemoryBounds>
  /** The text that clears the conversation (`/reset`). */
  readonly resetWord?: string
  /** Passive-only accounts: the text that fetches a finished answer (`?`). */
  readonly fetchWord?: string
  readonly notices?: Partial<AssistantNotices>
  /** Answered at once while a slow answer is prepared (`success`, nothing shown, by default). */
  readonly interim?: Reply
  /** The job's name on the later queue; the route's own by default. */
  readonly name?: string
}

/** A job asks its question's answer for this long before the Queue tries it again. */
export const JOB_WAIT_MS = 120_000
/** Kept back from the handler's budget to render the reply. */
const HANDOUT_MARGIN_MS = 300
/** Kept back from the handler's budget, after the bot's context, to store the question. */
const ASK_MARGIN_MS = 300
/** A job waits this long for the bot's context before it asks without it. */
const JOB_CONTEXT_MS = 10_000

/** The job found the answer not ready yet: the later queue tries it again, with backoff. */
export class AnswerNotReadyError extends Error {
  override readonly name = 'AnswerNotReadyError'
}

/**
 * @example
 * bot.on('text', assistant({
 *   system: 'You are the Shop’s assistant. Answer briefly, in the user’s language.',
 *   context: async (_push, { account, profile }) => ({ account: account.id, followedVia: (await profile())?.scene ?? null }),
 * }))
 */
export function assistant<S extends SessionSchema<S> = AnySession>(
  options: AssistantOptions,
): Handler<TextMessage, Env, S> {
  const { resetWord, fetchWord } = assistantWords(options)
  const notices: AssistantNotices = {
    failed: 'Sorry, I could not answer that just now. Please try again later.',
    limited: 'You have asked a lot in a short while. Please try again later.',
    reset: 'Done: our conversation is forgotten.',
    waiting: `Still thinking. Send “${fetchWord}” in a moment to get the answer.`,
    nothing: 'Nothing is waiting for you.',
    more: `(Send “${fetchWord}” for more.)`,
    rest: '(The rest comes when you write again.)',
    ...options.notices,
  }
  const memory: MemoryBounds = { ...DEFAULT_MEMORY, ...options.memory }

  const userOf = (env: Env, account: string, push: TextMessage, key: string) => {
    const owner = ownerOf(objectsOf(env, account), push, key)
    return owner.kind === 'user' ? owner.stub : null
  }

  /** The question's plan; the bot's `context` has `contextMs` to answer, else is left out. */
  const planOf = async (
    env: Env,
    push: TextMessage,
    context: AssistantContext & {
      readonly key: string
      readonly job: string
      readonly authenticated: boolean
    },
    contextMs: number,
  ): Promise<Plan> => {
    const settings = assistantSettings(env)
    let fields: ContextFields = {}
    try {
      const chosen = Promise.resolve().then(() => options.context?.(push, context))
      // null: not in time (a context is a record, or nothing).
      const given = await settleWithin(chosen, contextMs, () => null)
      if (given === null) {
        // Asked without it: a question asked in time is worth more than its context.
        logProblem('assistant_context_failed', { key: context.key, error: 'timed_out' })
      } else {
        fields = given ?? {}
      }
    } catch (error) {
      logProblem('assistant_context_failed', { key: context.key, error: errorName(error) })
    }
    const { id } = context.account
    return {
      system: options.system,
      context: fields,
      question: boundedQuestion(options.question?.(push) ?? push.content),
      memory,
      remembers: context.authenticated,
      timeoutMs: settings.timeoutMs,
      maxAttempts: settings.maxAttempts,
      maxTokens: settings.maxTokens,
      userPerHour: settings.userPerHour,
      accountPerHour: settings.accountPerHour,
      userPending: settings.userPending,
      letter: {
        type: 'job',
        ...(id !== ENV_ACCOUNT && { account: id }),
        key: context.key,
        push,
        receivedAt: Date.now(),
        job: context.job,
      },
    }
  }

  const now = async (push: TextMessage, context: NowContext<Env, S>) => {
    const { env, key } = context
    // A configured account or a platform authorizer: the assistant serves both alike.
    const account = findAccount(env, context.account.id)
    const user = userOf(env, context.account.id, push, key)
    if (assistantSettings(env).provider === null || !account || !user) return context.next()
    // Without customer-service messages (or without an AppID to send them), passive replies only.
    const passiveOnly = account.passiveOnly || account.talkBack === null
    const limitBytes = account.talkBack?.textLimitBytes ?? TEXT_LIMIT_BYTES
    const text = push.content.trim()
    // A plaintext body could be anyone's, posted as the user: it neither clears nor fetches
    // anything of theirs, and its question is answered from itself alone (the plan's `remembers`).
    if (text === resetWord && !context.authenticated) return reply.text(notices.reset)
    const fetches = passiveOnly && context.authenticated && text === fetchWord
    const op: AssistOp = text === resetWord ? 'reset' : fetches ? 'fetch' : 'ask'
    // The context gets what the budget leaves after the ask's own share, never more.
    const plan =
      op === 'ask'
        ? await planOf(env, push, context, context.msLeft() - ASK_MARGIN_MS - HANDOUT_MARGIN_MS)
        : undefined
    let result: AssistResult
    try {
      // Asked even past the budget: the user's object then queues the job itself.
      result = await user.assist({
        key,
        op,
        role: 'request',
        push,
        waitMs: context.msLeft() - HANDOUT_MARGIN_MS,
        ...(plan && { plan }),
        ...(passiveOnly && { passive: { limitBytes, more: notices.more } }),
      })
    } catch (error) {
      logProblem('assistant_unreachable', { key, error: errorName(error) })
      // WeChat's retry (or, with customer-service messages, the job) asks again.
      if (passiveOnly) context.hold()
      else if (!context.signal.aborted) context.defer()
      else if (plan) {
        // Past the budget the push was answered without its job, and its owner cannot be
        // asked to queue it: the job goes to the later queue from here.
        await env.LATER.send(plan.letter).catch((failure: unknown) =>
          logProblem('assistant_job_not_queued', { key, error: errorName(failure) }),
        )
      }
      return passiveOnly ? undefined : options.interim
    }
    switch (result.state) {
      case 'answered':
        if (op === 'reset') return reply.text(notices.reset)
        if (passiveOnly) {
          const more = result.part < result.parts - 1
          return reply.text(more ? `${result.text}\n${notices.more}` : result.text)
        }
        if (utf8Bytes(result.text) <= limitBytes) return reply.text(result.text)
        // Too long for one reply: the job sends it in parts.
        context.defer()
        return options.interim
      case 'accepted':
        return reply.text(notices.reset)
      case 'failed':
        return reply.text(notices.failed)
      case 'limited':
        return reply.text(notices.limited)
      case 'nothing':
        return reply.text(notices.nothing)
      case 'pending':
        if (!passiveOnly) {
          context.defer()
          return options.interim
        }
        if (lastAttempt(result.arrival, result.firstAt, Date.now())) {
          // The fetch word is not served to a plaintext push: the answer cannot be fetched.
          return reply.text(context.authenticated ? notices.waiting : notices.failed)
        }
        context.hold()
        return undefined
      case 'received':
      case 'delivered':
      case 'unknown':
      case 'purged':
        return undefined
      default:
        return result satisfies never
    }
  }

  const run = async (push: TextMessage, context: LaterContext<Env, S>) => {
    const { env, key } = context
    const user = userOf(env, context.account.id, push, key)
    if (!user) return
    // A reset whose push was deferred (the user's object unreachable then) is a reset here too,
    // never a question for the model; from a plaintext body it clears nothing, as on the request.
    if (push.content.trim() === resetWord) {
      if (context.authenticated) {
        const reset = await user.assist({ key, op: 'reset', role: 'job', push, waitMs: 0 })
        if (reset.state === 'purged') throw new UserPurgedError()
      }
      // A notice, not an answer: no rest of an earlier answer goes with it.
      await context.send(message.text(notices.reset))
      return user.assistDelivered(key)
    }
    const ask = (plan?: Plan) =>
      user.assist({ key, op: 'ask', role: 'job', push, waitMs: JOB_WAIT_MS, ...(plan && { plan }) })
    let result = await ask()
    if (result.state === 'unknown')
      result = await ask(await planOf(env, push, context, JOB_CONTEXT_MS))
    const deliverText = (text: string) => deliver(user, context, text, notices.rest)
    switch (result.state) {
      case 'answered':
        return deliverText(result.text)
      case 'failed':
        return deliverText(notices.failed)
      case 'limited':
        return deliverText(notices.limited)
      case 'pending':
        throw new AnswerNotReadyError('the answer is not ready yet')
      case 'purged':
        throw new UserPurgedError()
      default:
        return
    }
  }

  return later<TextMessage, Env, S>(run, {
    now,
    ...(options.name !== undefined && { name: options.name }),
  })
}

/**
 * Sends the answer through the user's outbox (once per push, whatever is redelivered), after
 * the rests earlier answers left, as much as the user's window carries (the user's object
 * keeps the rest for their next push), then lets the next answer go. A send refused for good
 * (the window closed) lets it go too, and the job ends as a dead letter naming why.
 */
async function deliver<S extends SessionSchema<S>>(
  user: DurableObjectStub<UserState>,
  context: LaterContext<Env, S>,
  text: string,
  restNotice: string,
): Promise<void> {
  const { key } = context
  const limitBytes = findAccount(context.env, context.account.id)?.talkBack?.textLimitBytes
  try {
    const messages = await user.assistDeliveries(
      key,
      text,
      limitBytes ?? TEXT_LIMIT_BYTES,
      restNotice,
    )
    for (const each of messages) await context.send(message.text(each))
  } catch (error) {
    if (error instanceof WechatApiError && error.failureClass === 'final') {
      await user.assistDelivered(key, false)
    }
    throw error
  }
  await user.assistDelivered(key)
}
