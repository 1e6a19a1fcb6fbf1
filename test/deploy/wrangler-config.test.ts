/**
 * What wrangler.toml must agree on with the code: numbers the platform enforces from the config
 * and the Worker from its own constants, which would drift if each kept its own.
 */

import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
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
