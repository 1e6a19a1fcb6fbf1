/**
 * Runs before `npm run dev`: refuses to start when port 8787 is taken, makes `.dev.vars` from
 * the example on first run, then prints the debugging console's link. The admin token rides in
 * the URL's fragment, which the browser never sends to a server, so the console opens unlocked
 * on this machine and nowhere else.
 *
 * Why refuse: wrangler moves to 8788 and up when 8787 is taken, but `.dev.vars` points
 * `WECHAT_API_BASE` (the fake WeChat API, which receives the AppSecret, tokens and every
 * customer-service message) at :8787, and the link would open whatever holds that port.
 */

import { copyFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { readDevVars } from './dev-vars.ts'

const DEV_PORT = 8787

/** Whether something on this machine already listens on the port (IPv4 or IPv6 loopback). */
function taken(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'))
    probe.listen(port, host, () => probe.close(() => resolve(false)))
  })
}

for (const host of ['127.0.0.1', '::1']) {
  if (await taken(DEV_PORT, host)) {
    console.error(
      `Port ${DEV_PORT} is in use on this machine (${host}). npm run dev needs it: .dev.vars sends ` +
        'the fake WeChat API’s traffic (the AppSecret, tokens, customer-service messages) there. ' +
        'Stop what holds it, then run npm run dev again.',
    )
    process.exit(1)
  }
}

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
