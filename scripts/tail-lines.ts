/**
 * What `npm run tail` prints of one event from `wrangler tail --format json`: the time, what
 * ran (method and route, a queue, an alarm), the outcome, then the Worker's own log lines.
 * Never the request URL: WeChat signs its query (signature, timestamp, nonce) and puts the
 * follower's `openid` in it, and admin routes carry OpenIDs in their paths.
 */

/** The fields of wrangler's tail event that are read here. */
export interface TailEvent {
  readonly outcome?: string
  readonly eventTimestamp?: number | null
  readonly event?: {
    readonly request?: { readonly method?: string; readonly url?: string }
    readonly queue?: string
    readonly batchSize?: number
    readonly scheduledTime?: number
  } | null
  readonly logs?: readonly { readonly level?: string; readonly message?: readonly unknown[] }[]
  readonly exceptions?: readonly { readonly name?: string; readonly message?: string }[]
}

/** Path segments that name a person (an OpenID), shown by their route's name. */
const PERSONAL_SEGMENTS: readonly [RegExp, string][] = [
  [/^(\/admin(?:\/accounts\/[^/]+)?\/users\/)[^/]+/, '$1:openid'],
]

/** The account a request is for, read off its path: `/wechat/<id>`, `/admin/accounts/<id>/…`. */
export function accountOf(url: string): string | null {
  let path: string
  try {
    path = new URL(url).pathname
  } catch {
    return null
  }
  const [, first, second, third] = path.split('/')
  if (first === 'wechat') return second || 'env'
  if (first === 'admin') return second === 'accounts' && third ? third : 'env'
  return null
}

/** The route of a request: its path, the query and any OpenID left out. */
export function routeOf(url: string): string {
  let path: string
  try {
    path = new URL(url).pathname
  } catch {
    return '(unreadable URL)'
  }
  for (const [segment, name] of PERSONAL_SEGMENTS) path = path.replace(segment, name)
  return path
}

function what(event: TailEvent['event']): string {
  if (event?.request) {
    const url = event.request.url ?? ''
    const account = accountOf(url)
    const route = `${event.request.method ?? ''} ${routeOf(url)}`
    return account === null ? route : `[${account}] ${route}`
  }
  if (event?.queue) return `queue ${event.queue} (${event.batchSize ?? 0} messages)`
  if (event?.scheduledTime) return 'alarm'
  return 'event'
}

function text(part: unknown): string {
  return typeof part === 'string' ? part : JSON.stringify(part)
}

/**
 * @example
 * linesOf(event) // ['08:14:03 POST /wechat ok', '  {"event":"push","kind":"text",…}']
 */
export function linesOf(tailEvent: TailEvent): string[] {
  const time = new Date(tailEvent.eventTimestamp ?? Date.now()).toISOString().slice(11, 19)
  const lines = [`${time} ${what(tailEvent.event)} ${tailEvent.outcome ?? ''}`.trimEnd()]
  for (const log of tailEvent.logs ?? []) {
    const level = log.level && log.level !== 'log' ? `${log.level} ` : ''
    lines.push(`  ${level}${(log.message ?? []).map(text).join(' ')}`)
  }
  for (const exception of tailEvent.exceptions ?? []) {
    lines.push(`  exception ${exception.name ?? 'Error'}: ${exception.message ?? ''}`)
  }
  return lines
}

/**
 * Splits wrangler's output into its events: each is a JSON object printed with indentation,
 * starting with `{` and ending with `}` alone on a line; other lines are wrangler's own.
 */
export function eventReader(onEvent: (event: TailEvent) => void, onOther: (line: string) => void) {
  let pending: string[] | null = null
  return function readLine(line: string): void {
    if (pending === null) {
      if (line === '{') pending = [line]
      else if (line.trim()) onOther(line)
      return
    }
    pending.push(line)
    if (line === '}') {
      const json = pending.join('\n')
      pending = null
      try {
        onEvent(JSON.parse(json) as TailEvent)
      } catch {
        onOther('(an event wrangler printed could not be read)')
      }
    }
  }
}
