/**
 * The model's protocol (src/assistant/model.ts) and the assistant's pure rules
 * (src/assistant/rules.ts), the provider chosen by configuration (src/assistant/settings.ts).
 */

import { describe, expect, it } from 'vitest'
import { answerOf, callModel, chatRequest, ModelError } from '../../src/assistant/model.ts'
import {
  lastAttempt,
  messagesFor,
  passiveParts,
  retryDelayMs,
  turnsToForget,
  windowedDelivery,
} from '../../src/assistant/rules.ts'
import { assistantSettings, DEFAULT_WORKERS_AI_MODEL } from '../../src/assistant/settings.ts'
import type { Env } from '../../src/env.ts'
import { windowRoom } from '../../src/wechat/windows.ts'

const openai = {
  kind: 'openai' as const,
  baseUrl: 'https://models.example.com/v1/',
  apiKey: 'sk-test',
  model: 'some-model',
}
const options = { maxTokens: 800, timeoutMs: 1_000 }

describe('the provider', () => {
  const settingsOf = (vars: Record<string, unknown>) => assistantSettings(vars as unknown as Env)

  it('is an OpenAI-compatible endpoint with AI_BASE_URL and AI_MODEL, the key if any', () => {
    expect(
      settingsOf({ AI_BASE_URL: 'https://api.example.com/v1', AI_MODEL: 'm', AI_API_KEY: 'k' })
        .provider,
    ).toEqual({ kind: 'openai', baseUrl: 'https://api.example.com/v1/', apiKey: 'k', model: 'm' })
  })

  it('is Workers AI with a binding, the current default model unless AI_MODEL names one', () => {
    const binding = { run: async () => ({ response: 'hi' }) }
    expect(settingsOf({ AI: binding }).provider).toEqual({
      kind: 'workers-ai',
      binding,
      model: DEFAULT_WORKERS_AI_MODEL,
    })
  })

  it('is off, saying why, with neither, an endpoint in clear, or no model', () => {
    expect(settingsOf({})).toMatchObject({
      provider: null,
      off: expect.stringContaining('neither'),
    })
    expect(settingsOf({ AI_BASE_URL: 'http://models.example.com/', AI_MODEL: 'm' }).off).toBe(
      'AI_BASE_URL must be https (http only on this machine)',
    )
    expect(settingsOf({ AI_BASE_URL: 'https://models.example.com/' }).off).toContain('AI_MODEL')
  })
})

describe('a chat completions call', () => {
  it('sends the model, the messages, max_tokens and the bearer key', async () => {
    const request = chatRequest(openai, [{ role: 'user', content: 'hi' }], options)
    expect(request.url).toBe('https://models.example.com/v1/chat/completions')
    expect(request.headers.get('Authorization')).toBe('Bearer sk-test')
    expect(await request.json()).toEqual({
      model: 'some-model',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 800,
      stream: false,
    })
    const unbounded = chatRequest({ ...openai, apiKey: null }, [], { ...options, maxTokens: 0 })
    expect(unbounded.headers.get('Authorization')).toBeNull()
    expect(await unbounded.json()).not.toHaveProperty('max_tokens')
  })

  it.each([
    [500, 'server_error', true],
    [429, 'rate_limited', true],
    [401, 'refused', false],
    [400, 'refused', false],
  ] as const)('classes HTTP %i as %s (retryable: %s)', async (status, failure, retryable) => {
    const failed = await callModel(
      openai,
      [],
      options,
      async () => new Response('', { status }),
    ).catch((error: unknown) => error)
    expect(failed).toBeInstanceOf(ModelError)
    expect(failed).toMatchObject({ failure, retryable })
  })

  it('gives up at its timeout, and calls an endpoint it cannot reach unreachable', async () => {
    const never = () => new Promise<Response>(() => {})
    await expect(callModel(openai, [], { ...options, timeoutMs: 20 }, never)).rejects.toMatchObject(
      {
        failure: 'timeout',
        reason: 'model: timeout',
      },
    )
    const down = async () => {
      throw new TypeError('network')
    }
    await expect(callModel(openai, [], options, down)).rejects.toMatchObject({
      failure: 'unreachable',
    })
  })

  it('calls Workers AI through its binding, with the messages and the limit', async () => {
    const seen: unknown[] = []
    const binding = {
      run: async (model: string, inputs: object) => {
        seen.push(model, inputs)
        return { response: 'from Workers AI', usage: { prompt_tokens: 3, completion_tokens: 4 } }
      },
    }
    const answer = await callModel(
      { kind: 'workers-ai', binding, model: '@cf/meta/llama-3.1-8b-instruct-fast' },
      [{ role: 'user', content: 'hi' }],
      options,
    )
    expect(answer).toEqual({ text: 'from Workers AI', promptTokens: 3, completionTokens: 4 })
    expect(seen).toEqual([
      '@cf/meta/llama-3.1-8b-instruct-fast',
      { messages: [{ role: 'user', content: 'hi' }], max_tokens: 800 },
    ])
  })
})

