/** The local secrets in `.dev.vars` (KEY=value lines), for the scripts that run beside `wrangler dev`. */

import { existsSync, readFileSync } from 'node:fs'

export function readDevVars(path = '.dev.vars'): Record<string, string> {
  return existsSync(path) ? devVarsOf(readFileSync(path, 'utf8')) : {}
}

/** The KEY=value lines of a dotenv text. */
export function devVarsOf(text: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?(.*?)"?\s*$/.exec(line)
    if (match?.[1] && match[2] !== undefined) vars[match[1]] = match[2]
  }
  return vars
}
