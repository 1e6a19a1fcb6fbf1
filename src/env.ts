/**
 * The Worker's bindings, vars and secrets, as `wrangler.toml` and `.dev.vars` declare them.
 * Secrets are optional here on purpose: a missing one is a clear error, not a crash.
 */

import type { QueuedPush } from './queue.ts'
import type { UserState } from './user-state.ts'

export interface Env {
  readonly DEDUP: KVNamespace
  readonly PUSHES: Queue<QueuedPush>
  readonly USERS: DurableObjectNamespace<UserState>

  readonly WECHAT_TOKEN?: string
  readonly WECHAT_APPID?: string
  readonly WECHAT_ENCODING_AES_KEY?: string
  readonly ADMIN_TOKEN?: string

  readonly REQUIRE_ENCRYPTION?: string
  readonly SIGNATURE_MAX_AGE_SECONDS?: string
  readonly DEDUP_TTL_SECONDS?: string
  readonly REPLY_BUDGET_MS?: string
  readonly DEBUG_CONSOLE?: string
  /** Base of the Queue's exponential retry backoff; 0 retries at once (tests). */
  readonly QUEUE_RETRY_BASE_SECONDS?: string
}
