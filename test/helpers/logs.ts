/**
 * The Worker's log lines as a test sees them: each an object (src/log.ts), captured from the
 * console levels asked for until the test ends (restoreMocks undoes the spies).
 */

import { vi } from 'vitest'
import type { LogRecord } from '../../src/log.ts'

export interface CapturedLogs {
  readonly records: LogRecord[]
  /** Every record as a JSON line, for "never contains" checks. */
  text(): string
}

export function captureLogs(...levels: ('log' | 'warn' | 'error')[]): CapturedLogs {
  const records: LogRecord[] = []
  for (const level of levels) {
    vi.spyOn(console, level).mockImplementation((line: unknown) => {
      records.push(
        typeof line === 'object' && line !== null ? (line as LogRecord) : { event: String(line) },
      )
    })
  }
  return { records, text: () => records.map((record) => JSON.stringify(record)).join('\n') }
}
