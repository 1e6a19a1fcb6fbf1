/** Pushes as the code under test sees them: forged as WeChat writes them, then parsed. */

import { env } from 'cloudflare:workers'
import { type ForgeFields, forgePushXml } from '../../src/debug/forge.ts'
import type { QueuedPush } from '../../src/queues/queued.ts'
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
  return { key: await dedupKey(push, env.WECHAT_TOKEN), push, receivedAt: Date.now() }
}
