/**
 * `npm run setup`: makes what `wrangler deploy` does not provision on its own, and may be run
 * again at any time. Wrangler creates the KV namespace on the first deploy (a binding with no
 * id); the queues and the secrets are made here:
 *
 * - the pushes queue and its dead-letter queue, unless they exist (`wrangler queues info`);
 * - each secret that is not set yet (`wrangler secret list`): WECHAT_TOKEN and ADMIN_TOKEN are
 *   generated (32 random hexadecimal characters, printed once so you can paste the Token into
 *   WeChat's developer center); WECHAT_APPID and WECHAT_ENCODING_AES_KEY are asked for, as
 *   WeChat's developer center shows them.
 */

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const WRANGLER = ['wrangler']

function wrangler(args: string[], input?: string) {
  return spawnSync('npx', [...WRANGLER, ...args], {
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'inherit' : 'pipe', 'pipe', 'pipe'],
  })
}

/** The queue names `wrangler.toml` declares: producers, consumers and dead-letter queues. */
function declaredQueues(): string[] {
  const toml = readFileSync('wrangler.toml', 'utf8')
  const names = [...toml.matchAll(/^\s*(?:queue|dead_letter_queue)\s*=\s*"([^"]+)"/gm)]
  return [...new Set(names.map((match) => match[1] ?? ''))].filter(Boolean)
}

function ensureQueue(name: string): void {
  if (wrangler(['queues', 'info', name]).status === 0) {
    console.log(`queue ${name}: exists`)
    return
  }
  const created = wrangler(['queues', 'create', name])
  if (created.status !== 0) {
    console.error(created.stderr || created.stdout)
    throw new Error(`could not create queue ${name}`)
  }
  console.log(`queue ${name}: created`)
}

function secretsSet(): Set<string> {
  const listed = wrangler(['secret', 'list', '--format', 'json'])
  // Before the first deploy there is no Worker, so no secret either.
  if (listed.status !== 0) return new Set()
  try {
    const secrets = JSON.parse(listed.stdout) as { name: string }[]
    return new Set(secrets.map((secret) => secret.name))
  } catch {
    return new Set()
  }
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) =>
    byte.toString(16).padStart(2, '0'),
  ).join('')
}

function putSecret(name: string, value?: string): void {
  // With a value it is piped in; without, wrangler prompts for it.
  const put = wrangler(['secret', 'put', name], value)
  if (put.status !== 0) {
    console.error(put.stderr || put.stdout)
    throw new Error(`could not set ${name}`)
  }
}

function main(): void {
  for (const queue of declaredQueues()) ensureQueue(queue)
  const present = secretsSet()
  for (const name of ['WECHAT_TOKEN', 'ADMIN_TOKEN']) {
    if (present.has(name)) {
      console.log(`secret ${name}: set`)
      continue
    }
    const value = randomHex(16)
    putSecret(name, value)
    console.log(`secret ${name}: generated and set. Keep it: ${value}`)
    if (name === 'WECHAT_TOKEN') {
      console.log('  Paste it as the Token in WeChat’s developer center (Server Configuration).')
    }
  }
  for (const name of ['WECHAT_APPID', 'WECHAT_ENCODING_AES_KEY']) {
    if (present.has(name)) {
      console.log(`secret ${name}: set`)
      continue
    }
    console.log(`secret ${name}: enter it as WeChat’s developer center shows it`)
    putSecret(name)
  }
  console.log('Done. Next: npm run deploy')
}

main()
