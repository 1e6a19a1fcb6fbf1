/**
 * Starts `wrangler dev` the way `npm run dev` does, on a free port with fresh local storage and
 * the committed example secrets, and resolves once it prints its URL.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = new URL('../..', import.meta.url).pathname

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      )
    })
  })
}

export interface DevServer {
  readonly url: string
  stop(): Promise<void>
}

export async function startDevServer(): Promise<DevServer> {
  const port = await freePort()
  const state = mkdtempSync(join(tmpdir(), 'wechat-edge-browser-'))
  const child: ChildProcess = spawn(
    'npx',
    [
      'wrangler',
      'dev',
      'src/dev.ts',
      '--port',
      String(port),
      '--ip',
      '127.0.0.1',
      '--persist-to',
      state,
      '--env-file',
      '.dev.vars.example',
      '--var',
      'DEBUG_CONSOLE:true',
      // The fake WeChat API is served by this same dev server, on its own port.
      '--var',
      `WECHAT_API_BASE:http://127.0.0.1:${port}/debug/wechat-api/`,
      // The web side's demo is a page of this same server.
      '--var',
      `WEB_ORIGINS:http://127.0.0.1:${port}`,
      '--show-interactive-dev-session=false',
    ],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  )
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`wrangler dev did not start:\n${output}`)),
      60_000,
    )
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (/Ready on http/.test(output)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`wrangler dev exited with ${code}:\n${output}`)))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM')
      await new Promise((resolve) => setTimeout(resolve, 300))
      rmSync(state, { recursive: true, force: true })
    },
  }
}
