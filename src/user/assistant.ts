/**
 * The AI assistant's part of the user's object (UserState): the owner of one model call per
 * push and of the conversation's memory, deleted with the user by the purge.
 *
 * - A question is stored by its push's dedup key the first time anyone asks it (an attempt of
 *   the push, or its job): a retry, a concurrent attempt, a Queue redelivery or a replayed dead
 *   letter asks the same key and finds the call in flight or its answer, never a second call.
 * - Questions are answered one at a time, in the order they came (the model sees the turns
 *   before), and handed out in that order: an answer waits until the one before was delivered
 *   (or for {@link ORDER_HOLD_MS} at most).
 * - A call that fails is tried again with backoff, {@link Plan.maxAttempts} in all; a call lost
 *   with the object (an eviction, a deploy) is found by the object's alarm and counts as one.
 *   The last failure is kept as the answer's place (the user gets one notice) and dead-lettered.
 * - What was given passively is confirmed by the push's receipt ({@link UserAssistant.received}),
 *   what a job sent by the job ({@link UserAssistant.delivered}); an answer handed out whose
 *   push was answered without it (its handler ran past the budget) goes to the push's job.
 * - Once delivered, a question keeps no text: its row holds what once-per-push needs (key, state,
 *   times), kept as long as its job may come again; a reset clears the memory and any answer a
 *   job gave up on. Rows that made no call are trimmed by count, questions that made one by age
 *   alone. A user's hour of questions and their backlog waiting for the model are bounded.
 * - A job sends what the user's window carries; an answer's rest past it is kept here and goes
 *   first with the user's next answer (a ready one then goes through its job, not passively).
 */

import { callModel, ModelError } from '../assistant/model.ts'
import type { AssistantQuota } from '../assistant/quota.ts'
import {
  type MemoryBounds,
  messagesFor,
  type Plan,
  passiveParts,
  retryDelayMs,
  turnsToForget,
  utf8Bytes,
  windowedDelivery,
} from '../assistant/rules.ts'
import type { ModelProvider } from '../assistant/settings.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import type { DeadLetterInput } from '../queues/dead-letters.ts'
import type { QueuedJob } from '../queues/queued.ts'
import type { Push } from '../wechat/push.ts'

/** What is asked of the assistant: a question, a reset of the memory, or (passive-only) the next waiting answer. */
export type AssistOp = 'ask' | 'reset' | 'fetch'

export interface AssistRequest {
  /** The push's dedup key. */
  readonly key: string
  readonly op: AssistOp
  /** An attempt of the push on the request path, or its deferred job. */
  readonly role: 'request' | 'job'
  readonly push: Push
  /** How long to wait for the answer before saying `pending`. */
  readonly waitMs: number
  /** The question's plan; a job may leave it out, and is told `unknown` if none is stored. */
  readonly plan?: Plan
  /** An account without customer-service messages: answers cut for passive replies. */
  readonly passive?: { readonly limitBytes: number; readonly more: string }
}

export type AssistResult =
  /** The answer (or, passive, its next part), to give now. */
  | {
      readonly state: 'answered'
      readonly text: string
      readonly part: number
      readonly parts: number
    }
  /** The model failed for good (a dead letter says why): the user gets the failure notice. */
  | { readonly state: 'failed'; readonly reason: string }
  /**
   * Past the user's or the account's questions an hour, or past the user's questions waiting
   * at once (`backlog`): no call was made.
   */
  | { readonly state: 'limited'; readonly by: 'user' | 'account' | 'backlog' }
  /** Not ready within the wait: the call runs (or waits its turn, or its backoff). */
  | { readonly state: 'pending'; readonly arrival: number; readonly firstAt: number }
  /** A reset, taken in its place among the questions. */
  | { readonly state: 'accepted' }
  /** An attempt of a push an earlier attempt answered: the receipt replays that answer. */
  | { readonly state: 'received' }
  /** A job whose answer went out passively already. */
  | { readonly state: 'delivered' }
  /** Nothing waits to be fetched. */
  | { readonly state: 'nothing' }
  /** A job without a plan, and no question stored for its key. */
  | { readonly state: 'unknown' }
  /** The user unfollowed since the push: nothing is kept, nothing is asked. */
  | { readonly state: 'purged' }

