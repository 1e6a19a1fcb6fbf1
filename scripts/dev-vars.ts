/** The local secrets in `.dev.vars` (KEY=value lines), for the scripts that run beside `wrangler dev`. */

import { existsSync, readFileSync } from 'node:fs'

export function readDevVars(path = '.dev.vars'): Record<string, string> {
  if (!existsSync(path)) return {}
  const vars: Record<string, string> = {}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?(.*?)"?\s*$/.exec(line)
    if (match?.[1] && match[2] !== undefined) vars[match[1]] = match[2]
  }
  return vars
}
