/**
 * The AI assistant's deployment-wide settings, read once per env: which model answers (any
 * OpenAI-compatible chat completions endpoint, or Workers AI through its binding), and the
 * limits every question meets. Off, with the reason (never a value), when neither is set.
 * Whether an account may send customer-service messages is the account's own setting
 * (`passiveOnly`, src/accounts/settings.ts). Pure but for reading the env.
 */

import { isSafeServiceUrl, positive } from '../accounts/settings.ts'
import type { Env } from '../env.ts'

/** Workers AI's default model: current, on the Free plan (README, "An AI assistant"). */
export const DEFAULT_WORKERS_AI_MODEL = '@cf/zai-org/glm-4.7-flash'

/** What wechat-edge uses of the Workers AI binding (`env.AI`): one call. */
export interface AiBinding {
  run(model: string, inputs: object, options?: { signal?: AbortSignal }): Promise<unknown>
}

/** Where the model is, and which one. */
export type ModelProvider =
  | {
      readonly kind: 'openai'
      /** Ends with `/`: `chat/completions` is resolved against it. */
      readonly baseUrl: string
      readonly apiKey: string | null
      readonly model: string
    }
  | { readonly kind: 'workers-ai'; readonly binding: AiBinding; readonly model: string }

export interface AssistantSettings {
  /** Null when the assistant is off: see `off`. */
  readonly provider: ModelProvider | null
  /** Why it is off (a setting's name, never its value); null when on. */
  readonly off: string | null
  /** One model call's timeout. */
  readonly timeoutMs: number
  /** Calls per question at most, the first included: a failure is retried with backoff. */
  readonly maxAttempts: number
  /** The answer's length in tokens at most; 0 sends no limit (some reasoning models refuse one). */
  readonly maxTokens: number
  readonly userPerHour: number
  readonly accountPerHour: number
  /** Questions a user may have waiting for the model at once; past them, the `limited` notice. */
  readonly userPending: number
}

const settings = new WeakMap<Env, AssistantSettings>()

/**
 * @example
 * const { provider, off } = assistantSettings(env)
 */
export function assistantSettings(env: Env): AssistantSettings {
  let read = settings.get(env)
  if (!read) {
    read = parseSettings(env)
    settings.set(env, read)
  }
  return read
}

function parseSettings(env: Env): AssistantSettings {
  const limits = {
    timeoutMs: positive(env.AI_TIMEOUT_MS, 30_000),
    maxAttempts: Math.min(5, Math.floor(positive(env.AI_MAX_ATTEMPTS, 2))),
    maxTokens: nonNegativeInteger(env.AI_MAX_TOKENS, 800),
    userPerHour: Math.floor(positive(env.AI_USER_PER_HOUR, 30)),
    accountPerHour: Math.floor(positive(env.AI_ACCOUNT_PER_HOUR, 1000)),
    userPending: Math.floor(positive(env.AI_USER_PENDING, 5)),
  }
  const off = (why: string): AssistantSettings => ({ provider: null, off: why, ...limits })
  const baseUrl = env.AI_BASE_URL?.trim() ?? ''
  const model = env.AI_MODEL?.trim() ?? ''
  if (baseUrl !== '') {
    if (!isSafeServiceUrl(baseUrl))
      return off('AI_BASE_URL must be https (http only on this machine)')
    if (model === '') return off('AI_MODEL is not set: an OpenAI-compatible endpoint needs one')
    return {
      provider: {
        kind: 'openai',
        baseUrl: baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`,
        apiKey: env.AI_API_KEY?.trim() || null,
        model,
      },
      off: null,
      ...limits,
    }
  }
  const binding: unknown = Reflect.get(env, 'AI')
  if (isAiBinding(binding)) {
    return {
      provider: { kind: 'workers-ai', binding, model: model || DEFAULT_WORKERS_AI_MODEL },
      off: null,
      ...limits,
    }
  }
  return off('neither AI_BASE_URL nor a Workers AI binding (AI) is configured')
}

function isAiBinding(value: unknown): value is AiBinding {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { run?: unknown }).run === 'function'
  )
}

function nonNegativeInteger(value: string | undefined, fallback: number): number {
  const number = Number(value)
  return value !== undefined && value.trim() !== '' && Number.isInteger(number) && number >= 0
    ? number
    : fallback
}
