/**
 * What `wrangler deploy` uploads is the production entry (src/index.ts): the debugging tools
 * (the console, the fake WeChat API, the fake model, the login and web demos) are in the dev
 * entry only.
 */

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = new URL('../..', import.meta.url).pathname
const out = mkdtempSync(join(tmpdir(), 'wechat-edge-bundle-'))

afterAll(() => rmSync(out, { recursive: true, force: true }))

/** Every file wrangler would upload (the script and its text modules), as one string. */
function build(entry?: string): string {
  rmSync(out, { recursive: true, force: true })
  execFileSync(
    'npx',
    ['wrangler', 'deploy', '--dry-run', '--outdir', out, ...(entry ? [entry] : [])],
    { cwd: ROOT, stdio: 'pipe', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
  )
  return readdirSync(out)
    .filter((name) => !name.endsWith('.map'))
    .map((name) => readFileSync(join(out, name), 'utf8'))
    .join('\n')
}

/** A string each debugging tool cannot be without. */
const DEBUG_MARKERS = [
  'wechat-edge · debugging console',
  'wechat-edge · scan to log in (demo)',
  'wechat-edge · sign in with WeChat (demo)',
  'FAKE_WEB_TOKEN_',
  'FAKE_TOKEN_',
  '/debug/wechat-api',
  'chatcmpl-fake-',
  '/debug/fake-model',
]

describe('the uploaded bundle', () => {
  it('carries none of the debugging tools', () => {
    const production = build()
    const dev = build('src/dev.ts')
    // The markers are the right ones: the dev entry carries each, production none.
    expect(DEBUG_MARKERS.filter((marker) => dev.includes(marker))).toEqual(DEBUG_MARKERS)
    expect(DEBUG_MARKERS.filter((marker) => production.includes(marker))).toEqual([])
  })
})
