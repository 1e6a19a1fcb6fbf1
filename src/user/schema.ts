/**
 * The user's tables, versioned: a `schema_version` row and migrations applied in order, once
 * each, when the object starts (as cloudflare/agents keeps its own), rather than `CREATE TABLE
 * IF NOT EXISTS` on every construction. A purge deletes everything, the version too, so the
 * tables are made afresh by {@link migrate} right after.
 */

/** Ordered: a migration is never edited once shipped, only followed by another. */
const MIGRATIONS: readonly string[] = [
  // 1: profile, received pushes (WITHOUT ROWID: the key is the table, no second index written
  // per push), session, reply windows, outbox, tombstone.
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
   CREATE TABLE tombstone (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     unsubscribed_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // 2: deferred jobs get a table of their own (they were outbox rows at index -2 and -1), and
  // the tombstone carries the state of the dead-letter sweep that follows a purge.
  `CREATE TABLE jobs (
     job TEXT PRIMARY KEY,
     claimant TEXT NOT NULL,
     state TEXT NOT NULL,
     at INTEGER NOT NULL
   ) WITHOUT ROWID;
   DELETE FROM outbox WHERE idx < 0;
   ALTER TABLE tombstone ADD COLUMN sweeps_left INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tombstone ADD COLUMN sweep_at INTEGER NOT NULL DEFAULT 0;`,
]

/** The version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length

/**
 * Brings the tables to {@link SCHEMA_VERSION}: nothing to do but one read on an object that is
 * up to date. An object created before versioning (tables, no version row) counts as version 1.
 */
export function migrate(sql: SqlStorage): void {
  sql.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
  let version = sql
    .exec<{ version: number }>('SELECT version FROM schema_version')
    .toArray()[0]?.version
  if (version === undefined) {
    const legacy = sql
      .exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'profile'`)
      .toArray()
    version = legacy.length > 0 ? 1 : 0
    sql.exec('INSERT INTO schema_version (version) VALUES (?)', version)
  }
  for (let next = version; next < SCHEMA_VERSION; next++) {
    sql.exec(MIGRATIONS[next] ?? '')
    sql.exec('UPDATE schema_version SET version = ?', next + 1)
  }
}
