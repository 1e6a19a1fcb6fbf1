/**
 * Runs before `npm run dev`: makes `.dev.vars` from the example on first run, then prints the
 * debugging console's link. The admin token rides in the URL's fragment, which the browser
 * never sends to a server, so the console opens unlocked on this machine and nowhere else.
 */

import { copyFileSync, existsSync } from 'node:fs'
import { readDevVars } from './dev-vars.ts'

if (!existsSync('.dev.vars')) {
  copyFileSync('.dev.vars.example', '.dev.vars')
  console.log('Made .dev.vars from .dev.vars.example (WeChat’s sample account: local use only).')
}

const vars = readDevVars()
// A .dev.vars made before a setting was added lacks it: say so rather than fail mysteriously.
const missing = Object.keys(readDevVars('.dev.vars.example')).filter((name) => !(name in vars))
if (missing.length > 0) {
  console.log(`.dev.vars lacks ${missing.join(', ')}: copy them from .dev.vars.example.`)
}
const token = vars.ADMIN_TOKEN
if (vars.DEBUG_CONSOLE === 'true' && token) {
  console.log(`Debugging console: http://localhost:8787/debug#token=${encodeURIComponent(token)}`)
}
