import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { buildSync } from 'esbuild'
import { defineConfig } from 'vitest/config'
import { quietInspectorProbe } from './test/helpers/quiet-inspector-probe.ts'

quietInspectorProbe()

/** WeChat's API, faked (the tests' only stand-in), bundled to run as a worker of its own. */
const FAKE_WECHAT_HOST = 'fake-wechat.test'
const fakeWechatScript = buildSync({
  entryPoints: ['test/helpers/fake-wechat-worker.ts'],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  write: false,
}).outputFiles[0]?.text
if (!fakeWechatScript) throw new Error('the fake WeChat worker did not build')

/**
 * The accounts of WECHAT_ACCOUNTS the tests serve beside the env account (test/helpers/
 * accounts.ts signs for them): `shop` with scan to log in, `news` with an admin token of its
 * own and encryption required, `quiet` without customer-service messages (the assistant's
 * passive-only mode), `broken` without a Token.
 */
const TEST_ACCOUNTS = {
  shop: {
    token: 'shopToken7Kq2Xw9Lm4Rt8Vb3Nz6Yc1Hd5F',
    appId: 'wxa1b2c3d4e5f60718',
    encodingAesKey: 'ShopKey0123456789abcdefghijklmnopqrstuvwxyz',
    appSecret: 'shop-secret',
    requireEncryption: 'false',
    loginSecret: 'shop-login-secret',
    loginSite: 'The Shop',
  },
  news: {
    token: 'newsTokenP3j8Wm2Qx7Lr5Tb9Kv4Zn1Hc6D',
    appId: 'wxb2c3d4e5f6071829',
    encodingAesKey: 'NewsKey0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ',
    appSecret: 'news-secret',
    adminToken: 'news-admin-token',
  },
  broken: { appId: 'wxc3d4e5f607182930', appSecret: 'broken-secret' },
  // Without customer-service messages (48001): the AI assistant answers passively only.
  quiet: {
    token: 'quietTokenM4k9Xr2Pw7Ls5Qb8Vn3Zc6Hd1J',
    appId: 'wxd4e5f60718293a41',
    encodingAesKey: 'QuietKey0123456789abcdefghijklmnopqrstuvwxy',
    appSecret: 'quiet-secret',
    requireEncryption: 'false',
    aiPassiveOnly: 'true',
  },
}

// Tests run inside workerd with real local KV, Queues and Durable Objects. Secrets are
// WeChat's documented sample account and override any local .dev.vars; the Queue retries at
// once so retry paths stay quick.
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      // Built as the dev entry is (the debugging tools included, which the tests exercise), around
      // the framework's test bot rather than src/default-bot.ts, which is the user's to replace.
      main: './test/fixtures/worker.ts',
      miniflare: {
        // Every request the Worker and the tests send out goes to the fake.
        outboundService: 'fake-wechat',
        workers: [
          {
            name: 'fake-wechat',
            modules: true,
            script: fakeWechatScript,
            compatibilityDate: '2026-05-01',
          },
        ],
        bindings: {
          WECHAT_APPSECRET: 'test-secret',
          WECHAT_API_BASE: `https://${FAKE_WECHAT_HOST}/`,
          WECHAT_TOKEN: 'spamtest',
          WECHAT_APPID: 'wx2c2769f8efd9abc2',
          WECHAT_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
          ADMIN_TOKEN: 'test-admin-token',
          LOGIN_SECRET: 'test-login-secret',
          LOGIN_SITE: 'Example Shop',
          WEB_ORIGINS: 'https://shop.example.com, https://m.shop.example.com',
          WEB_SECRET: 'test-web-secret',
          QUEUE_RETRY_BASE_SECONDS: '0',
          REQUIRE_ENCRYPTION: 'false',
          DEBUG_CONSOLE: 'false',
          // The AI assistant's model: the fake (src/debug/fake-model.ts), in the outbound worker.
          AI_BASE_URL: 'https://fake-model.test/v1/',
          AI_MODEL: 'fake-model',
          AI_API_KEY: 'test-ai-key',
          // Three more accounts on the same deployment, and one whose settings are wrong.
          WECHAT_ACCOUNTS: JSON.stringify(TEST_ACCOUNTS),
          // A third-party platform on the same deployment (test/helpers/platform.ts).
          WECHAT_PLATFORM_APPID: 'wxf0e1d2c3b4a59687',
          WECHAT_PLATFORM_APPSECRET: 'test-platform-secret',
          WECHAT_PLATFORM_TOKEN: 'platformTokenR7m2Kx9Qw4Lz8Vb3Nc6Hd1',
          WECHAT_PLATFORM_ENCODING_AES_KEY: 'PlatformKey0123456789abcdefghijklmnopqrstuv',
        },
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'test/deploy/**'],
    testTimeout: 30_000,
    // Every spy is undone before the next test, whether or not its file remembered to.
    restoreMocks: true,
    // The Worker logs a JSON line per push; show them only for tests that fail.
    silent: 'passed-only',
  },
})
