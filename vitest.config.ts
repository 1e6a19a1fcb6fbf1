import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'
import { fakeWechat } from './src/debug/fake-wechat.ts'
import { quietInspectorProbe } from './test/helpers/quiet-inspector-probe.ts'

quietInspectorProbe()

/** WeChat's API, faked: the tests' only stand-in. Every other outbound request is refused. */
const FAKE_WECHAT = 'fake-wechat.test'
const fake = fakeWechat()

// Tests run inside workerd with real local KV, Queues and Durable Objects. Secrets are
// WeChat's documented sample account and override any local .dev.vars; the Queue retries at
// once so retry paths stay quick.
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        outboundService(request: Request) {
          const url = new URL(request.url)
          if (url.hostname !== FAKE_WECHAT) {
            return new Response(`no network in tests: ${url.hostname}`, { status: 599 })
          }
          return fake.fetch(request)
        },
        bindings: {
          WECHAT_APPSECRET: 'test-secret',
          WECHAT_API_BASE: `https://${FAKE_WECHAT}/`,
          WECHAT_TOKEN: 'spamtest',
          WECHAT_APPID: 'wx2c2769f8efd9abc2',
          WECHAT_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
          ADMIN_TOKEN: 'test-admin-token',
          QUEUE_RETRY_BASE_SECONDS: '0',
          REQUIRE_ENCRYPTION: 'false',
          DEBUG_CONSOLE: 'false',
        },
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**'],
    testTimeout: 30_000,
    // Every spy is undone before the next test, whether or not its file remembered to.
    restoreMocks: true,
    // The Worker logs a JSON line per push; show them only for tests that fail.
    silent: 'passed-only',
  },
})
