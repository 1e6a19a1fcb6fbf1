/** The tests' handle on the fake language model (src/debug/fake-model.ts), over its own HTTP. */

import type { FakeModelCall } from '../../src/debug/fake-model.ts'

/** Where vitest.config.ts points AI_BASE_URL: the outbound worker serves the fake there. */
export const FAKE_MODEL_BASE = 'https://fake-model.test/v1/'
const BASE = FAKE_MODEL_BASE

export const fakeModel = {
  /** The calls whose question contains `q`. */
  calls: async (q: string): Promise<FakeModelCall[]> => {
    const response = await fetch(new URL(`fake/calls?q=${encodeURIComponent(q)}`, BASE))
    if (!response.ok) throw new Error(`the fake model answered ${response.status}`)
    return response.json()
  },
  /** A call held by `[hold=tag]` answers now (or, called first, the next one does at once). */
  release: async (tag: string): Promise<void> => {
    const response = await fetch(new URL('fake/release', BASE), {
      method: 'POST',
      body: JSON.stringify({ tag }),
    })
    if (!response.ok) throw new Error(`the fake model answered ${response.status}`)
  },
}