/** What the assistant needs of its object. */
export interface AssistantHost {
  /** The tables if the object has any (a purge leaves none). */
  tables(): SqlStorage | null
  /**
   * The tables, made if there are none and the user may be given storage (the object's
   * admission); null when not, or when the push predates a purge.
   */
  beginTables(push: Push): Promise<SqlStorage | null>
  readonly storage: DurableObjectStorage
  wakeBy(at: number): Promise<void>
  /** Whether the push was received with a reply: an earlier attempt answered it. */
  replied(key: string): boolean
  /** Whether the user unfollowed after this push was sent. */
  predatesPurge(push: Push): boolean
  keepLetter(letter: DeadLetterInput): Promise<unknown>
  /** The account's quota of questions an hour. */
  quota(): DurableObjectStub<AssistantQuota>
  /** Who answers, from the deployment's settings; null when the assistant is off. */
  provider(): ModelProvider | null
  /** Queues a push's job on the later queue (a failure is logged, not thrown). */
  queueJob(job: QueuedJob): Promise<void>
}

/** An answer not delivered within this long no longer holds back the answers after it. */
export const ORDER_HOLD_MS = 5 * 60 * 1000
/** A call in flight counts as lost (the object went) this long after its timeout. */
export const LOST_AFTER_MS = 15_000
/**
 * At most this many rows that made no model call (pushes past a limit, fetches, resets) are kept
 * per user, newest first: a flood of them stays bounded. A question that made a call is never
 * trimmed by count, only by age (pruneAssistant): a redelivered or replayed job of it must find
 * it, and the user's hour of questions is counted from those rows.
 */
export const MAX_UNCALLED_ROWS = 500

type AskState = 'queued' | 'calling' | 'answered' | 'failed' | 'limited'

interface AskRow extends Record<string, SqlStorageValue> {
  key: string
  seq: number
  op: AssistOp
  plan: string | null
  state: AskState
  attempts: number
  due_at: number | null
  answer: string | null
  reason: string | null
  ref: string | null
  part: number | null
  parts: number
  offered: number | null
  parts_given: number
  arrivals: number
  first_at: number
  answered_at: number | null
  delivery: string | null
  delivered_at: number | null
  /** The push's job (a QueuedJob's JSON), for an account that can send customer-service messages. */
  letter: string | null
  /** What of the answer its window could not carry, for the user's next answer (migration 6). */
  rest: string | null
  /** The messages its job decided to send (a JSON array), the same for every redelivery. */
  sends: string | null
}

/** The tables, made by the user's schema (migration 5: src/user/schema.ts). */
export const ASSISTANT_TABLES = `CREATE TABLE assistant_asks (
     key TEXT PRIMARY KEY,
     seq INTEGER NOT NULL,
     op TEXT NOT NULL,
     plan TEXT,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     due_at INTEGER,
     answer TEXT,
     reason TEXT,
     ref TEXT,
     part INTEGER,
     parts INTEGER NOT NULL DEFAULT 1,
     offered INTEGER,
     parts_given INTEGER NOT NULL DEFAULT 0,
     arrivals INTEGER NOT NULL DEFAULT 0,
     first_at INTEGER NOT NULL,
     answered_at INTEGER,
     delivery TEXT,
     delivered_at INTEGER,
     letter TEXT,
     prompt_tokens INTEGER,
     completion_tokens INTEGER,
     at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE assistant_memory (
     seq INTEGER PRIMARY KEY,
     question TEXT NOT NULL,
     answer TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );`

/**
 * Migration 6: an answer's rest past its window, and the messages its job sends. The index
 * holds only the rows with a rest (almost always none), so that asking whether one is owed,
 * on every question, reads nothing of the others.
 */
export const ASSISTANT_RESTS = `ALTER TABLE assistant_asks ADD COLUMN rest TEXT;
   ALTER TABLE assistant_asks ADD COLUMN sends TEXT;
   CREATE INDEX assistant_rests ON assistant_asks (seq) WHERE rest IS NOT NULL;`

/** What a job's delivery may take: the window's room, the text limit, the notice of a rest. */
export interface DeliveryRoom {
  readonly room: number
  readonly limitBytes: number
  /** Ends the last message when the rest waits for the user's next push. */
  readonly notice: string
}

const HOUR_MS = 60 * 60 * 1000

/** Which limit a `limited` row met, from its stored reason. */
function limitOf(reason: string | null): 'user' | 'account' | 'backlog' {
  return reason === 'account' || reason === 'backlog' ? reason : 'user'
}

function rowOf(sql: SqlStorage, key: string): AskRow | undefined {
  return sql.exec<AskRow>('SELECT * FROM assistant_asks WHERE key = ?', key).toArray()[0]
}

