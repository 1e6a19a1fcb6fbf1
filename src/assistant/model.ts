/**
 * Calling the model: an OpenAI-compatible chat completions request and its answer, or the
 * Workers AI binding's, whose answer comes in either of its shapes (`{ response }` for older
 * models, the chat completion's for newer ones). Failures are classed once, here: which are
 * worth another attempt. Protocol pure; the call itself (fetch, the binding) is thin.
 *
 * https://platform.openai.com/docs/api-reference/chat/create
 * https://developers.cloudflare.com/workers-ai/configuration/bindings/
 */

import type { ModelProvider } from './settings.ts'

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant'
  readonly content: string
}

export interface ModelAnswer {
  readonly text: string
  /** As the model counted them; null when it did not say. */
  readonly promptTokens: number | null
  readonly completionTokens: number | null
}

/** Why a call failed: never content, fit for a log line and a dead letter's reason. */
export type ModelFailure =
  | 'timeout'
  | 'unreachable'
  | 'rate_limited'
  | 'server_error'
  | 'refused'
  | 'malformed'
  | 'empty'
  /** The response, or the answer in it, is over {@link MAX_ANSWER_BYTES}. */
  | 'too_large'
  /** A reasoning model's `<think>` never closed (max tokens cut it): there is no answer. */
  | 'reasoning_unfinished'
  | 'off'

/**
 * What a model's response may weigh, read: far more than any answer (AI_MAX_TOKENS' 800 tokens
 * are a few KiB, even with every character JSON-escaped), far less than what a misbehaving
 * endpoint could send. Past it, the attempt fails as `too_large`, and nothing more is read.
 */
export const MAX_ANSWER_BYTES = 256 * 1024

// too_large and reasoning_unfinished are not retried: the same request to the same endpoint,
// with the same max_tokens, would most likely come back the same, at the same cost.
const RETRYABLE: ReadonlySet<ModelFailure> = new Set([
  'timeout',
  'unreachable',
  'rate_limited',
  'server_error',
])

export class ModelError extends Error {
  override readonly name = 'ModelError'
  readonly failure: ModelFailure
  readonly status: number | null
  /** What the endpoint asked for (Retry-After), in ms; null when it did not. */
  readonly retryAfterMs: number | null

  constructor(
    failure: ModelFailure,
    status: number | null = null,
    retryAfterMs: number | null = null,
  ) {
    super(`the model failed: ${failure}${status === null ? '' : ` (HTTP ${status})`}`)
    this.failure = failure
    this.status = status
    this.retryAfterMs = retryAfterMs
  }

  /** A timeout, a network failure, a 429 or a 5xx: another attempt may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.failure)
  }

  /** `model: timeout`, `model: server_error (HTTP 502)`: what a dead letter says. */
  get reason(): string {
    return `model: ${this.failure}${this.status === null ? '' : ` (HTTP ${this.status})`}`
  }
}

export interface CallOptions {
  readonly maxTokens: number
  readonly timeoutMs: number
}

/**
 * The chat completions request for an OpenAI-compatible endpoint.
 *
 * @example
 * const request = chatRequest(provider, [{ role: 'user', content: 'hi' }], { maxTokens: 800, timeoutMs: 30_000 })
 */
export function chatRequest(
  provider: Extract<ModelProvider, { kind: 'openai' }>,
  messages: readonly ChatMessage[],
  options: CallOptions,
  signal?: AbortSignal,
): Request {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (provider.apiKey !== null) headers.Authorization = `Bearer ${provider.apiKey}`
  return new Request(new URL('chat/completions', provider.baseUrl), {
    method: 'POST',
    headers,
    body: JSON.stringify({
      model: provider.model,
      messages,
      // max_tokens, which every compatible server knows (OpenAI's newest models want
      // max_completion_tokens: AI_MAX_TOKENS=0 sends neither).
      ...(options.maxTokens > 0 && { max_tokens: options.maxTokens }),
      stream: false,
    }),
    ...(signal && { signal }),
  })
}

/** A chat completions HTTP answer, read: the text, or a {@link ModelError}. */
export async function readChatResponse(response: Response): Promise<ModelAnswer> {
  if (!response.ok) {
    await response.body?.cancel()
    if (response.status === 429) {
      throw new ModelError('rate_limited', 429, retryAfterMs(response.headers.get('Retry-After')))
    }
    throw new ModelError(response.status >= 500 ? 'server_error' : 'refused', response.status)
  }
  let body: unknown
  try {
    body = JSON.parse(await boundedText(response))
  } catch (error) {
    if (error instanceof ModelError) throw error
    throw new ModelError('malformed', response.status)
  }
  return answerOf(body)
}

const utf8 = new TextDecoder()

/**
 * The body as text, read chunk by chunk and never past {@link MAX_ANSWER_BYTES}: a declared
 * Content-Length over it is refused before a byte is read, and a stream that runs past it is
 * cancelled there. Throws a `too_large` {@link ModelError}, or `unreachable` for a body cut off.
 */
