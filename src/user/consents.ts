/**
 * The user's consent ledger, per subscription template, and what became of the notifications
 * sent to them, in their object's tables (deleted with everything else on their purge).
 *
 * - A popup push (`subscribe_msg_popup_event`) records each template's `accept` or `reject`; a
 *   change push (`subscribe_msg_change_event`, from the user's settings) records rejects only,
 *   which is all WeChat pushes from there ("仅推送用户拒收通知":
 *   https://developers.weixin.qq.com/doc/service/guide/product/subscription_messages/push.html).
 * - Each acceptance of a one-time template allows one notification ("用户订阅一次，认证服务号可不限
 *   时间地下发一条对应的订阅通知": https://developers.weixin.qq.com/doc/service/Subscription_Messages/intro.html),
 *   so acceptances are counted and each one-time send spends one (`used` once none is left); a
 *   long-term template's acceptance allows any number.
 * - Each choice moves forward only: a push older than the state's own time (a late delivery)
 *   cannot undo a newer reject. WeChat's 43101 ("用户拒绝接受消息") clears the consent (`cleared`).
 * - A notification's result push is matched to its outbox entry: a `subscribe_msg_sent_event`
 *   by template (bizsend answers no msgid: the oldest entry of that template still without an
 *   outcome), a template message's TEMPLATESENDJOBFINISH by WeChat's msgid.
 *
 * Template ids, states, counts, msgids and outcomes only: never a notification's content.
 */

import { bodyAuthenticated, type PushMode } from '../wechat/envelope.ts'
import type { NotificationChannel, NotificationOutcome } from '../wechat/notification.ts'
import type { Push, SubscribeMsgChangeEvent, SubscribeMsgPopupEvent } from '../wechat/push.ts'

/** The table, made by the user's migration 4 (schema.ts). */
export const CONSENTS_TABLE = `CREATE TABLE consents (
     template_id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     credits INTEGER NOT NULL DEFAULT 0,
     at INTEGER NOT NULL
   ) WITHOUT ROWID;`

/**
 * A template's consent: `accepted` (acceptances to spend, or a long-term one), `used` (every
 * acceptance of a one-time template spent), `rejected` (by the user), `cleared` (WeChat refused
 * with 43101).
 */
export type ConsentState = 'accepted' | 'used' | 'rejected' | 'cleared'

/** What the admin view shows of a consent: the template and its state, nothing else. */
export interface Consent {
  readonly templateId: string
  readonly state: ConsentState
}

/** A user holds consents for this many templates at most; more are not recorded. */
export const MAX_CONSENTS = 100

/** The outbox's jobs of notifications: `notify:` and the caller's key. */
export const NOTIFY_JOB_PREFIX = 'notify:'

/**
 * Whether what the push says of a consent or of a notification's result may be recorded: only
 * from a body that is authenticated (`bodyAuthenticated`), since a plaintext one could be posted
 * for any OpenID by anyone holding one signed URL. True for a push that says nothing of either.
 * Its owner (UserState, or the ledger for a template message's result) asks before recording.
 */
export function notificationPushApplies(push: Push, mode: PushMode | null): boolean {
  const notification =
    push.kind === 'subscribe_msg_popup_event' ||
    push.kind === 'subscribe_msg_change_event' ||
    push.kind === 'subscribe_msg_sent_event' ||
    push.kind === 'template_send_job_finish'
  return !notification || (mode !== null && bodyAuthenticated(mode))
}

/** Records a popup's or a change's choices, each moving forward only (see the module comment). */
export function recordChoices(
  sql: SqlStorage,
  push: SubscribeMsgPopupEvent | SubscribeMsgChangeEvent,
): void {
  for (const { templateId, status } of push.items) {
    const choice = status.trim()
    const accepts = choice === 'accept' && push.kind === 'subscribe_msg_popup_event'
    if (!accepts && choice !== 'reject') continue
    const held = sql
      .exec('SELECT 1 FROM consents WHERE template_id = ?', templateId)
      .toArray().length
    if (held === 0 && countConsents(sql) >= MAX_CONSENTS) continue
    if (accepts) {
      // A reject newer than this acceptance stands; any other state counts it.
      sql.exec(
        `INSERT INTO consents (template_id, state, credits, at) VALUES (?1, 'accepted', 1, ?2)
         ON CONFLICT (template_id) DO UPDATE SET
           credits = CASE WHEN state IN ('rejected', 'cleared') AND ?2 < at THEN credits
                          WHEN state IN ('rejected', 'cleared') THEN 1
                          ELSE credits + 1 END,
           state = CASE WHEN state IN ('rejected', 'cleared') AND ?2 < at THEN state
                        ELSE 'accepted' END,
           at = max(at, ?2)`,
        templateId,
        push.createTime,
      )
    } else {
      sql.exec(
        `INSERT INTO consents (template_id, state, credits, at) VALUES (?1, 'rejected', 0, ?2)
         ON CONFLICT (template_id) DO UPDATE SET
           state = CASE WHEN ?2 >= at THEN 'rejected' ELSE state END,
           credits = CASE WHEN ?2 >= at THEN 0 ELSE credits END,
           at = max(at, ?2)`,
        templateId,
        push.createTime,
      )
    }
  }
}

function countConsents(sql: SqlStorage): number {
  return sql.exec<{ n: number }>('SELECT count(*) AS n FROM consents').one().n
}

