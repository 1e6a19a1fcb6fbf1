/**
 * `npm run deploy [-- --env staging]`: `wrangler deploy`, once the Worker has its Token.
 *
 * Wrangler provisions everything else on the first deploy: the three queues (each has a
 * producer binding), the KV namespaces (bindings with no id), the Durable Objects. A Worker
 * deployed without `WECHAT_TOKEN` would answer every push with a 503, so the deploy refuses
 * first and says what to run. (Wrangler's own `[secrets] required` would also make `wrangler
 * dev` drop every optional secret of `.dev.vars`, so the check lives here.)
 */

import {
  DeployError,
  envFlags,
  environmentArg,
  exitOn,
  exitOnHelp,
  inTerminal,
  secretsOnWorker,
} from './wrangler.ts'

const USAGE = `Usage: npm run deploy [-- --env <name>] [wrangler deploy's options]

Runs wrangler deploy once the Worker has its WECHAT_TOKEN (npm run setup sets it): a Worker
without one would answer every push with a 503. The first deploy provisions the queues, the
KV namespaces and the Durable Objects; a later one changes only the code.

Options:
  --env <name>  a Wrangler environment of wrangler.toml (staging)
  --help, -h    this text; nothing is asked of Cloudflare (wrangler deploy's own options:
                npx wrangler deploy --help)
Any other option goes to wrangler deploy as given.

Log in to Cloudflare first: npx wrangler login, or export CLOUDFLARE_API_TOKEN.`

/** Without these the Worker cannot verify a single push. */
const REQUIRED_SECRETS = ['WECHAT_TOKEN'] as const

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  exitOnHelp(args, USAGE)
  const environment = environmentArg(args)
  const present = (await secretsOnWorker(environment)) ?? new Set<string>()
  const missing = REQUIRED_SECRETS.filter((name) => !present.has(name))
  if (missing.length > 0) {
    const setup = `npm run setup${environment ? ` -- --env ${environment}` : ''}`
    throw new DeployError(`${missing.join(', ')} is not set on the Worker: run ${setup} first.`)
  }
  const passed = args.filter(
    (arg, index) => arg !== '--env' && args[index - 1] !== '--env' && !arg.startsWith('--env='),
  )
  process.exit(await inTerminal(['deploy', ...envFlags(environment), ...passed]))
}

main().catch(exitOn)
