/**
 * Versioned tables for a Durable Object's SQLite storage: a `schema_version` row and
 * migrations applied in order, once each, when the object starts (as cloudflare/agents keeps
 * its own), rather than `CREATE TABLE IF NOT EXISTS` on every construction. An object that is
 * up to date pays one row read.
 */

/**
 * @param migrations ordered; a migration is never edited once shipped, only followed by another.
 * @param unversioned for objects created before versioning: a table whose presence, without a
 *   version row, marks one, and the script that brings it to version 1.
 *
 * @example
 * migrateTables(ctx.storage.sql, ['CREATE TABLE received (key TEXT PRIMARY KEY) WITHOUT ROWID'])
 */
export function migrateTables(
  sql: SqlStorage,
  migrations: readonly string[],
  unversioned?: { readonly table: string; readonly upgrade: string },
): void {
  sql.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
  let version = sql
    .exec<{ version: number }>('SELECT version FROM schema_version')
    .toArray()[0]?.version
  if (version === undefined) {
    const legacy =
      unversioned !== undefined &&
      sql
        .exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, unversioned.table)
        .toArray().length > 0
    if (legacy) sql.exec(unversioned.upgrade)
    version = legacy ? 1 : 0
    // A new object runs every migration and writes its version once.
    for (let next = version; next < migrations.length; next++) sql.exec(migrations[next] ?? '')
    sql.exec('INSERT INTO schema_version (version) VALUES (?)', migrations.length)
    return
  }
  for (let next = version; next < migrations.length; next++) {
    sql.exec(migrations[next] ?? '')
    sql.exec('UPDATE schema_version SET version = ?', next + 1)
  }
}
