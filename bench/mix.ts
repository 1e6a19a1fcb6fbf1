/**
 * The load's request mix: the pushes of WeChat's event-push page (follow, QR follow, scan,
 * location report, menu click, menu link, unfollow), 20% text messages and 10% retries, each
 * signed (and in safe mode encrypted) as WeChat would.
 */

import { type ForgeMode, forgePushXml, signPush } from '../src/debug/forge.ts'
import type { PushKind } from '../src/wechat/push.ts'
import { SIGNER } from './pipeline.ts'

export interface PreparedRequest {
  readonly path: string
  readonly body: string
}

const REFERENCE_PAGE: readonly [PushKind, boolean][] = [
  ['subscribe', false],
  ['subscribe', true],
  ['scan', true],
  ['location_report', false],
  ['click', false],
  ['view', false],
  ['unsubscribe', false],
]

export interface MixOptions {
  readonly count: number
  readonly followers: number
  readonly mode: ForgeMode
  readonly textShare?: number
  readonly retryShare?: number
}

/** `count` requests; every push distinct except the retries, which repeat an earlier one. */
export async function requestMix(options: MixOptions): Promise<PreparedRequest[]> {
  const { count, followers, mode, textShare = 0.2, retryShare = 0.1 } = options
  const now = Math.floor(Date.now() / 1000)
  const requests: PreparedRequest[] = []
  for (let i = 0; i < count; i++) {
    const roll = (i * 7919) % 100
    const earlier = requests[Math.max(0, requests.length - 1 - (i % 50))]
    if (roll < retryShare * 100 && earlier) {
      requests.push(earlier)
      continue
    }
    const openid = `oBench${String(i % followers).padStart(22, '0')}`
    // Distinct CreateTimes keep one follower's pushes distinct pushes, as they would be.
    const fields = {
      openid,
      createTime: now - i,
      msgId: String(9_000_000_000_000_000_000n + BigInt(i)),
    }
    const [kind, fromQr] = REFERENCE_PAGE[i % REFERENCE_PAGE.length] as [PushKind, boolean]
    const xml =
      roll < (retryShare + textShare) * 100
        ? forgePushXml('text', { ...fields, content: `Message ${i}` })
        : forgePushXml(kind, {
            ...fields,
            ...(fromQr ? { scene: `S${i % 97}` } : {}),
            menuKey: `K${i % 13}`,
          })
    const { query, body } = await signPush(xml, SIGNER, mode)
    requests.push({ path: `/wechat?${query}`, body })
  }
  return requests
}
