/**
 * A fake language model for local development and the tests: an OpenAI-compatible chat
 * completions endpoint (`POST …/chat/completions`, `GET …/models`), as strict as the real ones
 * about the request's shape, whose answers are deterministic: they quote the question and say
 * how much of the conversation came with it, so that memory and isolation can be seen. Its
 * state (records, holds) is in memory. `npm run dev` serves it at /debug/fake-model/v1/ (only
 * with DEBUG_CONSOLE=true); the tests reach it as https://fake-model.test/v1/.
 *
 * It imports nothing of the client it stands in for (src/assistant/model.ts): its rules are
 * written from the references, each field's where it is checked or answered, so that a
 * misreading of ours is not shared by the fake that should catch it:
 * - OpenAI's chat completions request: https://platform.openai.com/docs/api-reference/chat/create
 * - its answer, the chat completion object: https://platform.openai.com/docs/api-reference/chat/object
 * - Workers AI's OpenAI-compatible endpoints, the same shapes:
 *   https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/
 *   (the binding's own `{ response, usage }` is `AiTextGenerationOutput` in
 *   @cloudflare/workers-types; the binding is not HTTP, so it is not served here).
 *
 * Directives in the question (the last user message), each as `[name=value]`:
 * - `[delay=ms]`: answer that much later (at most 120 s);
 * - `[length=bytes]`: an answer of at least that many bytes of UTF-8 (at most 100,000);
 * - `[hold=tag]`: answer only once `POST /fake/release {"tag"}` was called (at most 120 s);
 * - `[think=done]`: the answer after a reasoning model's `<think>…</think>`; `[think=cut]`: the
 *   reasoning alone, its `<think>` never closed, as when max tokens cut it (`finish_reason:
 *   "length"`);
 * - `[fail=500|429|400|timeout|malformed|empty|huge]` (`huge`: a well-formed completion of
 *   over 300 KiB, as a misbehaving endpoint sends), `[fail=500*2]` for the first two calls only.
 *
 * Control routes: `POST /fake/release {tag}`, `POST /fake/defaults {delayMs, length}` (for
 * every call without a directive), `GET /fake/calls?q=<text>` (the calls whose question
 * contains it: system prompt, remembered messages, whether a bearer key came).
 */

const MAX_BODY_BYTES = 256 * 1024
const MAX_WAIT_MS = 120_000
const MAX_LENGTH = 100_000
const MAX_RECORDED = 500
const MODEL_ID = 'fake-model'

interface Message {
  readonly role: 'system' | 'user' | 'assistant'
  readonly content: string
}

/** A call as the fake took it. */
export interface FakeModelCall {
  readonly at: number
  readonly model: string
  readonly question: string
  readonly system: string
  /** Messages before the question, the system prompt left out. */
  readonly history: number
  readonly bearer: boolean
  readonly maxTokens: number | null
}

const DIRECTIVE = /\[(delay|length|hold|think|fail)=([\w.*-]{1,40})\]/g
/** What `[fail=huge]` answers: past any bound a client should read to. */
const HUGE_BYTES = 300 * 1024
const REASONING = 'The user asks something; I should answer briefly, in their language.'

function directivesOf(question: string): Map<string, string> {
  const found = new Map<string, string>()
  for (const match of question.matchAll(DIRECTIVE)) {
    if (match[1] && match[2]) found.set(match[1], match[2])
  }
  return found
}