describe('an answer', () => {
  it('is read from a chat completion, or Workers AI’s { response }', () => {
    expect(
      answerOf({
        choices: [{ message: { content: ' Hello ' } }],
        usage: { prompt_tokens: 1, completion_tokens: 2 },
      }),
    ).toEqual({ text: 'Hello', promptTokens: 1, completionTokens: 2 })
    expect(answerOf({ response: 'Hi' })).toEqual({
      text: 'Hi',
      promptTokens: null,
      completionTokens: null,
    })
  })

  it('leaves a reasoning model’s thinking out, and refuses an empty or malformed one', () => {
    expect(answerOf({ response: '<think>hmm</think>\nYes.' }).text).toBe('Yes.')
    expect(() => answerOf({ choices: [{ message: { content: '' } }] })).toThrow(/empty/)
    expect(() => answerOf({ choices: [{ message: { content: null } }] })).toThrow(/empty/)
    expect(() => answerOf({ response: 42 })).toThrow(/malformed/)
    expect(() => answerOf('text')).toThrow(/malformed/)
  })
})

describe('a response too large to be an answer', () => {
  const KIB = 1024
  /** A 200 response of `total` bytes in 64 KiB chunks, counting what was pulled from it. */
  const streamed = (total: number) => {
    const pulled = { bytes: 0, cancelled: false }
    const chunk = new Uint8Array(64 * KIB).fill(0x20)
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled.bytes >= total) return controller.close()
        pulled.bytes += chunk.byteLength
        controller.enqueue(chunk)
      },
      cancel() {
        pulled.cancelled = true
      },
    })
    return { pulled, response: new Response(body, { status: 200 }) }
  }

  it('fails the attempt as too_large past 256 KiB, having read no more than that', async () => {
    const { pulled, response } = streamed(4 * KIB * KIB)
    await expect(callModel(openai, [], options, async () => response)).rejects.toMatchObject({
      failure: 'too_large',
      retryable: false,
      reason: 'model: too_large',
    })
    expect(pulled.bytes).toBeLessThanOrEqual(256 * KIB + 64 * KIB)
    expect(pulled.cancelled).toBe(true)
  })

  it('fails a well-formed completion over the bound too, and reads one under it', async () => {
    const completion = (bytes: number) =>
      Response.json({ choices: [{ message: { content: 'a'.repeat(bytes) } }] })
    await expect(
      callModel(openai, [], options, async () => completion(300 * KIB)),
    ).rejects.toMatchObject({ failure: 'too_large' })
    const under = await callModel(openai, [], options, async () => completion(200 * KIB))
    expect(under.text).toHaveLength(200 * KIB)
  })

  it('is refused from its Content-Length alone, nothing read', async () => {
    const { pulled, response } = streamed(4 * KIB * KIB)
    const declared = new Response(response.body, {
      headers: { 'Content-Length': String(4 * KIB * KIB) },
    })
    await expect(callModel(openai, [], options, async () => declared)).rejects.toMatchObject({
      failure: 'too_large',
    })
    expect(pulled.bytes).toBeLessThanOrEqual(64 * KIB)
  })

  it('cut off mid-body is a network failure, tried again like one', async () => {
    let sent = false
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new TypeError('connection lost'))
        sent = true
        controller.enqueue(new TextEncoder().encode('{"choices": ['))
      },
    })
    await expect(
      callModel(openai, [], options, async () => new Response(body)),
    ).rejects.toMatchObject({ failure: 'unreachable', retryable: true })
  })

  it('from Workers AI fails the same way: an answer over 256 KiB is no answer', async () => {
    const binding = { run: async () => ({ response: 'a'.repeat(300 * KIB) }) }
    await expect(
      callModel({ kind: 'workers-ai', binding, model: 'm' }, [], options),
    ).rejects.toMatchObject({ failure: 'too_large' })
  })
})

