/**
 * Structured log lines: one object per line, logged as an object so that Workers Logs indexes
 * its fields and `npm run tail` prints it whole. Each carries the id of the request or batch it
 * belongs to (`requestId`: the request's Cf-Ray, or a random id), so the lines of one push can
 * be found together. Callers pass kinds, keys, outcomes and timings only: never a secret, never
 * message content.
 */

import { AsyncLocalStorage } from 'node:async_hooks'

export type LogFields = Readonly<Record<string, string | number | boolean | null>>

export interface LogRecord extends LogFields {
  readonly event: string
}

const requestIds = new AsyncLocalStorage<string>()

/**
 * Runs `work` with `id` as the request id of every line it logs.
 *
 * @example
 * fetch: (request, env, ctx) => withRequestId(request.headers.get('Cf-Ray'), () => app.fetch(request, env, ctx))
 */
export function withRequestId<T>(id: string | null, work: () => T): T {
  return requestIds.run(id || crypto.randomUUID(), work)
}

function record(event: string, fields: LogFields): LogRecord {
  const requestId = requestIds.getStore()
  return requestId === undefined ? { event, ...fields } : { event, requestId, ...fields }
}

export function logEvent(event: string, fields: LogFields): void {
  console.log(record(event, fields))
}

export function logProblem(event: string, fields: LogFields): void {
  console.warn(record(event, fields))
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
