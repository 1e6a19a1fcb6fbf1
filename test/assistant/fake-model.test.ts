/**
 * The fake model (src/debug/fake-model.ts) the tests and `npm run dev` use: as strict as an
 * OpenAI-compatible endpoint about what it is sent, deterministic in what it answers.
 */

import { describe, expect, it } from 'vitest'
import { fakeAnswer } from '../../src/debug/fake-model.ts'
import { FAKE_MODEL_BASE, fakeModel } from '../helpers/fake-model.ts'

const completions = (body: unknown, headers: HeadersInit = {}) =>
  fetch(new URL('chat/completions', FAKE_MODEL_BASE), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })

/** What the fake answered, as the chat completion's shape says. */
interface Completion {
  readonly choices: readonly { readonly message: { readonly content: string } }[]
}
const answerOf = async (response: Response) => {
  const body = (await response.json()) as Completion
  return body.choices[0]?.message.content ?? ''
}

const asked = (content: string, earlier: { role: string; content: string }[] = []) => ({
  model: 'fake-model',
  messages: [{ role: 'system', content: 'Be brief.' }, ...earlier, { role: 'user', content }],
  max_tokens: 100,
})

describe('the fake model', () => {
  it('answers in the chat completion’s shape, deterministically, with token counts', async () => {
    const q = `hello ${crypto.randomUUID()}`
    const first: unknown = await (await completions(asked(q))).json()
    const second = await answerOf(await completions(asked(q)))
    expect(first).toMatchObject({
      object: 'chat.completion',
      model: 'fake-model',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: `Answer to “${q}” (a new conversation).` },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) },
    })
    expect(second).toBe(`Answer to “${q}” (a new conversation).`)
    expect(await fakeModel.calls(q)).toMatchObject([
      { system: 'Be brief.', history: 0, bearer: false, maxTokens: 100 },
      { history: 0 },
    ])
  })

  it('says what of the conversation came with the question', async () => {
    const q = `again ${crypto.randomUUID()}`
    const earlier = [
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'one' },
    ]
    expect(await answerOf(await completions(asked(q, earlier)))).toBe(
      `Answer to “${q}” (I remember 1 earlier message; the last: “first”).`,
    )
  })

  it('makes an answer as long as asked, and fails as asked', async () => {
    const q = `long ${crypto.randomUUID()} [length=3000]`
    const long = await answerOf(await completions(asked(q)))
    expect(long).toBe(fakeAnswer(q, [], 3000))
    expect(new TextEncoder().encode(long).length).toBeGreaterThanOrEqual(3000)
    const once = `flaky ${crypto.randomUUID()} [fail=503*1]`
    expect((await completions(asked(once))).status).toBe(503)
    expect((await completions(asked(once))).status).toBe(200)
    const limited = await completions(asked(`busy ${crypto.randomUUID()} [fail=429]`))
    expect(limited.status).toBe(429)
    expect(limited.headers.get('Retry-After')).toBe('1')
  })

  it('answers as a reasoning model does, thinking first, or cut while thinking', async () => {
    const q = `think ${crypto.randomUUID()}`
    const done = await answerOf(await completions(asked(`${q} [think=done]`)))
    expect(done).toMatch(/^<think>\n[^<]+\n<\/think>\n\n/)
    expect(done.endsWith(`Answer to “${q}” (a new conversation).`)).toBe(true)
    const cut: unknown = await (await completions(asked(`${q} [think=cut]`))).json()
    expect(cut).toMatchObject({ choices: [{ finish_reason: 'length' }] })
    const content = (cut as Completion).choices[0]?.message.content ?? ''
    expect(content.startsWith('<think>')).toBe(true)
    expect(content).not.toContain('</think>')
  })

  it('sends a completion of over 300 KiB when told to misbehave', async () => {
    const response = await completions(asked(`huge ${crypto.randomUUID()} [fail=huge]`))
    expect(response.status).toBe(200)
    expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(300 * 1024)
  })

  it('holds an answer until it is released', async () => {
    const tag = crypto.randomUUID()
    const answer = completions(asked(`held [hold=${tag}]`))
    await expect.poll(() => fakeModel.calls(tag).then((calls) => calls.length)).toBe(1)
    await fakeModel.release(tag)
    expect((await answer).status).toBe(200)
  })

  it.each([
    ['not JSON', '{', 'the body must be a JSON object of at most 256 KiB'],
    ['no model', { messages: [{ role: 'user', content: 'x' }] }, 'model is required'],
    ['no messages', { model: 'm', messages: [] }, 'messages must be a non-empty array'],
    [
      'a wrong role',
      { model: 'm', messages: [{ role: 'tool', content: 'x' }] },
      'messages[0].role must be system, user or assistant',
    ],
    [
      'the assistant last',
      { model: 'm', messages: [{ role: 'assistant', content: 'x' }] },
      'the last message must be the user’s',
    ],
    [
      'a bad max_tokens',
      { model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: -1 },
      'max_tokens must be a positive integer',
    ],
  ])('refuses %s with a 400 naming why', async (_, body, message) => {
    const response = await completions(body)
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: { message } })
  })

  it('refuses an Authorization that is not a bearer key', async () => {
    expect((await completions(asked('x'), { Authorization: 'Basic abc' })).status).toBe(401)
    const withKey = `keyed ${crypto.randomUUID()}`
    await completions(asked(withKey), { Authorization: 'Bearer some-key' })
    expect(await fakeModel.calls(withKey)).toMatchObject([{ bearer: true }])
  })
})
