/**
 * Versioned tables for a Durable Object's SQLite storage: migrations applied in order, once
 * each, when the object first needs its tables (as cloudflare/agents keeps its own), rather
 * than `CREATE TABLE IF NOT EXISTS` on every construction.
 *
 * The version is the name of an empty table, `schema_version_N`: it costs no row to write or
 * to delete (an unfollow deletes everything, and every row deleted is a row written on the
 * bill), and Durable Objects refuse `PRAGMA user_version`.
 */

const MARKER = 'schema_version_'

/**
 * The schema's version (null without a marker), and whether the unversioned marker table
 * exists: one read of sqlite_master, however new the object.
 */
function versionOf(sql: SqlStorage, legacyTable: string | undefined) {
  const names = sql
    .exec<{ name: string }>(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND (substr(name, 1, ?) = ? OR name = ?)`,
      MARKER.length,
      MARKER,
      legacyTable ?? '',
    )
    .toArray()
    .map((row) => row.name)
  const markers = names.filter((name) => name.startsWith(MARKER))
  return {
    version:
      markers.length === 0
        ? null
        : Math.max(...markers.map((marker) => Number(marker.slice(MARKER.length)))),
    legacy: legacyTable !== undefined && names.includes(legacyTable),
  }
}

/**
 * @param migrations ordered; a migration is never edited once shipped, only followed by another.
 * @param unversioned for objects created before versioning: a table whose presence, without a
 *   version, marks one, and the script that brings it to version 1.
 *
 * @example
 * migrateTables(ctx.storage.sql, ['CREATE TABLE received (key TEXT PRIMARY KEY) WITHOUT ROWID'])
 */
export function migrateTables(
  sql: SqlStorage,
  migrations: readonly string[],
  unversioned?: { readonly table: string; readonly upgrade: string },
): void {
  const found = versionOf(sql, unversioned?.table)
  let version = found.version
  if (version === migrations.length) return
  if (version === null) {
    if (found.legacy && unversioned) sql.exec(unversioned.upgrade)
    version = found.legacy ? 1 : 0
  }
  // One script: a new object makes its whole schema in a single call.
  const steps = [
    ...(version > 0 ? [`DROP TABLE IF EXISTS ${MARKER}${version};`] : []),
    ...migrations.slice(version).map((step) => (step.trimEnd().endsWith(';') ? step : `${step};`)),
    `CREATE TABLE ${MARKER}${migrations.length} (unused INTEGER);`,
  ]
  sql.exec(steps.join('\n'))
}
