/**
 * A question at the terminal, its answer echoed or, for secrets, not shown at all.
 */

import { createInterface } from 'node:readline/promises'
import { Writable } from 'node:stream'

/**
 * @example
 * const key = await ask('EncodingAESKey: ', { masked: true })
 */
export async function ask(question: string, options: { masked?: boolean } = {}): Promise<string> {
  let muted = false
  // readline echoes what is typed through its output: a muted output hides a secret's keys.
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stdout.write(chunk)
      done()
    },
  })
  const lines = createInterface({ input: process.stdin, output, terminal: process.stdin.isTTY })
  try {
    process.stdout.write(question)
    muted = options.masked === true
    const answer = await lines.question('')
    if (muted) process.stdout.write('\n')
    return answer.trim()
  } finally {
    lines.close()
  }
}
