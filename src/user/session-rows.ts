/**
 * The session's rows in the user's object: small JSON values by key, 16 KiB per user at most,
 * written only with a push (or a job) that the object admits.
 */

/** At most this much per user, keys and JSON values together (UTF-8 bytes). */
export const MAX_SESSION_BYTES = 16 * 1024

/** A handler's session writes: a JSON value per key, null to delete it. */
export type SessionWrites = Readonly<Record<string, string | null>>

const encoder = new TextEncoder()

/** The size a session's entries take, as the limit counts it. */
export function sessionBytes(entries: Iterable<[string, string]>): number {
  let bytes = 0
  for (const [name, value] of entries)
    bytes += encoder.encode(name).length + encoder.encode(value).length
  return bytes
}

export function sessionRows(sql: SqlStorage): Map<string, string> {
  const rows = sql.exec<{ name: string; value: string }>('SELECT name, value FROM session')
  return new Map([...rows].map((row) => [row.name, row.value]))
}

/**
 * Whether the session stays within its limit with these writes. No writes, nothing to read:
 * most pushes come with none, and reading the session costs a row read per key.
 */
export function writesFit(sql: SqlStorage, writes: SessionWrites): boolean {
  if (Object.keys(writes).length === 0) return true
  const next = sessionRows(sql)
  for (const [name, value] of Object.entries(writes)) {
    if (value === null) next.delete(name)
    else next.set(name, value)
  }
  return sessionBytes(next) <= MAX_SESSION_BYTES
}

/** Applies session writes, inside the caller's transaction. */
export function writeSession(sql: SqlStorage, writes: SessionWrites): void {
  for (const [name, value] of Object.entries(writes)) {
    if (value === null) sql.exec('DELETE FROM session WHERE name = ?', name)
    else {
      sql.exec(
        'INSERT INTO session (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = ?2',
        name,
        value,
      )
    }
  }
}