/**
 * @example
 * const assistant = new UserAssistant(host)
 * const result = await assistant.assist({ key, op: 'ask', role: 'request', push, waitMs: 3_000, plan })
 */
export class UserAssistant {
  readonly #host: AssistantHost
  /** The one loop that makes calls, while it runs. */
  #pumping: Promise<void> | null = null
  /** Who waits for a change (an answer, a delivery). */
  readonly #waiting = new Set<() => void>()
  /** Questions being stored, by key: concurrent first asks store one. */
  readonly #creating = new Map<string, Promise<boolean>>()
  /**
   * Attempts of fetching pushes that found nothing ready yet, by key (kept in memory: such a
   * push stores nothing until it gets its part), so that WeChat's last attempt is known.
   */
  readonly #fetching = new Map<string, { arrivals: number; firstAt: number }>()

  constructor(host: AssistantHost) {
    this.#host = host
  }

  async assist(request: AssistRequest): Promise<AssistResult> {
    const { key, role } = request
    if (this.#host.predatesPurge(request.push)) return { state: 'purged' }
    if (role === 'request' && this.#host.replied(key)) {
      await this.#askedLate(request)
      return { state: 'received' }
    }
    if (request.op === 'fetch') return this.#fetch(request)
    const sql = this.#host.tables()
    let created = false
    if (!sql || !rowOf(sql, key)) {
      if (request.plan === undefined && request.op === 'ask') return { state: 'unknown' }
      created = await this.#create(request)
      if (created && role === 'request' && this.#host.replied(key)) {
        // The push was received while its question was stored: its receipt found none.
        await this.#takeOver(key)
        return { state: 'received' }
      }
    }
    // Every attempt of the push counts (the first with the row): WeChat's last must be known.
    const tables = this.#host.tables()
    if (!tables) return { state: 'purged' }
    if (role === 'request' && !created) {
      tables.exec('UPDATE assistant_asks SET arrivals = arrivals + 1 WHERE key = ?', key)
    }
    this.#kick()
    if (request.op === 'reset') return { state: 'accepted' }
    const deadline = Date.now() + Math.max(0, request.waitMs)
    for (;;) {
      const tables = this.#host.tables()
      const row = tables && rowOf(tables, key)
      if (!tables || !row) return { state: 'purged' }
      const result = this.#handOut(tables, row, request)
      if (result) return result
      const left = deadline - Date.now()
      if (left <= 0) return { state: 'pending', arrival: row.arrivals, firstAt: row.first_at }
      await this.#change(left)
    }
  }

  /**
   * A job sent its answer (`sent`), or gave up on it for good: the answers after it may go.
   * Sent, nothing of its text is kept but a rest the window could not carry (the outbox knows
   * what went, the memory keeps its turn); given up, the answer and the messages chosen for it
   * stay for a replay of the job's dead letter, until a reset or their age.
   */
  delivered(key: string, sent = true): void {
    const sql = this.#host.tables()
    if (!sql) return
    sql.exec(
      `UPDATE assistant_asks SET delivered_at = ?1, letter = NULL,
         answer = CASE WHEN ?3 THEN NULL ELSE answer END,
         sends = CASE WHEN ?3 THEN NULL ELSE sends END, at = ?1
       WHERE key = ?2 AND delivered_at IS NULL`,
      Date.now(),
      key,
      sent ? 1 : 0,
    )
    this.#notify()
  }

  /**
   * The messages the job of the push `key` sends for `text` (its answer or notice): the rests
   * earlier answers left, oldest first, then `text`, as many as `within.room` carries, the last
   * ending with the notice when a rest is left (kept on its row for the next answer's job).
   * Decided once and stored: a redelivered job sends the same messages at the same outbox
   * indexes, so none twice. With no room, `text` whole, decided nothing: its send is refused.
   */
  deliveries(sql: SqlStorage, key: string, text: string, within: DeliveryRoom): readonly string[] {
    const row = rowOf(sql, key)
    if (!row) return [text]
    if (row.sends !== null) return JSON.parse(row.sends) as string[]
    if (within.room <= 0) return [text]
    const owed = sql
      .exec<{ key: string; rest: string }>(
        'SELECT key, rest FROM assistant_asks WHERE rest IS NOT NULL AND key != ? ORDER BY seq',
        key,
      )
      .toArray()
    const { messages, rests } = windowedDelivery(
      [...owed.map((earlier) => earlier.rest), text],
      within.room,
      within.limitBytes,
      within.notice,
    )
    const now = Date.now()
    this.#host.storage.transactionSync(() => {
      for (const [i, earlier] of owed.entries()) {
        sql.exec(
          'UPDATE assistant_asks SET rest = ?, at = ? WHERE key = ?',
          rests[i] ?? null,
          now,
          earlier.key,
        )
      }
      sql.exec(
        'UPDATE assistant_asks SET sends = ?, rest = ?, at = ? WHERE key = ?',
        JSON.stringify(messages),
        rests.at(-1) ?? null,
        now,
        key,
      )
    })
    if (rests.some((rest) => rest !== null)) logEvent('assistant_rest_kept', { key })
    return messages
  }

  /**
   * The push `key` was received, by the rule every push is (UserState.receive): with a reply
   * that WeChat got, or with its job. A reply confirms what was handed out for it; a job takes
   * the delivery over.
   */
  received(
    sql: SqlStorage,
    key: string,
    outcome: { replied: boolean; deferred: boolean },
  ): QueuedJob | null {
    const row = rowOf(sql, key)
    if (!row) return null
    if (outcome.deferred) {
      sql.exec(`UPDATE assistant_asks SET delivery = 'job' WHERE key = ?`, key)
      return null
    }
    if (!outcome.replied && row.op === 'ask' && row.delivery === null && row.letter !== null) {
      // The push was answered with neither the answer nor its job (its handler ran past the
      // budget, the answer handed out or not): the job delivers it. The caller queues it.
      sql.exec(`UPDATE assistant_asks SET delivery = 'job' WHERE key = ?`, key)
      logProblem('assistant_reply_lost', { key })
      return JSON.parse(row.letter) as QueuedJob
    }
    if (!outcome.replied) return null
    if (row.op === 'fetch' && row.ref !== null && row.part !== null) {
      this.#given(sql, row.ref, row.part)
      // The receipt keeps the part given, for the fetching push's retries.
      sql.exec('UPDATE assistant_asks SET answer = NULL WHERE key = ?', key)
    } else if (row.op !== 'fetch' && row.offered !== null) this.#given(sql, key, row.offered)
    this.#notify()
    return null
  }

  /**
   * A question asked after its push was received (its handler was past the reply budget before
   * it asked): stored now, and its job queued from here, since the receipt found nothing to
   * hand it. Without customer-service messages there is no job: WeChat's retry asks again.
   */
  async #askedLate(request: AssistRequest): Promise<void> {
    if (request.op !== 'ask' || request.plan === undefined || request.passive) return
    const sql = this.#host.tables()
    if (sql && rowOf(sql, request.key)) return
    if (await this.#create(request)) await this.#takeOver(request.key)
  }

  /** The push's answer is its job's to deliver: the job is queued here (once per question). */
  async #takeOver(key: string): Promise<void> {
    const sql = this.#host.tables()
    const row = sql && rowOf(sql, key)
    if (!sql || !row || row.letter === null || row.delivery !== null) return
    sql.exec(`UPDATE assistant_asks SET delivery = 'job' WHERE key = ?`, key)
    logProblem('assistant_reply_lost', { key })
    this.#kick()
    await this.#host.queueJob(JSON.parse(row.letter) as QueuedJob)
  }

  /** The alarm's part: a question due (after its backoff), or a call lost with the object. */
  async resume(): Promise<void> {
    this.#kick()
    await this.#pumping
  }

  /**
   * Stores a new question (or reset) once, whoever asks first; rate limits are met here. True
   * for the ask that stored it (its arrival counted with the row).
   */
  async #create(request: AssistRequest): Promise<boolean> {
    const pending = this.#creating.get(request.key)
    if (pending) {
      await pending
      return false
    }
    const creating = this.#store(request).finally(() => this.#creating.delete(request.key))
    this.#creating.set(request.key, creating)
    return creating
  }

  async #store(request: AssistRequest): Promise<boolean> {
    const { key, op, plan } = request
    const now = Date.now()
    let state: AskState = 'queued'
    let reason: string | null = null
    if (op === 'ask' && plan) {
      const asked = this.#host.tables()
      // Counted from rows no trim deletes within the hour (trimAsks spares every call).
      const lastHour = asked
        ? asked
            .exec<{ n: number }>(
              `SELECT count(*) AS n FROM assistant_asks WHERE op = 'ask' AND first_at > ? AND state != 'limited'`,
              now - HOUR_MS,
            )
            .one().n
        : 0
      // A backlog is bounded too: each question waiting costs a row and, in turn, a call.
      const pending = asked
        ? asked
            .exec<{ n: number }>(
              `SELECT count(*) AS n FROM assistant_asks WHERE op = 'ask' AND state IN ('queued', 'calling')`,
            )
            .one().n
        : 0
      if (pending >= plan.userPending) {
        state = 'limited'
        reason = 'backlog'
      } else if (lastHour >= plan.userPerHour) {
        state = 'limited'
        reason = 'user'
      } else if (!(await this.#quotaAllows(plan.accountPerHour))) {
        state = 'limited'
        reason = 'account'
      }
    }
    if (this.#host.predatesPurge(request.push)) return false
    const sql = await this.#host.beginTables(request.push)
    if (!sql || rowOf(sql, key)) return false
    const seq =
      sql.exec<{ seq: number | null }>('SELECT max(seq) AS seq FROM assistant_asks').one().seq ?? 0
    sql.exec(
      `INSERT INTO assistant_asks (key, seq, op, plan, state, due_at, reason, arrivals, first_at, answered_at, letter, at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      key,
      seq + 1,
      op,
      state === 'queued' && plan ? JSON.stringify(plan) : null,
      state,
      state === 'queued' ? now : null,
      reason,
      request.role === 'request' ? 1 : 0,
      now,
      state === 'limited' ? now : null,
      // Without customer-service messages there is no job to fall back on.
      plan && !request.passive ? JSON.stringify(plan.letter) : null,
      now,
    )
    if ((seq + 1) % 50 === 0) trimAsks(sql)
    if (state === 'limited') logEvent('assistant_limited', { key, by: reason ?? '' })
    return true
  }

  /** The account's quota; one that cannot be asked lets the question through (and says so). */
  async #quotaAllows(limit: number): Promise<boolean> {
    try {
      return await this.#host.quota().take(limit)
    } catch (error) {
      logProblem('assistant_quota_unavailable', { error: errorName(error) })
      return true
    }
  }

  /** What to answer for this row now, or null while it is not ready (or waits its turn). */
  #handOut(sql: SqlStorage, row: AskRow, request: AssistRequest): AssistResult | null {
    if (request.role === 'request' && owesRest(sql)) {
      // An earlier answer's rest goes first, and only a job can send it: this one goes with it.
      return { state: 'pending', arrival: row.arrivals, firstAt: row.first_at }
    }
    if (row.state === 'queued' || row.state === 'calling') return null
    if (row.state === 'answered' || row.state === 'failed') {
      if (this.#heldBack(sql, row)) return null
    }
    if (request.role === 'job') {
      if (row.delivery === 'passive' && row.delivered_at !== null) return { state: 'delivered' }
      // Sent by an earlier run of this job: its text is gone, and the outbox sends nothing twice.
      if (row.delivered_at !== null && row.answer === null && row.state === 'answered') {
        return { state: 'delivered' }
      }
      if (row.delivery !== 'job') {
        sql.exec(`UPDATE assistant_asks SET delivery = 'job' WHERE key = ?`, row.key)
      }
      return this.#resultOf(row, row.answer ?? '', 0, 1)
    }
    // Given already (an attempt held while a fetch gave it): its text is gone, nothing to add.
    if (row.delivered_at !== null && row.answer === null && row.state === 'answered') {
      return { state: 'delivered' }
    }
    // Passive: the next part not yet given (all of it, when answers are not cut).
    const parts =
      request.passive && row.answer !== null
        ? passiveParts(row.answer, request.passive.limitBytes, request.passive.more)
        : [row.answer ?? '']
    const part = Math.min(row.parts_given, parts.length - 1)
    sql.exec(
      'UPDATE assistant_asks SET offered = ?, parts = ? WHERE key = ?',
      part,
      parts.length,
      row.key,
    )
    return this.#resultOf(row, parts[part] ?? '', part, parts.length)
  }

  #resultOf(row: AskRow, text: string, part: number, parts: number): AssistResult {
    if (row.state === 'limited') return { state: 'limited', by: limitOf(row.reason) }
    if (row.state === 'failed') return { state: 'failed', reason: row.reason ?? 'model' }
    return { state: 'answered', text, part, parts }
  }

  /** Whether an earlier answer, not yet delivered, holds this one back (for a while at most). */
  #heldBack(sql: SqlStorage, row: AskRow): boolean {
    const waiting = sql
      .exec<{ n: number }>(
        `SELECT count(*) AS n FROM assistant_asks
          WHERE op = 'ask' AND seq < ? AND state IN ('answered', 'failed')
            AND delivered_at IS NULL AND answered_at > ?`,
        row.seq,
        Date.now() - ORDER_HOLD_MS,
      )
      .one().n
    return waiting > 0
  }

  /**
   * Confirms part `part` of a question given: it is delivered once every part is, and then
   * keeps nothing of its text (the push's receipt keeps the reply for WeChat's retries).
   */
  #given(sql: SqlStorage, key: string, part: number): void {
    const now = Date.now()
    sql.exec(
      `UPDATE assistant_asks SET
         parts_given = max(parts_given, ?1 + 1),
         delivery = coalesce(delivery, 'passive'),
         delivered_at = CASE WHEN delivered_at IS NULL AND ?1 + 1 >= parts THEN ?2 ELSE delivered_at END,
         answer = CASE WHEN ?1 + 1 >= parts THEN NULL ELSE answer END,
         letter = NULL,
         at = ?2
       WHERE key = ?3`,
      part,
      now,
      key,
    )
  }

  /**
   * The next part of the oldest answer not yet delivered, for a passive-only account's fetch
   * word; the same part for every attempt of the fetching push.
   */
  async #fetch(request: AssistRequest): Promise<AssistResult> {
    const deadline = Date.now() + Math.max(0, request.waitMs)
    for (;;) {
      const sql = this.#host.tables()
      if (!sql) return { state: 'nothing' }
      const given = rowOf(sql, request.key)
      if (given) {
        sql.exec('UPDATE assistant_asks SET arrivals = arrivals + 1 WHERE key = ?', request.key)
        return given.state === 'failed'
          ? { state: 'failed', reason: given.reason ?? 'model' }
          : {
              state: 'answered',
              text: given.answer ?? '',
              part: given.part ?? 0,
              parts: given.parts,
            }
      }
      const target = sql
        .exec<AskRow>(
          `SELECT * FROM assistant_asks WHERE op = 'ask' AND state != 'limited'
             AND delivered_at IS NULL ORDER BY seq LIMIT 1`,
        )
        .toArray()[0]
      if (!target) return { state: 'nothing' }
      if (target.state === 'answered' || target.state === 'failed') {
        const parts =
          target.answer !== null && request.passive
            ? passiveParts(target.answer, request.passive.limitBytes, request.passive.more)
            : [target.answer ?? '']
        const part = Math.min(target.parts_given, parts.length - 1)
        const now = Date.now()
        const seq =
          sql.exec<{ seq: number | null }>('SELECT max(seq) AS seq FROM assistant_asks').one()
            .seq ?? 0
        sql.exec(
          `INSERT INTO assistant_asks (key, seq, op, state, answer, reason, ref, part, parts, arrivals, first_at, at)
           VALUES (?, ?, 'fetch', ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
          request.key,
          seq + 1,
          target.state,
          target.state === 'answered' ? (parts[part] ?? '') : null,
          target.reason,
          target.key,
          part,
          parts.length,
          now,
          now,
        )
        sql.exec('UPDATE assistant_asks SET parts = ? WHERE key = ?', parts.length, target.key)
        return target.state === 'failed'
          ? { state: 'failed', reason: target.reason ?? 'model' }
          : { state: 'answered', text: parts[part] ?? '', part, parts: parts.length }
      }
      const left = deadline - Date.now()
      if (left <= 0) {
        // The fetching push holds like a question: its retry may find the answer.
        const seen = this.#fetching.get(request.key) ?? { arrivals: 0, firstAt: Date.now() }
        const now = { arrivals: seen.arrivals + 1, firstAt: seen.firstAt }
        this.#fetching.delete(request.key)
        this.#fetching.set(request.key, now)
        if (this.#fetching.size > 100) {
          const oldest = this.#fetching.keys().next()
          if (!oldest.done) this.#fetching.delete(oldest.value)
        }
        return { state: 'pending', arrival: now.arrivals, firstAt: now.firstAt }
      }
      this.#kick()
      await this.#change(left)
    }
  }

  #kick(): void {
    this.#pumping ??= this.#pump().finally(() => {
      this.#pumping = null
    })
  }

  /** Answers the questions in order, one call at a time, until none is due. */
  async #pump(): Promise<void> {
    for (;;) {
      const sql = this.#host.tables()
      if (!sql) return
      const head = sql
        .exec<AskRow>(
          `SELECT * FROM assistant_asks WHERE state IN ('queued', 'calling') ORDER BY seq LIMIT 1`,
        )
        .toArray()[0]
      if (!head) return
      const now = Date.now()
      if (head.state === 'calling') {
        // This loop makes one call at a time and finishes it before it looks again: a call in
        // flight here was lost with an earlier instance of the object.
        logProblem('assistant_call_lost', { key: head.key, attempts: head.attempts })
        this.#failed(sql, head, new ModelError('timeout'))
        continue
      }
      if (head.due_at !== null && head.due_at > now) {
        await this.#host.wakeBy(head.due_at)
        return
      }
      if (head.op === 'reset') {
        this.#host.storage.transactionSync(() => {
          // Forgotten: the memory, and an earlier answer's text still kept (one given up on, a
          // rest the window could not carry); an answer not yet delivered is the user's still,
          // and goes with its delivery.
          sql.exec('DELETE FROM assistant_memory')
          sql.exec(
            `UPDATE assistant_asks SET answer = NULL, rest = NULL, sends = NULL
             WHERE seq < ? AND delivered_at IS NOT NULL`,
            head.seq,
          )
          sql.exec(
            `UPDATE assistant_asks SET state = 'answered', answered_at = ?1, delivered_at = ?1, due_at = NULL, at = ?1 WHERE key = ?2`,
            now,
            head.key,
          )
        })
        this.#notify()
        continue
      }
      await this.#call(sql, head)
    }
  }

  /** One attempt of a question's call; its outcome stored unless the user went meanwhile. */
  async #call(sql: SqlStorage, head: AskRow): Promise<void> {
    const plan = JSON.parse(head.plan ?? 'null') as Plan | null
    if (plan === null) {
      this.#failed(sql, head, new ModelError('malformed'))
      return
    }
    const started = Date.now()
    const attempt = head.attempts + 1
    const lostAt = started + plan.timeoutMs + LOST_AFTER_MS
    sql.exec(
      `UPDATE assistant_asks SET state = 'calling', attempts = ?, due_at = ?, at = ? WHERE key = ?`,
      attempt,
      lostAt,
      started,
      head.key,
    )
    await this.#host.wakeBy(lostAt)
    const provider = this.#host.provider()
    // A plan stored before plans said so remembers nothing: the safe reading.
    const remembers = plan.remembers === true
    const memory = remembers
      ? sql
          .exec<{ question: string; answer: string }>(
            'SELECT question, answer FROM assistant_memory WHERE expires_at > ? ORDER BY seq',
            started,
          )
          .toArray()
      : []
    let outcome:
      | { text: string; promptTokens: number | null; completionTokens: number | null }
      | ModelError
    try {
      if (provider === null) throw new ModelError('off')
      outcome = await callModel(
        provider,
        messagesFor(plan.system, plan.context, memory, plan.question),
        { maxTokens: plan.maxTokens, timeoutMs: plan.timeoutMs },
      )
    } catch (error) {
      outcome = error instanceof ModelError ? error : new ModelError('unreachable')
    }
    // The purge may have deleted everything while the model answered: nothing is written then.
    const tables = this.#host.tables()
    const row = tables && rowOf(tables, head.key)
    if (!tables || !row || row.state !== 'calling' || row.attempts !== attempt) return
    if (outcome instanceof ModelError) {
      this.#failed(tables, row, outcome)
      return
    }
    const answer = outcome
    const now = Date.now()
    this.#host.storage.transactionSync(() => {
      tables.exec(
        `UPDATE assistant_asks SET state = 'answered', answer = ?, plan = NULL, due_at = NULL,
           answered_at = ?, prompt_tokens = ?, completion_tokens = ?, at = ? WHERE key = ?`,
        answer.text,
        now,
        answer.promptTokens,
        answer.completionTokens,
        now,
        head.key,
      )
      if (remembers) remember(tables, plan.question, answer.text, plan.memory, now)
    })
    logEvent('assistant_answered', {
      key: head.key,
      provider: provider?.kind ?? 'off',
      attempts: attempt,
      ms: now - started,
      promptTokens: answer.promptTokens,
      completionTokens: answer.completionTokens,
    })
    this.#notify()
  }

  /** A failed attempt: tried again after its backoff, or, past the last, kept as failed. */
  #failed(sql: SqlStorage, row: AskRow, error: ModelError): void {
    const plan = JSON.parse(row.plan ?? 'null') as Plan | null
    const attempts = Math.max(row.attempts, 1)
    const now = Date.now()
    if (plan !== null && error.retryable && attempts < plan.maxAttempts) {
      const delayMs = retryDelayMs(attempts, error.retryAfterMs)
      sql.exec(
        `UPDATE assistant_asks SET state = 'queued', due_at = ?, at = ? WHERE key = ?`,
        now + delayMs,
        now,
        row.key,
      )
      logProblem('assistant_retry', { key: row.key, attempts, delayMs, reason: error.reason })
      this.#host.wakeBy(now + delayMs).catch(() => {})
      return
    }
    sql.exec(
      `UPDATE assistant_asks SET state = 'failed', reason = ?, plan = NULL, due_at = NULL,
         answered_at = ?, at = ? WHERE key = ?`,
      error.reason,
      now,
      now,
      row.key,
    )
    logProblem('assistant_failed', { key: row.key, attempts, reason: error.reason })
    if (plan !== null) {
      this.#host
        .keepLetter({ queued: plan.letter, attempts, reason: error.reason })
        .catch((failure: unknown) =>
          logProblem('dead_letter_failed', { key: row.key, error: errorName(failure) }),
        )
    }
    this.#notify()
  }

  /** Resolves at the next change, or after `ms`. */
  #change(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiting.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#waiting.add(done)
    })
  }

  #notify(): void {
    for (const wake of [...this.#waiting]) wake()
  }
}

