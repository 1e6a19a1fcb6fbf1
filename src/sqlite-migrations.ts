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

function versionOf(sql: SqlStorage): number | null {
  const markers = sql
    .exec<{ name: string }>(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?`,
      MARKER.length,
      MARKER,
    )
    .toArray()
  if (markers.length === 0) return null
  return Math.max(...markers.map((marker) => Number(marker.name.slice(MARKER.length))))
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
  let version = versionOf(sql)
  if (version === migrations.length) return
  if (version === null) {
    const legacy =
      unversioned !== undefined &&
      sql
        .exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, unversioned.table)
        .toArray().length > 0
    if (legacy) sql.exec(unversioned.upgrade)
    version = legacy ? 1 : 0
  } else {
    sql.exec(`DROP TABLE ${MARKER}${version}`)
  }
  for (let next = version; next < migrations.length; next++) sql.exec(migrations[next] ?? '')
  sql.exec(`CREATE TABLE ${MARKER}${migrations.length} (unused INTEGER)`)
}