/**
 * Whether the user's consent allows a notification of this template now: a first attempt of a
 * one-time template needs an acceptance left; a retry (of an attempt WeChat may have taken) or a
 * long-term template needs the template accepted and not rejected or cleared since.
 */
export function consentAllows(
  sql: SqlStorage,
  templateId: string,
  needs: 'an_acceptance' | 'no_refusal',
): boolean {
  const row = sql
    .exec<{ state: ConsentState; credits: number }>(
      'SELECT state, credits FROM consents WHERE template_id = ?',
      templateId,
    )
    .toArray()[0]
  if (!row) return false
  if (needs === 'an_acceptance') return row.state === 'accepted' && row.credits > 0
  return row.state === 'accepted' || row.state === 'used'
}

/** A one-time notification takes one acceptance; the last one leaves the template `used`. */
export function spendAcceptance(sql: SqlStorage, templateId: string): void {
  sql.exec(
    `UPDATE consents SET credits = max(0, credits - 1),
       state = CASE WHEN credits <= 1 THEN 'used' ELSE state END
     WHERE template_id = ? AND state = 'accepted'`,
    templateId,
  )
}

/** WeChat did not take the notification: its acceptance is given back, unless revoked since. */
export function restoreAcceptance(sql: SqlStorage, templateId: string): void {
  sql.exec(
    `UPDATE consents SET credits = credits + 1, state = 'accepted'
     WHERE template_id = ? AND state IN ('accepted', 'used')`,
    templateId,
  )
}

/** WeChat refused with 43101: the template is not accepted until the user accepts it again. */
export function clearConsent(sql: SqlStorage, templateId: string, atSeconds: number): void {
  sql.exec(
    `UPDATE consents SET state = 'cleared', credits = 0, at = max(at, ?2) WHERE template_id = ?1`,
    templateId,
    atSeconds,
  )
}

/** One item of a result push, matched or not to a notification sent. */
export interface MatchedOutcome {
  readonly channel: NotificationChannel
  readonly outcome: NotificationOutcome
  readonly matched: boolean
}

/**
 * A `subscribe_msg_sent_event` item's outcome, kept on the notification it reports: the one
 * that already carries its MsgID (the same result again), else the oldest of that template
 * without one. An entry WeChat's answer never reached (reserved, retried) counts as sent: the
 * result says WeChat took it.
 */
export function recordSentResult(
  sql: SqlStorage,
  templateId: string,
  msgId: string,
  outcome: NotificationOutcome,
): MatchedOutcome {
  const row = sql
    .exec<{ job: string }>(
      `SELECT job FROM outbox
       WHERE channel = 'subscription' AND template_id = ?1
         AND (msg_id = ?2 OR (msg_id IS NULL AND outcome IS NULL))
       ORDER BY msg_id IS NULL, state != 'sent', at
       LIMIT 1`,
      templateId,
      msgId,
    )
    .toArray()[0]
  if (row) {
    sql.exec(
      `UPDATE outbox SET msg_id = ?1, outcome = ?2, state = 'sent' WHERE job = ?3 AND idx = 0`,
      msgId,
      outcome,
      row.job,
    )
  }
  return { channel: 'subscription', outcome, matched: row !== undefined }
}

/** A TEMPLATESENDJOBFINISH's outcome, kept on the template message WeChat gave that msgid. */
export function recordTemplateResult(
  sql: SqlStorage,
  msgId: string,
  outcome: NotificationOutcome,
): MatchedOutcome {
  const written = sql.exec(
    `UPDATE outbox SET outcome = ?1 WHERE channel = 'template' AND msg_id = ?2`,
    outcome,
    msgId,
  ).rowsWritten
  return { channel: 'template', outcome, matched: written > 0 }
}

/** The user's consents, as the admin view shows them. */
export function consentsOf(sql: SqlStorage): Consent[] {
  return sql
    .exec<{ template_id: string; state: ConsentState }>(
      'SELECT template_id, state FROM consents ORDER BY template_id LIMIT ?',
      MAX_CONSENTS,
    )
    .toArray()
    .map((row) => ({ templateId: row.template_id, state: row.state }))
}

/** A notification as the admin view shows it: its key, template and fate, never its content. */
export interface NotificationRecord {
  /** The caller's idempotency key. */
  readonly key: string
  readonly channel: NotificationChannel
  readonly templateId: string
  /** `sent`: WeChat took it; `unconfirmed`: WeChat's answer never came, it may have it. */
  readonly state: 'sent' | 'unconfirmed'
  /** What WeChat's result push said; null until one came. */
  readonly outcome: NotificationOutcome | null
  /** Milliseconds since the epoch of its last change. */
  readonly at: number
}

/** The newest notifications shown in the admin view. */
export const MAX_NOTIFICATIONS_SHOWN = 20

export function notificationsOf(sql: SqlStorage): NotificationRecord[] {
  return sql
    .exec<{
      job: string
      channel: NotificationChannel
      template_id: string
      state: string
      outcome: NotificationOutcome | null
      at: number
    }>(
      `SELECT job, channel, template_id, state, outcome, at FROM outbox
       WHERE channel IS NOT NULL ORDER BY at DESC LIMIT ?`,
      MAX_NOTIFICATIONS_SHOWN,
    )
    .toArray()
    .map((row) => ({
      key: row.job.slice(NOTIFY_JOB_PREFIX.length),
      channel: row.channel,
      templateId: row.template_id,
      state: row.state === 'sent' ? 'sent' : 'unconfirmed',
      outcome: row.outcome,
      at: row.at,
    }))
}
