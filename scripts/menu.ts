/**
 * `npm run menu -- publish | show [--url <worker>] [--account <id>]`: publishes the menu the bot
 * declares (`POST /admin/menu`, or `/admin/accounts/<id>/menu`) or shows the one WeChat has, on a
 * deployed Worker, with the admin token from ADMIN_TOKEN (or .dev.vars for the local dev server).
 */

import { parseArgs } from 'node:util'
import { readDevVars } from './dev-vars.ts'

const HELP = `Usage: npm run menu -- <publish | show> [--url https://your-worker.example] [--account <id>]

publish  publishes the menu your bot declares (Router.withMenu) to WeChat
show     prints the menu WeChat shows now, beside the one declared

Options:
  --url <url>     the Worker (default http://127.0.0.1:8787, the dev server)
  --account <id>  an account of WECHAT_ACCOUNTS: its bot's menu, with its token
The admin token is read from ADMIN_TOKEN (or the account's own adminToken), else from .dev.vars.`

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]']

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8787' },
      account: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  const action = positionals[0]
  if (values.help || (action !== 'publish' && action !== 'show')) {
    console.log(HELP)
    return values.help ? 0 : 2
  }
  const token = process.env.ADMIN_TOKEN ?? readDevVars().ADMIN_TOKEN
  if (!token) {
    console.error('menu: set ADMIN_TOKEN (the one `npm run setup` printed)')
    return 2
  }
  const base =
    values.account === undefined
      ? '/admin'
      : `/admin/accounts/${encodeURIComponent(values.account)}`
  const url = new URL(`${base}/menu`, values.url)
  // The admin token opens the whole admin API: never over plain http beyond this machine.
  if (url.protocol !== 'https:' && !LOOPBACK.includes(url.hostname)) {
    console.error(
      'menu: --url must be https (plain http only to this machine): it carries ADMIN_TOKEN',
    )
    return 2
  }
  const response = await fetch(url, {
    method: action === 'publish' ? 'POST' : 'GET',
    headers: { Authorization: `Bearer ${token}` },
  })
  const body = await response.text()
  let shown = body
  try {
    shown = JSON.stringify(JSON.parse(body), null, 2)
  } catch {}
  console.log(shown)
  if (!response.ok) console.error(`menu: the Worker answered ${response.status}`)
  return response.ok ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`menu: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  },
)
