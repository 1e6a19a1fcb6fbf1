/**
 * Starts `wrangler dev src/dev.ts` as `npm run dev` does (scripts/dev.ts: the fake WeChat API's
 * base on the dev server's own port), on a free port with fresh local storage and the committed
 * example secrets, and resolves once it prints its URL. test/e2e/dev.e2e.test.ts runs
 * `npm run dev`'s own script.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LOCAL_DEV_VARS } from '../../scripts/local-vars.ts'

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
  /** Stops wrangler and starts it again on the same port and storage, as a developer would. */
  restart(): Promise<void>
  stop(): Promise<void>
}

/** The settings npm run dev writes to .dev.vars on its first run (WeChat's sample account), kept beside the storage. */
function envFileIn(state: string): string {
  return join(state, 'dev.vars')
}

/** Starts wrangler dev on the port with the storage, resolving once it is ready. */
async function spawnWrangler(port: number, state: string): Promise<ChildProcess> {
  const envFile = envFileIn(state)
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
      envFile,
      '--var',
      'DEBUG_CONSOLE:true',
      // The fake WeChat API is served by this same dev server, on its own port.
      '--var',
      `WECHAT_API_BASE:http://127.0.0.1:${port}/debug/wechat-api/`,
      // The web side's demo is a page of this same server, and so is the fake model.
      '--var',
      `WEB_ORIGINS:http://127.0.0.1:${port}`,
      '--var',
      `AI_BASE_URL:http://127.0.0.1:${port}/debug/fake-model/v1/`,
      // As npm run dev runs it: remote bindings off, so nothing needs a Cloudflare login.
      '--local',
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
  return child
}

/** Ends wrangler and everything it started (its process group), once it has exited. */
async function end(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  process.kill(-child.pid, 'SIGTERM')
  await exited
  // workerd, in the same group, lets go of the port a moment after wrangler exits.
  await new Promise((resolve) => setTimeout(resolve, 300))
}

export async function startDevServer(): Promise<DevServer> {
  const port = await freePort()
  const state = mkdtempSync(join(tmpdir(), 'wechat-edge-browser-'))
  writeFileSync(envFileIn(state), LOCAL_DEV_VARS)
  let child = await spawnWrangler(port, state)
  return {
    url: `http://127.0.0.1:${port}`,
    async restart() {
      await end(child)
      child = await spawnWrangler(port, state)
    },
    async stop() {
      await end(child)
      rmSync(state, { recursive: true, force: true })
    },
  }
}
