/**
 * What wrangler.toml must agree on with the code: numbers the platform enforces from the config
 * and the Worker from its own constants, which would drift if each kept its own.
 */

import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SECRET_LIMIT_BYTES } from '../../scripts/setup-account.ts'
import { LATER_MAX_ATTEMPTS } from '../../src/queues/queued.ts'

const ROOT = new URL('../..', import.meta.url).pathname
const toml = readFileSync(`${ROOT}wrangler.toml`, 'utf8')

/** Each `[[…queues.consumers]]` block's queue and max_retries, in order. */
function consumers(): { queue: string; maxRetries: number }[] {
  return toml
    .split(/^\[\[/m)
    .filter((block) => /^(env\.\w+\.)?queues\.consumers\]\]/.test(block))
    .map((block) => ({
      queue: /^queue = "([^"]+)"$/m.exec(block)?.[1] ?? '',
      maxRetries: Number(/^max_retries = (\d+)$/m.exec(block)?.[1]),
    }))
}

describe('wrangler.toml and the code', () => {
  it('retries a deferred job as often as the later consumer allows before it dead-letters it', () => {
    const later = consumers().filter((consumer) => consumer.queue.endsWith('-later'))
    expect(later.length).toBeGreaterThanOrEqual(2)
    for (const consumer of later) expect(consumer.maxRetries).toBe(LATER_MAX_ATTEMPTS)
  })
})

describe('the secrets, as the Deploy to Cloudflare button reads them', () => {
  it('lists in .dev.vars.example, without a value, exactly the secrets package.json describes', () => {
    const example = readFileSync(`${ROOT}.dev.vars.example`, 'utf8')
    const lines = example.split('\n').filter((line) => line.trim() && !line.startsWith('#'))
    const listed = lines.map((line) => line.split('=')[0])
    // The button deploys each entry's value as given: none may carry a sample.
    for (const line of lines) expect(line).toMatch(/^[A-Z_]+=$/)
    const described = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).cloudflare.bindings
    expect(Object.keys(described).sort()).toEqual([...listed].sort())
    for (const { description } of Object.values(described) as { description: string }[]) {
      expect(description.length).toBeGreaterThan(20)
    }
  })
})

describe('how many accounts fit in WECHAT_ACCOUNTS, as the README says', () => {
  const hex = (bytes: number) => 'f'.repeat(bytes * 2)
  const entry = (extra: Record<string, string>) => ({
    token: hex(16),
    appId: `wx${hex(8)}`,
    encodingAesKey: 'A'.repeat(43),
    appSecret: hex(16),
    ...extra,
  })
  /** The most entries of this shape, ids `acct-0000`…, whose JSON stays within one secret. */
  function fitting(extra: Record<string, string>): number {
    let count = 0
    for (;;) {
      const next = Object.fromEntries(
        Array.from({ length: count + 1 }, (_, i) => [
          `acct-${String(i).padStart(4, '0')}`,
          entry(extra),
        ]),
      )
      if (new TextEncoder().encode(JSON.stringify(next)).length > SECRET_LIMIT_BYTES) return count
      count++
    }
  }

  it('counts the entries of each shape within Cloudflare’s 5 KB per secret', () => {
    const login = { loginSecret: hex(16), loginSite: 'Example Shop' }
    const all = {
      ...login,
      adminToken: hex(16),
      webOrigins: 'https://shop.example.com',
      webSecret: hex(16),
    }
    const counts = [fitting({}), fitting(login), fitting(all)]
    expect(counts).toEqual([26, 18, 12])
    const readme = readFileSync(`${ROOT}README.md`, 'utf8').replace(/\s+/g, ' ')
    expect(readme).toContain(
      `${counts[0]} accounts fit; with a login secret and site about ${counts[1]}`,
    )
    expect(readme).toContain(`about ${counts[2]} (setup refuses past 5 KB)`)
  })
})
