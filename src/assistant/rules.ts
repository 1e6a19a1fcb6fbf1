/**
 * The assistant's rules, pure: what a question carries to the user's object (its plan), the
 * prompt built from it and the conversation's memory, how memory is bounded, how long a failed
 * call waits before the next attempt, when a held attempt is WeChat's last, and how an answer
 * is cut for passive replies or for a window with too little room. The user's object (src/user/assistant.ts) applies them.
 */

import type { QueuedJob } from '../queues/queued.ts'
import { splitText } from '../wechat/split-text.ts'
import type { ChatMessage } from './model.ts'

/** What the bot chose to tell the model of the push and the user. */
export type ContextFields = Readonly<Record<string, string | number | boolean | null>>

/** How much of the conversation is kept: turns (a question and its answer), bytes, hours. */
export interface MemoryBounds {
  readonly turns: number
  readonly bytes: number
  readonly hours: number
}

export const DEFAULT_MEMORY: MemoryBounds = { turns: 10, bytes: 8_000, hours: 24 }

/** A question's text past this many bytes of UTF-8 is cut (WeChat's own texts are shorter). */
export const MAX_QUESTION_BYTES = 4_000

/**
 * Everything the user's object needs to ask the model, once, whoever asks it first (an attempt
 * of the push, or its job): stored with the question until it is answered.
 */
export interface Plan {
  readonly system: string
  readonly context: ContextFields
  readonly question: string
  readonly memory: MemoryBounds
  /**
   * Whether the call reads the conversation's memory and adds its turn to it: only for a push
   * whose body is authenticated, since a plaintext one could be anyone's, posted as the user.
   */
  readonly remembers: boolean
  readonly timeoutMs: number
  readonly maxAttempts: number
  readonly maxTokens: number
  readonly userPerHour: number
  readonly accountPerHour: number
  /** Questions of the user's waiting for the model at most (a backlog past it is `limited`). */
  readonly userPending: number
  /** The dead letter kept if the model fails for good: the push's job on the later queue. */
  readonly letter: QueuedJob
}

/** One remembered exchange. */
export interface Turn {
  readonly question: string
  readonly answer: string
}

/**
 * The messages of one call: the system prompt (with the context the bot chose, marked as the
 * account's, not the user's), the remembered turns, oldest first, then the question.
 *
 * @example
 * messagesFor('Answer briefly.', { account: 'shop' }, [], 'hi')
 */
export function messagesFor(
  system: string,
  context: ContextFields,
  memory: readonly Turn[],
  question: string,
): ChatMessage[] {
  const lines = Object.entries(context).map(([name, value]) => `- ${name}: ${String(value)}`)
  const prompt =
    lines.length === 0
      ? system
      : `${system}\n\nContext from the account (not written by the user):\n${lines.join('\n')}`
  return [
    { role: 'system', content: prompt },
    ...memory.flatMap((turn): ChatMessage[] => [
      { role: 'user', content: turn.question },
      { role: 'assistant', content: turn.answer },
    ]),
    { role: 'user', content: question },
  ]
}

export function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length
}

/** The question as asked: cut between characters at {@link MAX_QUESTION_BYTES}. */
export function boundedQuestion(text: string): string {
  if (utf8Bytes(text) <= MAX_QUESTION_BYTES) return text
  return splitText(text, MAX_QUESTION_BYTES)[0] ?? ''
}

/**
 * How many of the oldest turns to forget so that what is kept holds both bounds (newest kept
 * first; a single turn over the byte bound is kept alone rather than losing the last answer).
 *
 * @example
 * turnsToForget([100, 100, 100], { turns: 2, bytes: 1000, hours: 24 }) // 1
 */
export function turnsToForget(bytesOldestFirst: readonly number[], bounds: MemoryBounds): number {
  let kept = 0
  let bytes = 0
  for (let i = bytesOldestFirst.length - 1; i >= 0; i--) {
    const size = bytesOldestFirst[i] ?? 0
    if (kept >= bounds.turns || (kept > 0 && bytes + size > bounds.bytes)) break
    kept++
    bytes += size
  }
  return bytesOldestFirst.length - kept
}