/** OpenAI's error object: `{ error: { message, type } }`, with the HTTP status. */
function error(status: number, message: string, headers: HeadersInit = {}): Response {
  return Response.json(
    { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error' } },
    { status, headers },
  )
}

/**
 * The request's messages, or why they are not what the API takes: `messages`, a non-empty
 * array of `{ role, content }`, content a string for these roles (create's reference, "messages").
 */
function messagesOf(body: Record<string, unknown>): Message[] | string {
  const { messages } = body
  if (!Array.isArray(messages) || messages.length === 0) return 'messages must be a non-empty array'
  const checked: Message[] = []
  for (const [index, entry] of messages.entries()) {
    if (typeof entry !== 'object' || entry === null) return `messages[${index}] must be an object`
    const { role, content } = entry as Record<string, unknown>
    if (role !== 'system' && role !== 'user' && role !== 'assistant') {
      return `messages[${index}].role must be system, user or assistant`
    }
    if (typeof content !== 'string') return `messages[${index}].content must be a string`
    checked.push({ role, content })
  }
  if (checked.at(-1)?.role !== 'user') return 'the last message must be the user’s'
  return checked
}

const FILLER = [
  'This sentence is filler of the fake model, so that a long answer can be seen in parts.',
  '这是假模型的填充句子，用来测试长回答的分段。',
]

/** The fake's answer: the question quoted, the conversation it came with, filler to `length`. */
export function fakeAnswer(question: string, earlier: readonly Message[], length: number): string {
  const asked = question.replace(DIRECTIVE, '').trim()
  const users = earlier.filter((message) => message.role === 'user')
  const last = users.at(-1)?.content.replace(DIRECTIVE, '').trim()
  let text = `Answer to “${asked}”${
    last === undefined
      ? ' (a new conversation).'
      : ` (I remember ${users.length} earlier message${users.length === 1 ? '' : 's'}; the last: “${last}”).`
  }`
  const encoder = new TextEncoder()
  for (let i = 0; encoder.encode(text).length < length; i++) {
    text += `\n${i + 1}. ${FILLER[i % FILLER.length]}`
  }
  return text
}

/**
 * @example
 * const model = fakeModel()
 * await model.fetch(new Request('https://fake-model.test/v1/chat/completions', { method: 'POST', body }))
 */
export function fakeModel() {
  const calls: FakeModelCall[] = []
  const holds = new Map<string, Set<() => void>>()
  const released = new Set<string>()
  const failed = new Map<string, number>()
  let defaults = { delayMs: 0, length: 0 }

  const wait = (ms: number) =>
    new Promise<void>((resolve) => setTimeout(resolve, Math.min(MAX_WAIT_MS, Math.max(0, ms))))

  const holdUntilReleased = (tag: string) => {
    if (released.has(tag)) return Promise.resolve()
    let done = () => {}
    return Promise.race([
      new Promise<void>((resolve) => {
        done = resolve
        holds.set(tag, (holds.get(tag) ?? new Set()).add(resolve))
      }),
      wait(MAX_WAIT_MS),
    ]).finally(() => {
      holds.get(tag)?.delete(done)
      if (holds.get(tag)?.size === 0) holds.delete(tag)
    })
  }

  async function readJson(request: Request): Promise<Record<string, unknown> | null> {
    const declared = Number(request.headers.get('Content-Length') ?? '0')
    if (declared > MAX_BODY_BYTES) return null
    const text = await request.text()
    if (text.length > MAX_BODY_BYTES) return null
    try {
      const body: unknown = JSON.parse(text)
      return typeof body === 'object' && body !== null && !Array.isArray(body)
        ? (body as Record<string, unknown>)
        : null
    } catch {
      return null
    }
  }

  async function complete(request: Request): Promise<Response> {
    const authorization = request.headers.get('Authorization')
    if (authorization !== null && !/^Bearer \S+$/.test(authorization)) {
      return error(401, 'Authorization must be "Bearer <key>"')
    }
    const body = await readJson(request)
    if (body === null) return error(400, 'the body must be a JSON object of at most 256 KiB')
    // create's reference: `model` (string, required); `max_tokens` (integer, optional, deprecated
    // for max_completion_tokens but what compatible servers know); `stream` (boolean).
    if (typeof body.model !== 'string' || body.model === '') return error(400, 'model is required')
    const maxTokens = body.max_tokens
    if (
      maxTokens !== undefined &&
      !(typeof maxTokens === 'number' && Number.isInteger(maxTokens) && maxTokens > 0)
    ) {
      return error(400, 'max_tokens must be a positive integer')
    }
    if (body.stream === true) return error(400, 'this fake does not stream')
    const messages = messagesOf(body)
    if (typeof messages === 'string') return error(400, messages)
    const question = messages.at(-1)?.content ?? ''
    const earlier = messages.slice(0, -1).filter((message) => message.role !== 'system')
    calls.push({
      at: Date.now(),
      model: body.model,
      question,
      system: messages.find((message) => message.role === 'system')?.content ?? '',
      history: earlier.length,
      bearer: authorization !== null,
      maxTokens: typeof maxTokens === 'number' ? maxTokens : null,
    })
    if (calls.length > MAX_RECORDED) calls.shift()

    const directives = directivesOf(question)
    const hold = directives.get('hold')
    if (hold !== undefined) await holdUntilReleased(hold)
    await wait(Number(directives.get('delay') ?? defaults.delayMs) || 0)
    const failure = directives.get('fail')
    if (failure !== undefined) {
      const [kind = '', times] = failure.split('*')
      const seen = (failed.get(question) ?? 0) + 1
      failed.set(question, seen)
      if (failed.size > MAX_RECORDED) failed.delete(failed.keys().next().value ?? '')
      if (times === undefined || seen <= Number(times)) {
        if (kind === 'timeout') {
          await wait(MAX_WAIT_MS)
          return error(504, 'the fake gave up')
        }
        if (kind === 'malformed') return new Response('{"choices": [', { status: 200 })
        if (kind === 'empty') {
          return Response.json({
            choices: [{ index: 0, message: { role: 'assistant', content: '' } }],
          })
        }
        if (kind === 'huge') {
          const filler = FILLER[0] ?? ''
          const huge = `${filler}\n`.repeat(Math.ceil(HUGE_BYTES / filler.length))
          return completion(body.model, huge, messages)
        }
        const status = Number(kind)
        if (status >= 400 && status <= 599) {
          return error(
            status,
            `the fake failed with ${status}`,
            status === 429 ? { 'Retry-After': '1' } : {},
          )
        }
      }
    }
    const length = Math.min(MAX_LENGTH, Number(directives.get('length') ?? defaults.length) || 0)
    const answer = fakeAnswer(question, earlier, length)
    const think = directives.get('think')
    // Reasoning models put their reasoning first, in the content, between think tags; cut by
    // max tokens, the content is the reasoning alone and finish_reason is "length".
    if (think === 'cut') return completion(body.model, `<think>\n${REASONING}`, messages, 'length')
    const text = think === 'done' ? `<think>\n${REASONING}\n</think>\n\n${answer}` : answer
    return completion(body.model, text, messages)
  }

  /**
   * A chat completion object (its reference): `id`, `object: "chat.completion"`, `created` (Unix
   * seconds), `model`, `choices[]` of `{ index, message: { role, content, refusal },
   * finish_reason, logprobs }`, and `usage` (`prompt_tokens`, `completion_tokens`,
   * `total_tokens`, which Workers AI's `UsageTags` name alike).
   */
  function completion(
    model: string,
    text: string,
    messages: readonly Message[],
    finishReason: 'stop' | 'length' = 'stop',
  ): Response {
    const promptChars = messages.reduce((sum, message) => sum + message.content.length, 0)
    return Response.json({
      id: `chatcmpl-fake-${calls.length}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, refusal: null },
          finish_reason: finishReason,
          logprobs: null,
        },
      ],
      // About four characters a token, as a real tokenizer counts English.
      usage: {
        prompt_tokens: Math.ceil(promptChars / 4),
        completion_tokens: Math.ceil(text.length / 4),
        total_tokens: Math.ceil(promptChars / 4) + Math.ceil(text.length / 4),
      },
    })
  }

  return {
    async fetch(request: Request): Promise<Response> {
      const url = new URL(request.url)
      const path = url.pathname
      if (request.method === 'POST' && path.endsWith('/chat/completions')) return complete(request)
      if (request.method === 'GET' && path.endsWith('/models')) {
        return Response.json({ object: 'list', data: [{ id: MODEL_ID, object: 'model' }] })
      }
      if (request.method === 'POST' && path.endsWith('/fake/release')) {
        const body = await readJson(request)
        const tag = typeof body?.tag === 'string' ? body.tag : null
        if (tag === null) return error(400, 'tag is required')
        // A released tag stays released: a call tried again after a failure is not held.
        const waiting = [...(holds.get(tag) ?? [])]
        for (const wake of waiting) wake()
        released.add(tag)
        // What it keeps is bounded: the oldest early release, or failure count, is forgotten.
        if (released.size > MAX_RECORDED) released.delete(released.values().next().value ?? '')
        return Response.json({ released: tag, waiting: waiting.length })
      }
      if (request.method === 'POST' && path.endsWith('/fake/defaults')) {
        const body = await readJson(request)
        const number = (value: unknown, max: number) =>
          typeof value === 'number' && Number.isFinite(value) && value >= 0
            ? Math.min(max, value)
            : 0
        defaults = {
          delayMs: number(body?.delayMs, MAX_WAIT_MS),
          length: number(body?.length, MAX_LENGTH),
        }
        return Response.json(defaults)
      }
      if (request.method === 'GET' && path.endsWith('/fake/calls')) {
        const q = url.searchParams.get('q') ?? ''
        return Response.json(calls.filter((call) => call.question.includes(q)))
      }
      return error(404, 'not found')
    },
  }
}
