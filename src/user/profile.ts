/**
 * The profile: one row per user, each field moved forward only (a push older than what a field
 * holds leaves it), and what the admin API and the console read of a user: the profile, the
 * session's keys and size, the recent pushes. No content of a message is stored.
 */

import { isKeyedMenuEvent, type Push, type PushKind } from '../wechat/push.ts'
import { windowOpenedBy } from '../wechat/windows.ts'
import { type Consent, consentsOf, type NotificationRecord, notificationsOf } from './consents.ts'
import { WINDOW_COLUMNS } from './schema.ts'
import { sessionBytes, sessionRows } from './session-rows.ts'

export const MAX_RECENT_PUSHES = 20

/** The admin API's view of a user: what `GET /admin/users/:openid` answers. */
export interface UserSnapshot {
  readonly openid: string
  readonly subscribed: boolean
  readonly subscribedAt: number | null
  readonly scene: string | null
  readonly location: {
    readonly latitude: number
    readonly longitude: number
    readonly precision: number
    readonly at: number
  } | null
  readonly lastMenuKey: string | null
  readonly eventCount: number
  /** The session's keys and size in bytes: never its values. */
  readonly session: { readonly keys: readonly string[]; readonly bytes: number }
  /** The user's consent per subscription template: template ids and states only. */
  readonly consents: readonly Consent[]
  /** The latest notifications sent, newest first: keys, templates and outcomes, no content. */
  readonly notifications: readonly NotificationRecord[]
}

export interface RecentPush {
  readonly key: string
  readonly kind: PushKind
  readonly createTime: number
  /** Milliseconds since the epoch when it was applied. */
  readonly appliedAt: number
}

export interface ProfileRow extends Record<string, SqlStorageValue> {
  openid: string
  subscribed: number
  subscribed_at: number | null
  subscription_at: number
  scene: string | null
  scene_at: number
  latitude: number | null
  longitude: number | null
  precision: number | null
  location_at: number
  last_menu_key: string | null
  menu_at: number
  event_count: number
}

/**
 * The profile's one upsert for a push: counted, and each field it carries moved forward only (a
 * push older than what a field holds leaves it). One statement, so one row written.
 */