/**
 * The wait before attempt `attempt + 1` after a failure: 2 s, then 8 s, 32 s, at most a minute,
 * or what the endpoint asked for (Retry-After) if longer, still at most a minute.
 */
export function retryDelayMs(attempt: number, retryAfterMs: number | null): number {
  const backoff = 2_000 * 4 ** Math.max(0, attempt - 1)
  return Math.min(60_000, Math.max(backoff, retryAfterMs ?? 0))
}

/**
 * The attempts of a push WeChat is counted on to make. Its passive-reply page says that with no
 * answer in 5 s it "重新发起请求，总共重试三次" ("a maximum of three retries", in English): up
 * to four attempts, but the third arrival has been seen to be the last, so three is the safe
 * count (a fourth, should it come, replays the third's answer).
 */
export const WECHAT_ATTEMPTS = 3
export const WECHAT_RETRY_MS = 5_000

/**
 * Whether this attempt of a push may be WeChat's last: the third the user's object has seen,
 * or one that comes when the third would (9 s after the first: an attempt lost on the way is
 * not waited for). It must answer, never hold: after the last WeChat tells the user the
 * account failed.
 */
export function lastAttempt(arrival: number, firstAt: number, now: number): boolean {
  return (
    arrival >= WECHAT_ATTEMPTS || now - firstAt >= (WECHAT_ATTEMPTS - 1) * WECHAT_RETRY_MS - 1_000
  )
}

/**
 * An answer's parts for passive replies of `limitBytes`, each but the last leaving room for the
 * hint that asks for the next (`more`); joined, the parts are the answer.
 */
export function passiveParts(answer: string, limitBytes: number, more: string): string[] {
  if (utf8Bytes(answer) <= limitBytes) return [answer]
  return splitText(answer, Math.max(64, limitBytes - utf8Bytes(more) - 1))
}

/** What one delivery sends of the texts owed to a user, and what is left of each. */
export interface WindowedDelivery {
  /** The messages, each within the text limit, in order. */
  readonly messages: readonly string[]
  /** Per text, in the order given: what is left for the user's next interaction, or null. */
  readonly rests: readonly (string | null)[]
}

/**
 * The messages that carry `texts` (earlier answers' rests, then an answer), in order and in
 * parts of `limitBytes`, within `room` messages. When they do not all fit, the last message
 * sent ends with `notice` (on a line of its own) and the rest of each text is left; joined
 * without the notice, what is sent and what is left are the texts. With no room, nothing.
 *
 * @example
 * windowedDelivery([answer], 5, 2048, '(The rest comes when you write again.)')
 */
export function windowedDelivery(
  texts: readonly string[],
  room: number,
  limitBytes: number,
  notice: string,
): WindowedDelivery {
  const parts = texts.flatMap((text, owner) =>
    splitText(text, limitBytes).map((part) => ({ owner, part })),
  )
  if (parts.length <= room) {
    return { messages: parts.map(({ part }) => part), rests: texts.map(() => null) }
  }
  const sent = texts.map(() => 0)
  const messages: string[] = []
  if (room > 0) {
    for (const { owner, part } of parts.slice(0, room - 1)) {
      messages.push(part)
      sent[owner] = (sent[owner] ?? 0) + part.length
    }
    // The last message: as much of what comes next as leaves room for the notice.
    const next = parts[room - 1]
    if (next) {
      const left = (texts[next.owner] ?? '').slice(sent[next.owner])
      const chunkBytes = Math.max(64, limitBytes - utf8Bytes(notice) - 1)
      const chunk = splitText(left, chunkBytes)[0] ?? ''
      messages.push(`${chunk}\n${notice}`)
      sent[next.owner] = (sent[next.owner] ?? 0) + chunk.length
    }
  }
  const rests = texts.map((text, owner) => {
    const rest = text.slice(sent[owner])
    return rest === '' ? null : rest
  })
  return { messages, rests }
}
