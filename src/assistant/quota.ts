/**
 * AssistantQuota: one Durable Object per account, which bounds how many questions the account's
 * users may put to the model in an hour (AI_ACCOUNT_PER_HOUR), whoever asks. Each user's object
 * takes one place per new question; an hour's count is one row, and the hour before is dropped
 * when the next begins. Holds no OpenID and no content.
 */

import { DurableObject } from 'cloudflare:workers'

const HOUR_MS = 60 * 60 * 1000

export class AssistantQuota extends DurableObject<Cloudflare.Env> {
  #made = false

  #sql(): SqlStorage {
    const sql = this.ctx.storage.sql
    if (!this.#made) {
      sql.exec(
        'CREATE TABLE IF NOT EXISTS hours (hour INTEGER PRIMARY KEY, taken INTEGER NOT NULL)',
      )
      this.#made = true
    }
    return sql
  }

  /**
   * Takes one place in this hour's `limit`: true when there was one.
   *
   * @example
   * if (!(await objectsOf(env, account).assistantQuota().take(1000))) refuse()
   */
  take(limit: number): boolean {
    const sql = this.#sql()
    const hour = Math.floor(Date.now() / HOUR_MS)
    const taken = sql
      .exec<{ taken: number }>(
        `INSERT INTO hours (hour, taken) VALUES (?1, 1)
         ON CONFLICT (hour) DO UPDATE SET taken = taken + 1 WHERE taken < ?2
         RETURNING taken`,
        hour,
        limit,
      )
      .toArray()
    if (taken.length === 0) return false
    if (taken[0]?.taken === 1) sql.exec('DELETE FROM hours WHERE hour < ?', hour)
    return limit >= 1
  }

  /** This hour's count, for the operator and the tests. */
  taken(): number {
    const hour = Math.floor(Date.now() / HOUR_MS)
    const row = this.#sql()
      .exec<{ taken: number }>('SELECT taken FROM hours WHERE hour = ?', hour)
      .toArray()[0]
    return row?.taken ?? 0
  }
}
