/**
 * `npm run tail [-- --env staging]`: the deployed Worker's live events, as `wrangler tail`
 * sees them, printed without request URLs (see tail-lines.ts): the time, the route, the
 * outcome and our own log lines.
 */

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { eventReader, linesOf } from './tail-lines.ts'
import { envFlags, environmentArg } from './wrangler.ts'

const environment = environmentArg(process.argv.slice(2))
const child = spawn('npx', ['wrangler', 'tail', '--format', 'json', ...envFlags(environment)], {
  stdio: ['inherit', 'pipe', 'inherit'],
})
const readLine = eventReader(
  (event) => console.log(linesOf(event).join('\n')),
  (line) => console.error(line),
)
if (child.stdout) createInterface({ input: child.stdout }).on('line', readLine)
child.on('exit', (code) => process.exit(code ?? 1))