describe('a reasoning model’s thinking', () => {
  it('is left out when it comes first, closed, with or without its opening tag', () => {
    expect(answerOf({ response: '  <think>\nhmm</think>\n\nYes.' }).text).toBe('Yes.')
    // Some templates put the opening tag in the prompt: the answer starts with the reasoning.
    expect(answerOf({ response: 'hmm, let me see\n</think>\nYes.' }).text).toBe('Yes.')
    expect(() => answerOf({ response: '<think>hmm</think>  ' })).toThrow(/empty/)
  })

  it('never becomes the answer when max tokens cut it: the attempt fails, saying why', () => {
    const cut = (() => {
      try {
        answerOf({ choices: [{ message: { content: '<think>the user wants… so I should' } }] })
      } catch (error) {
        return error
      }
      return null
    })()
    expect(cut).toBeInstanceOf(ModelError)
    expect(cut).toMatchObject({
      failure: 'reasoning_unfinished',
      retryable: false,
      reason: 'model: reasoning_unfinished',
    })
  })

  it('is only a leading block: a think tag inside the answer is the answer’s', () => {
    expect(answerOf({ response: 'Use <think> tags.' }).text).toBe('Use <think> tags.')
  })
})

describe('the rules', () => {
  it('mark the bot’s context as the account’s, and put the turns before the question', () => {
    expect(
      messagesFor('Be brief.', { account: 'shop' }, [{ question: 'q1', answer: 'a1' }], 'q2'),
    ).toEqual([
      {
        role: 'system',
        content:
          'Be brief.\n\nContext from the account (not written by the user):\n- account: shop',
      },
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'q2' },
    ])
  })

  it('forget the oldest turns past the turns or the bytes, never the newest', () => {
    const bounds = { turns: 2, bytes: 250, hours: 24 }
    expect(turnsToForget([100, 100, 100], bounds)).toBe(1)
    expect(turnsToForget([100, 100, 100], { ...bounds, bytes: 150 })).toBe(2)
    expect(turnsToForget([1000], bounds)).toBe(0)
    expect(turnsToForget([], bounds)).toBe(0)
  })

  it('back off 2 s, 8 s, 32 s, at most a minute, longer when the endpoint asks', () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(attempt, null))).toEqual([
      2_000, 8_000, 32_000, 60_000,
    ])
    expect(retryDelayMs(1, 10_000)).toBe(10_000)
    expect(retryDelayMs(1, 600_000)).toBe(60_000)
  })

  it('take the third attempt, or one 9 s after the first, for WeChat’s last', () => {
    expect(lastAttempt(1, 0, 0)).toBe(false)
    expect(lastAttempt(2, 0, 5_000)).toBe(false)
    expect(lastAttempt(2, 0, 8_999)).toBe(false)
    expect(lastAttempt(3, 0, 5_000)).toBe(true)
    expect(lastAttempt(2, 0, 9_000)).toBe(true)
  })

  it('cut a long answer for passive replies, leaving room for the hint, joined equal', () => {
    const answer = 'word '.repeat(1_000)
    const parts = passiveParts(answer, 2048, '(more)')
    expect(parts.length).toBeGreaterThan(2)
    for (const part of parts)
      expect(new TextEncoder().encode(`${part}\n(more)`).length).toBeLessThanOrEqual(2048)
    expect(parts.join('')).toBe(answer)
    expect(passiveParts('short', 2048, '(more)')).toEqual(['short'])
  })

  it('send what a window carries, earlier rests first, ending with the notice, the rest kept', () => {
    const notice = '(The rest later.)'
    const [earlier, answer] = ['a'.repeat(3000), 'b'.repeat(5000)]
    const all = windowedDelivery([earlier, answer], 5, 2048, notice)
    expect(all.messages).toHaveLength(5)
    expect(all.messages.join('')).toBe(earlier + answer)
    expect(all.rests).toEqual([null, null])

    const cut = windowedDelivery([earlier, answer], 3, 2048, notice)
    expect(cut.messages).toHaveLength(3)
    const last = cut.messages[2]!
    expect(last.endsWith(`\n${notice}`)).toBe(true)
    for (const message of cut.messages)
      expect(new TextEncoder().encode(message).length).toBeLessThanOrEqual(2048)
    expect(cut.rests[0]).toBeNull()
    const sent = cut.messages.join('').replace(`\n${notice}`, '')
    expect(sent + (cut.rests[1] ?? '')).toBe(earlier + answer)

    const none = windowedDelivery([answer], 0, 2048, notice)
    expect(none).toEqual({ messages: [], rests: [answer] })
  })

  it('count a window’s room as the largest single open window’s', () => {
    const now = 1_000_000
    expect(windowRoom({ message: { openedAt: now, used: 2 } }, now)).toBe(3)
    expect(
      windowRoom({ message: { openedAt: now, used: 5 }, event: { openedAt: now, used: 1 } }, now),
    ).toBe(2)
    expect(windowRoom({ event: { openedAt: now - 60_000, used: 0 } }, now)).toBe(0)
    expect(windowRoom({}, now)).toBe(0)
  })
})