/** Whether an answer's rest waits for the user's next answer. */
function owesRest(sql: SqlStorage): boolean {
  return (
    sql.exec('SELECT seq FROM assistant_asks WHERE rest IS NOT NULL LIMIT 1').toArray().length > 0
  )
}

/**
 * Deletes questions finished `retentionMs` ago (the outbox's retention: a replayed dead letter
 * of their job must find them, not call the model again) and memory past its hours; trims the
 * rows that made no call (trimAsks).
 */
export function pruneAssistant(sql: SqlStorage, now: number, retentionMs: number): void {
  sql.exec(
    `DELETE FROM assistant_asks WHERE at <= ? AND state NOT IN ('queued', 'calling')`,
    now - retentionMs,
  )
  trimAsks(sql)
  sql.exec('DELETE FROM assistant_memory WHERE expires_at <= ?', now)
}

/**
 * Keeps the newest {@link MAX_UNCALLED_ROWS} finished rows that made no call. Trimming one is
 * harmless: its push's job, asked again, makes no second call (it made none), where trimming a
 * question that made one would let it call again and would shorten the user's hour.
 */
function trimAsks(sql: SqlStorage): void {
  sql.exec(
    `DELETE FROM assistant_asks WHERE key IN (
       SELECT key FROM assistant_asks
        WHERE (op != 'ask' OR state = 'limited') AND state NOT IN ('queued', 'calling')
        ORDER BY seq DESC LIMIT -1 OFFSET ?)`,
    MAX_UNCALLED_ROWS,
  )
}

