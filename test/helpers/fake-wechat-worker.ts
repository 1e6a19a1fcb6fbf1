/**
 * The fake WeChat API as a worker of its own, beside the Worker under test: every request the
 * tests' workers send out reaches it (vitest.config.ts names it their outbound service), and
 * anything not for WeChat's fake host is refused.
 */

import { fakeWechat } from '../../src/debug/fake-wechat.ts'

/** The host vitest.config.ts points WECHAT_API_BASE at. A worker exports handlers only. */
const FAKE_WECHAT_HOST = 'fake-wechat.test'

const fake = fakeWechat()

export default {
  fetch(request: Request): Response | Promise<Response> {
    const { hostname } = new URL(request.url)
    if (hostname !== FAKE_WECHAT_HOST) {
      return new Response(`no network in tests: ${hostname}`, { status: 599 })
    }
    return fake.fetch(request)
  },
}