export function profileUpsert(owner: string, push: Push): [string, ...SqlStorageValue[]] {
  // The window this push opens is kept in the same row (?2 is the push's CreateTime): a newer
  // interaction opens it afresh, an older one delivered late leaves it.
  const opens = windowOpenedBy(push)
  const columns = opens === null ? null : WINDOW_COLUMNS[opens]
  const window =
    columns === null
      ? { columns: '', values: '', update: '' }
      : {
          columns: `, ${columns.openedAt}, ${columns.used}`,
          values: ', ?2 * 1000, 0',
          update: `, ${columns.used} = CASE WHEN ?2 * 1000 > ${columns.openedAt} THEN 0 ELSE ${columns.used} END,
             ${columns.openedAt} = max(${columns.openedAt}, ?2 * 1000)`,
        }
  const insert = (columns: string, values: string, update: string) =>
    `INSERT INTO profile (id, openid, event_count${columns}${window.columns})
     VALUES (1, ?1, 1${values}${window.values})
     ON CONFLICT (id) DO UPDATE SET event_count = event_count + 1${update}${window.update}
     RETURNING event_count`
  const at = push.createTime
  if (isKeyedMenuEvent(push)) {
    return [
      insert(
        ', last_menu_key, menu_at',
        ', ?3, ?2',
        `, last_menu_key = CASE WHEN ?2 >= menu_at THEN ?3 ELSE last_menu_key END,
           menu_at = max(menu_at, ?2)`,
      ),
      owner,
      at,
      push.key,
    ]
  }
  switch (push.kind) {
    case 'subscribe':
      return [
        insert(
          ', subscribed_at, subscription_at, scene, scene_at, follow_scene',
          ', ?2, ?2, ?3, ?2, ?3',
          `, subscribed = CASE WHEN ?2 >= subscription_at THEN 1 ELSE subscribed END,
             follow_scene = CASE WHEN ?2 >= subscription_at THEN ?3 ELSE follow_scene END,
             subscribed_at = CASE WHEN ?2 >= subscription_at THEN ?2 ELSE subscribed_at END,
             scene = CASE WHEN ?2 >= subscription_at AND ?2 >= scene_at THEN ?3 ELSE scene END,
             scene_at = CASE WHEN ?2 >= subscription_at THEN max(scene_at, ?2) ELSE scene_at END,
             subscription_at = max(subscription_at, ?2)`,
        ),
        owner,
        at,
        push.scene,
      ]
    case 'scan':
      return [
        insert(
          ', scene, scene_at',
          ', ?3, ?2',
          `, scene = CASE WHEN ?2 >= scene_at THEN ?3 ELSE scene END, scene_at = max(scene_at, ?2)`,
        ),
        owner,
        at,
        push.scene,
      ]
    case 'location_report':
      return [
        insert(
          ', latitude, longitude, precision, location_at',
          ', ?3, ?4, ?5, ?2',
          `, latitude = CASE WHEN ?2 >= location_at THEN ?3 ELSE latitude END,
             longitude = CASE WHEN ?2 >= location_at THEN ?4 ELSE longitude END,
             precision = CASE WHEN ?2 >= location_at THEN ?5 ELSE precision END,
             location_at = max(location_at, ?2)`,
        ),
        owner,
        at,
        push.latitude,
        push.longitude,
        push.precision,
      ]
    // Counted, nothing else kept: no content of a message is stored.
    case 'view':
    case 'view_miniprogram':
    case 'text':
    case 'image':
    case 'voice':
    case 'video':
    case 'shortvideo':
    case 'location':
    case 'link':
    case 'subscribe_msg_popup_event':
    case 'subscribe_msg_change_event':
    case 'subscribe_msg_sent_event':
    case 'kf_create_session':
    case 'kf_close_session':
    case 'kf_switch_session':
      return opens === null ? [insert('', '', ''), owner] : [insert('', '', ''), owner, at]
    // Purges and pushes that touch nobody's state never reach here (admit.ts).
    case 'unsubscribe':
    case 'user_authorization_revoke':
    case 'user_authorization_cancellation':
    case 'user_info_modified':
    case 'template_send_job_finish':
    case 'mass_send_job_finish':
    case 'publish_job_finish':
    case 'unknown':
      throw new Error(`${push.kind} does not update a profile`)
    default:
      return push satisfies never
  }
}

/** The admin view, or null when nothing is stored (purged users included). */
export function snapshotOf(sql: SqlStorage): UserSnapshot | null {
  const row = profileOf(sql)
  if (!row) return null
  const session = sessionRows(sql)
  return {
    openid: row.openid,
    subscribed: row.subscribed === 1,
    subscribedAt: row.subscribed_at,
    scene: row.scene,
    location:
      row.latitude === null || row.longitude === null || row.precision === null
        ? null
        : {
            latitude: row.latitude,
            longitude: row.longitude,
            precision: row.precision,
            at: row.location_at,
          },
    lastMenuKey: row.last_menu_key,
    eventCount: row.event_count,
    session: { keys: [...session.keys()].sort(), bytes: sessionBytes(session) },
    consents: consentsOf(sql),
    notifications: notificationsOf(sql),
  }
}

export function profileOf(sql: SqlStorage): ProfileRow | undefined {
  return sql.exec<ProfileRow>('SELECT * FROM profile WHERE id = 1').toArray()[0]
}

/** The last pushes received, newest first: kinds and keys, no content. */
export function recentOf(sql: SqlStorage): RecentPush[] {
  return sql
    .exec<{ key: string; kind: string; create_time: number; received_at: number }>(
      'SELECT key, kind, create_time, received_at FROM received ORDER BY received_at DESC, create_time DESC LIMIT ?',
      MAX_RECENT_PUSHES,
    )
    .toArray()
    .map((row) => ({
      key: row.key,
      kind: row.kind as PushKind,
      createTime: row.create_time,
      appliedAt: row.received_at,
    }))
}