/**
 * When the assistant's tables need the object's alarm: the head of the queue's due time (a
 * backoff ends, or a call in flight counts as lost; the questions behind it wait for it), the
 * first finished question's expiry, the first memory turn's.
 */
export function assistantWakes(sql: SqlStorage, retentionMs: number): (number | null)[] {
  const row = sql
    .exec<{ due: number | null; asks: number | null; memory: number | null }>(
      `SELECT
         (SELECT due_at FROM assistant_asks WHERE state IN ('queued', 'calling') ORDER BY seq LIMIT 1) AS due,
         (SELECT min(at) FROM assistant_asks WHERE state NOT IN ('queued', 'calling')) AS asks,
         (SELECT min(expires_at) FROM assistant_memory) AS memory`,
    )
    .one()
  return [row.due, row.asks === null ? null : row.asks + retentionMs, row.memory]
}

/** Adds a turn to the memory, then forgets the oldest until its bounds hold. */
function remember(
  sql: SqlStorage,
  question: string,
  answer: string,
  bounds: MemoryBounds,
  now: number,
): void {
  if (bounds.turns <= 0) return
  sql.exec(
    'INSERT INTO assistant_memory (question, answer, bytes, expires_at) VALUES (?, ?, ?, ?)',
    question,
    answer,
    utf8Bytes(question) + utf8Bytes(answer),
    now + bounds.hours * HOUR_MS,
  )
  const turns = sql
    .exec<{ seq: number; bytes: number }>('SELECT seq, bytes FROM assistant_memory ORDER BY seq')
    .toArray()
  const forget = turnsToForget(
    turns.map((turn) => turn.bytes),
    bounds,
  )
  const last = turns[forget - 1]
  if (last) sql.exec('DELETE FROM assistant_memory WHERE seq <= ?', last.seq)
}
