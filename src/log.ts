/**
 * Structured log lines: one JSON object per line, what `wrangler tail` and Workers Logs show.
 * Callers pass kinds, keys, outcomes and timings only: never a secret, never message content.
 */

export type LogFields = Readonly<Record<string, string | number | boolean | null>>

export function logEvent(event: string, fields: LogFields): void {
  console.log(JSON.stringify({ event, ...fields }))
}

export function logProblem(event: string, fields: LogFields): void {
  console.warn(JSON.stringify({ event, ...fields }))
}

/** An error's class name only: messages can carry input, stacks carry internals. */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error
}

/**
 * The quota a binding's error says ran out, named for the log line (`Queues daily quota`), or
 * null. Binding errors carry no input, so their message may be read; it is never logged.
 */
export function quotaNamed(error: unknown, binding: string): string | null {
  return error instanceof Error && /limit|quota|exceeded/i.test(error.message)
    ? `${binding} daily quota`
    : null
}
