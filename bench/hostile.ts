/**
 * The worst bodies a holder of one signed URL can send, timed through what reads them before
 * `msg_signature` holds (and, in plaintext, the XML parser): each is refused, and how long that
 * takes shows it is linear in the body (a pattern that backtracked took 25 s at 6,000 spaces).
 */

import { MAX_BODY_BYTES } from '../src/http/body.ts'
import { openPushBody, type SignedQuery } from '../src/wechat/envelope.ts'
import { ACCOUNT } from './pipeline.ts'

/** Fills a body to just under the limit with `unit`, after `head`. */
function filled(head: string, unit: string, tail = ''): string {
  const room = MAX_BODY_BYTES - head.length - tail.length
  return head + unit.repeat(Math.floor(room / unit.length)) + tail
}

export const HOSTILE_BODIES: Readonly<Record<string, { body: string; encrypted: boolean }>> = {
  'Encrypt, spaces, no end': { body: filled('<xml><Encrypt>', ' '), encrypted: true },
  'Encrypt, base64 and spaces, no end': { body: filled('<xml><Encrypt>', 'A '), encrypted: true },
  'Encrypt opened over and over': { body: filled('<xml>', '<Encrypt> '), encrypted: true },
  'plaintext, unclosed comments': { body: filled('<xml>', '<!-- '), encrypted: false },
  'plaintext, deep nesting': { body: filled('<xml>', '<a>'), encrypted: false },
}

/** Milliseconds to refuse each hostile body (64 KiB), the slowest of `rounds`. */
export async function measureHostile(rounds: number): Promise<Record<string, number>> {
  const nowSeconds = Math.floor(Date.now() / 1000)
  const figures: Record<string, number> = {}
  for (const [name, { body, encrypted }] of Object.entries(HOSTILE_BODIES)) {
    const signed: SignedQuery = {
      timestamp: String(nowSeconds),
      nonce: '1',
      encrypted,
      msgSignature: '0',
      nowSeconds,
    }
    let slowest = 0
    for (let round = 0; round < rounds; round++) {
      const started = performance.now()
      await openPushBody(signed, body, ACCOUNT).then(
        () => {
          throw new Error(`${name} was accepted`)
        },
        () => undefined,
      )
      slowest = Math.max(slowest, performance.now() - started)
    }
    figures[name] = slowest
  }
  return figures
}