async function boundedText(response: Response): Promise<string> {
  const tooLarge = () => new ModelError('too_large')
  if (Number(response.headers.get('Content-Length')) > MAX_ANSWER_BYTES) {
    await response.body?.cancel()
    throw tooLarge()
  }
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    let read: ReadableStreamReadResult<Uint8Array>
    try {
      read = await reader.read()
    } catch {
      // The connection went mid-body: a network failure, tried again like one.
      throw new ModelError('unreachable')
    }
    const { done, value } = read
    if (done) break
    size += value.byteLength
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return utf8.decode(bytes)
}

/**
 * The answer in what a model returned: a chat completion (`choices[0].message.content`), or
 * Workers AI's older `{ response }`; token counts from `usage` when present. A reasoning model's
 * leading `<think>…</think>` is left out, and one never closed is no answer
 * (`reasoning_unfinished`); an answer over {@link MAX_ANSWER_BYTES} is `too_large` (the
 * binding's answer is not read here, so it is bounded here).
 *
 * @example
 * answerOf({ response: 'Hello!' }).text // 'Hello!'
 */
export function answerOf(body: unknown): ModelAnswer {
  if (typeof body !== 'object' || body === null) throw new ModelError('malformed')
  const record = body as Record<string, unknown>
  let text: unknown = record.response
  if (typeof text !== 'string' && Array.isArray(record.choices)) {
    const first: unknown = record.choices[0]
    const message =
      typeof first === 'object' && first !== null ? (first as { message?: unknown }).message : null
    text =
      typeof message === 'object' && message !== null
        ? (message as { content?: unknown }).content
        : undefined
  }
  if (text === null || text === undefined) throw new ModelError('empty')
  if (typeof text !== 'string') throw new ModelError('malformed')
  if (utf8Bytes(text) > MAX_ANSWER_BYTES) throw new ModelError('too_large')
  const answer = withoutThinking(text).trim()
  if (answer === '') throw new ModelError('empty')
  const usage = typeof record.usage === 'object' && record.usage !== null ? record.usage : {}
  const count = (name: string) => {
    const value: unknown = (usage as Record<string, unknown>)[name]
    return typeof value === 'number' && Number.isFinite(value) ? value : null
  }
  return {
    text: answer,
    promptTokens: count('prompt_tokens'),
    completionTokens: count('completion_tokens'),
  }
}

const THINK_OPEN = '<think>'
const THINK_CLOSE = '</think>'

/**
 * The answer after a reasoning model's leading thinking, in linear time (no regex to backtrack):
 * `<think>…</think>` first, or reasoning then `</think>` where the model's template put the
 * opening tag in the prompt (DeepSeek-R1's distillations do). A `<think>` never closed means
 * max tokens cut the reasoning: the user must never be sent it.
 */
function withoutThinking(text: string): string {
  const start = text.trimStart()
  if (start.startsWith(THINK_OPEN)) {
    const end = start.indexOf(THINK_CLOSE, THINK_OPEN.length)
    if (end === -1) throw new ModelError('reasoning_unfinished')
    return start.slice(end + THINK_CLOSE.length)
  }
  const end = text.indexOf(THINK_CLOSE)
  if (end !== -1 && text.lastIndexOf(THINK_OPEN, end) === -1) {
    return text.slice(end + THINK_CLOSE.length)
  }
  return text
}

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length
}

/** Retry-After in seconds (or an HTTP date), in ms; null when absent or unreadable. */
function retryAfterMs(value: string | null): number | null {
  if (value === null) return null
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now())
}

/**
 * One call of the model, bounded by `timeoutMs`. Throws a {@link ModelError}.
 *
 * @example
 * const answer = await callModel(provider, messages, { maxTokens: 800, timeoutMs: 30_000 })
 */
export async function callModel(
  provider: ModelProvider,
  messages: readonly ChatMessage[],
  options: CallOptions,
  fetcher: typeof fetch = fetch,
): Promise<ModelAnswer> {
  const abort = new AbortController()
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort()
      reject(new ModelError('timeout'))
    }, options.timeoutMs)
  })
  const call = async (): Promise<ModelAnswer> => {
    if (provider.kind === 'openai') {
      let response: Response
      try {
        response = await fetcher(chatRequest(provider, messages, options, abort.signal))
      } catch {
        throw abort.signal.aborted ? new ModelError('timeout') : new ModelError('unreachable')
      }
      return readChatResponse(response)
    }
    let result: unknown
    try {
      result = await provider.binding.run(
        provider.model,
        {
          messages,
          ...(options.maxTokens > 0 && { max_tokens: options.maxTokens }),
          // The default model reasons first unless told not to: short answers, fewer Neurons.
          ...(provider.model === '@cf/zai-org/glm-4.7-flash' && {
            chat_template_kwargs: { enable_thinking: false },
          }),
        },
        { signal: abort.signal },
      )
    } catch (error) {
      if (abort.signal.aborted) throw new ModelError('timeout')
      throw bindingFailure(error)
    }
    return answerOf(result)
  }
  try {
    return await Promise.race([call(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** What the binding's error says, classed: its message is read, never logged. */
function bindingFailure(error: unknown): ModelError {
  const message = error instanceof Error ? error.message : ''
  if (/\b429\b|rate limit|capacity/i.test(message)) return new ModelError('rate_limited')
  if (/\b4\d\d\b|invalid|not found|forbidden|unauthorized/i.test(message)) {
    return new ModelError('refused')
  }
  return new ModelError('server_error')
}
