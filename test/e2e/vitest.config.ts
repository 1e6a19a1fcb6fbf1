import { defineConfig } from 'vitest/config'

// End-to-end tests run in Node: they start `wrangler dev` as a developer would, run the simulator, and drive
// Debian's Chromium through playwright-core. `npm run test:e2e`; CI installs Chromium first.
export default defineConfig({
  test: {
    root: new URL('.', import.meta.url).pathname,
    include: ['*.e2e.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
})
