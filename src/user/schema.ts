/**
 * The user's tables and their migrations (see sqlite-migrations.ts). A purge deletes
 * everything, the version too, so the tables are made afresh by {@link migrate} right after.
 */

import { JOBS_TABLE } from '../receive/jobs.ts'
import { migrateTables } from '../sqlite-migrations.ts'
import type { WindowKind } from '../wechat/windows.ts'
import { ASSISTANT_RESTS, ASSISTANT_TABLES } from './assistant.ts'
import { CONSENTS_TABLE } from './consents.ts'

/**
 * Each reply window's columns in the profile row (migration 3), named here once: SQL takes
 * them from this table by the window's kind, never from a name built at run time.
 */
export const WINDOW_COLUMNS: {
  readonly [K in WindowKind]: { readonly openedAt: string; readonly used: string }
} = {
  message: { openedAt: 'message_window_at', used: 'message_window_used' },
  event: { openedAt: 'event_window_at', used: 'event_window_used' },
}

/**
 * The tombstone's table, also made alone by a purge (lifecycle.ts): the other tables come back
 * with the next write, so that an unfollow writes as few rows as it can.
 */
export const TOMBSTONE_TABLE = `CREATE TABLE IF NOT EXISTS tombstone (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     unsubscribed_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     sweep_at INTEGER NOT NULL DEFAULT 0
   );`

/** Ordered: a migration is never edited once shipped, only followed by another. */
const MIGRATIONS: readonly string[] = [
  // 1: profile, received pushes (WITHOUT ROWID: the key is the table, no second index written
  // per push), session, reply windows, outbox, deferred jobs, tombstone.
  `CREATE TABLE profile (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     openid TEXT NOT NULL,
     subscribed INTEGER NOT NULL DEFAULT 1,
     subscribed_at INTEGER,
     subscription_at INTEGER NOT NULL DEFAULT 0,
     scene TEXT,
     scene_at INTEGER NOT NULL DEFAULT 0,
     latitude REAL,
     longitude REAL,
     precision REAL,
     location_at INTEGER NOT NULL DEFAULT -1,
     last_menu_key TEXT,
     menu_at INTEGER NOT NULL DEFAULT -1,
     event_count INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE received (
     key TEXT PRIMARY KEY,
     received_at INTEGER NOT NULL,
     kind TEXT NOT NULL,
     create_time INTEGER NOT NULL,
     mode TEXT,
     reply TEXT
   ) WITHOUT ROWID;
   CREATE TABLE session (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
   CREATE TABLE windows (
     kind TEXT PRIMARY KEY,
     opened_at INTEGER NOT NULL,
     used INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE outbox (
     job TEXT NOT NULL,
     idx INTEGER NOT NULL,
     state TEXT NOT NULL,
     grant_kind TEXT,
     at INTEGER NOT NULL,
     PRIMARY KEY (job, idx)
   ) WITHOUT ROWID;
   ${JOBS_TABLE}
   ${TOMBSTONE_TABLE}`,
  // 2: the scene of the user's follow, apart from the last scene scanned: their unfollow is
  // counted against the campaign that brought them (src/campaigns.ts).
  'ALTER TABLE profile ADD COLUMN follow_scene TEXT;',
  // 3: the reply windows move into the profile row, which every push that opens one writes
  // anyway: a window costs no row of its own (a row written is what the Free plan runs out of).
  `ALTER TABLE profile ADD COLUMN message_window_at INTEGER NOT NULL DEFAULT -1;
   ALTER TABLE profile ADD COLUMN message_window_used INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE profile ADD COLUMN event_window_at INTEGER NOT NULL DEFAULT -1;
   ALTER TABLE profile ADD COLUMN event_window_used INTEGER NOT NULL DEFAULT 0;
   UPDATE profile SET
     message_window_at = coalesce((SELECT opened_at FROM windows WHERE kind = 'message'), -1),
     message_window_used = coalesce((SELECT used FROM windows WHERE kind = 'message'), 0),
     event_window_at = coalesce((SELECT opened_at FROM windows WHERE kind = 'event'), -1),
     event_window_used = coalesce((SELECT used FROM windows WHERE kind = 'event'), 0);
   DROP TABLE windows;`,
  // 4: notifications (src/user/consents.ts): the user's consent per subscription template, and
  // the outbox's notification entries (their channel, template, WeChat's msgid and outcome).
  `${CONSENTS_TABLE}
   ALTER TABLE outbox ADD COLUMN channel TEXT;
   ALTER TABLE outbox ADD COLUMN template_id TEXT;
   ALTER TABLE outbox ADD COLUMN msg_id TEXT;
   ALTER TABLE outbox ADD COLUMN outcome TEXT;`,
  // 5: the AI assistant's questions by push key, and the conversation's memory (assistant.ts).
  ASSISTANT_TABLES,
  // 6: an answer's rest past the window's room, for the user's next push, and the messages its
  // job decided to send (assistant.ts), the same for every redelivery.
  ASSISTANT_RESTS,
]

/**
 * Objects made before the schema was versioned hold version 1 but for the jobs table (their
 * job claims were outbox rows at index -2 and -1) and the tombstone's sweep time.
 */
const UNVERSIONED_TO_1 = `
  ${JOBS_TABLE}
  DELETE FROM outbox WHERE idx < 0;
  ALTER TABLE tombstone ADD COLUMN sweep_at INTEGER NOT NULL DEFAULT 0;`

/** The version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length

/** Brings the user's tables to {@link SCHEMA_VERSION}; a new object runs one script. */
export function migrate(sql: SqlStorage): void {
  migrateTables(sql, MIGRATIONS, { table: 'profile', upgrade: UNVERSIONED_TO_1 })
}
