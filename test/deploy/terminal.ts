/**
 * A command run in a pseudo-terminal, typed into as a person would: util-linux's `script`
 * gives the command a terminal for both standard input and output (wrangler prompts only
 * then), forwards what the test types, and exits with the command's status.
 */

import { spawn } from 'node:child_process'

export interface Terminal {
  /** Everything the terminal showed so far, colours removed. */
  screen(): string
  /** Resolves once the screen matches past what earlier waits matched; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>
  /** Types a line and presses Enter. */
  typeLine(text: string): void
  /** The command's exit status. */
  readonly exited: Promise<number>
}

function quoted(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
const ESCAPES = /\u001b\[[0-9;?]*[A-Za-z]|\r/g

export function runInTerminal(
  command: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Terminal {
  const child = spawn('script', ['-qfec', command.map(quoted).join(' '), '/dev/null'], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let raw = ''
  let consumed = 0
  const waiters = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    raw += chunk.toString('utf8')
    for (const wake of waiters) wake()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code) => {
      for (const wake of waiters) wake()
      resolve(code ?? 1)
    })
  })
  const screen = () => raw.replace(ESCAPES, '')
  return {
    screen,
    exited,
    typeLine(text) {
      child.stdin.write(`${text}\r`)
    },
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const shown = screen()
          const match = pattern.exec(shown.slice(consumed))
          if (match) {
            consumed += match.index + match[0].length
            waiters.delete(check)
            clearTimeout(timer)
            resolve()
          } else if (child.exitCode !== null) {
            waiters.delete(check)
            clearTimeout(timer)
            reject(new Error(`exited before ${pattern}:\n${shown}`))
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${screen()}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
  }
}
