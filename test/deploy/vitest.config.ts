import { defineConfig } from 'vitest/config'

// The deploy path, run in Node as an operator would: `npm run setup` and `npm run deploy` in a
// pseudo-terminal, wrangler unchanged, against a stand-in of Cloudflare's API on loopback.
// `npm run test:deploy`.
export default defineConfig({
  test: {
    root: new URL('.', import.meta.url).pathname,
    include: ['*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
})
