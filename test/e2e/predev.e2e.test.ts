import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

// `npm run dev` must not start beside whatever holds port 8787: .dev.vars sends the fake WeChat
// API's traffic (AppSecret, tokens, messages) to :8787, and wrangler would move to :8788.
const ROOT = new URL('../..', import.meta.url).pathname
const project = mkdtempSync(join(tmpdir(), 'wechat-edge-predev-'))
for (const entry of ['scripts', '.dev.vars.example'])
  cpSync(join(ROOT, entry), join(project, entry), { recursive: true })

function predev() {
  return spawnSync(process.execPath, ['scripts/predev.ts'], { cwd: project, encoding: 'utf8' })
}

afterAll(() => rmSync(project, { recursive: true, force: true }))

describe('npm run dev’s port', () => {
  it('refuses to start while another program holds 8787', async () => {
    const squatter: Server = createServer()
    await new Promise<void>((resolve) => squatter.listen(8787, '127.0.0.1', resolve))
    try {
      const run = predev()
      expect(run.status).toBe(1)
      expect(run.stderr).toContain('Port 8787 is in use on this machine')
    } finally {
      await new Promise((resolve) => squatter.close(resolve))
    }
  })

  it('starts, and prints the console’s link, once the port is free', () => {
    const run = predev()
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('Debugging console: http://localhost:8787/debug#token=')
  })
})
