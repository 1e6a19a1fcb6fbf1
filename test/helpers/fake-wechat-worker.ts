/**
 * The fake WeChat API and the fake language model as a worker of their own, beside the Worker
 * under test: every request the tests' workers send out reaches it (vitest.config.ts names it
 * their outbound service), and anything not for one of the fakes' hosts is refused.
 */

import { fakeModel } from '../../src/debug/fake-model.ts'
import { fakeWechat } from '../../src/debug/fake-wechat.ts'

/** The hosts vitest.config.ts points WECHAT_API_BASE and AI_BASE_URL at. A worker exports handlers only. */
const FAKE_WECHAT_HOST = 'fake-wechat.test'
const FAKE_MODEL_HOST = 'fake-model.test'

const fake = fakeWechat()
const model = fakeModel()

export default {
  fetch(request: Request): Response | Promise<Response> {
    const { hostname } = new URL(request.url)
    if (hostname === FAKE_MODEL_HOST) return model.fetch(request)
    if (hostname !== FAKE_WECHAT_HOST) {
      return new Response(`no network in tests: ${hostname}`, { status: 599 })
    }
    return fake.fetch(request)
  },
}
