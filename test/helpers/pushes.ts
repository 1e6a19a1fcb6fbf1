/** Pushes as the code under test sees them: forged as WeChat writes them, then parsed. */

import { env } from 'cloudflare:workers'
import { type ForgeFields, forgePushXml } from '../../src/debug/forge.ts'
import { jobOf, type QueuedJob, type QueuedPush } from '../../src/queues/queued.ts'
import type { Arrival } from '../../src/receive/receipt.ts'
import { dedupKey } from '../../src/wechat/dedup-key.ts'
import { type Push, type PushKind, parsePush } from '../../src/wechat/push.ts'
import { parseXmlRoot } from '../../src/wechat/xml.ts'

/** A push's XML parsed as the request path parses it. */
export function parsedPush(xml: string): Push {
  return parsePush(parseXmlRoot(xml))
}

/** A push of this kind as WeChat would send it, parsed. */
export function forgedPush(kind: PushKind, fields: ForgeFields = {}): Push {
  return parsedPush(forgePushXml(kind, fields))
}

/** The Queue message the request path would send for this push. */
export async function queuedPush(push: Push): Promise<QueuedPush> {
  return { type: 'push', key: await dedupKey(push, env.WECHAT_TOKEN), push, receivedAt: Date.now() }
}

/** The deferred job the push's owner would queue for this push and route name. */
export async function queuedJob(push: Push, job: string): Promise<QueuedJob> {
  return jobOf(await queuedPush(push), job)
}

/**
 * A push as the Queue or a job brings it to its owner: answering nobody, writing nothing; it
 * came sealed, as WeChat sends it in safe mode.
 */
export function unanswered(key: string, push: Push): Arrival {
  return { key, push, answered: null, mode: 'encrypted', writes: {}, job: null }
}
