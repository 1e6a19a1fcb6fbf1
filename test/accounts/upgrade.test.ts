/**
 * A single-account deployment upgraded to accounts keeps everything: the env account keeps the
 * durable names it always had (src/accounts/scope.ts), so what the previous version wrote (a
 * user's object by bare OpenID, a dead letter without an account or a message type, campaign
 * counts and the token by AppID, a Queue message in flight) is read and served as it was.
 */

import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../../src/debug/forge.ts'
import { DEAD_LETTER_TTL_SECONDS } from '../../src/queues/dead-letters.ts'
import { handleQueueBatch } from '../../src/queues/pushes.ts'
import type { QueuedMessage } from '../../src/queues/queued.ts'
import { dedupKey } from '../../src/wechat/dedup-key.ts'
import { ADMIN_HEADERS, userState } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { forgedPush } from '../helpers/pushes.ts'
import { exchange, openid } from '../helpers/wechat.ts'

const admin = (path: string, init: RequestInit = {}) =>
  exports.default.fetch(`https://edge.test/admin/${path}`, { ...init, headers: ADMIN_HEADERS })

/** A push as the previous version queued it: no `type`, no `account`. */
async function unmarked(user: string, createTime: number) {
  const push = forgedPush('click', { openid: user, createTime, menuKey: 'OLD' })
  return { key: await dedupKey(push, env.WECHAT_TOKEN), push, receivedAt: Date.now() }
}

function batchOf(body: unknown) {
  const message = {
    id: 'm0',
    timestamp: new Date(),
    body,
    attempts: 1,
    ack() {},
    retry() {},
  }
  return {
    queue: 'wechat-edge-pushes',
    messages: [message],
    metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } },
    ackAll() {},
    retryAll() {},
  } as unknown as MessageBatch<QueuedMessage>
}

describe('an upgraded single-account deployment', () => {
  it('goes on with a user’s object and session under their bare OpenID', async () => {
    const user = openid('upgrade-session')
    const count = (at: number) =>
      forgePushXml('text', { openid: user, content: 'count', createTime: at, msgId: `${at}7` })
    const t = Math.floor(Date.now() / 1000) - 10
    expect((await exchange(count(t))).reply).toContain('count: 1')
    // The object the previous version made is the one named by the OpenID alone.
    expect(await env.USERS.getByName(user).readSession()).toEqual({ count: '1' })
    expect((await exchange(count(t + 1))).reply).toContain('count: 2')
  })

  it('lists and replays a dead letter kept before accounts, and its owner receives it', async () => {
    const user = openid('upgrade-letter')
    const queued = await unmarked(user, Math.floor(Date.now() / 1000) - 5)
    // As the previous version kept it: `dead:<openid>:<key>`, no account, no message type.
    const summary = {
      key: queued.key,
      kind: 'click',
      openid: user,
      attempts: 6,
      deadAt: Date.now(),
      queue: 'pushes',
      reason: null,
    }
    await env.DEAD_LETTERS.put(
      `dead:${user}:${queued.key}`,
      JSON.stringify({ ...summary, queued }),
      { expirationTtl: DEAD_LETTER_TTL_SECONDS, metadata: summary },
    )
    const listed = (await (await admin('dead-letters')).json()) as {
      deadLetters: { openid: string }[]
    }
    expect(listed.deadLetters.filter((letter) => letter.openid === user)).toHaveLength(1)
    const replayed = (await (await admin('dead-letters/replay', { method: 'POST' })).json()) as {
      replayed: number
    }
    expect(replayed.replayed).toBeGreaterThanOrEqual(1)
    await eventually(async () =>
      expect(await userState(user)).toMatchObject({ lastMenuKey: 'OLD' }),
    )
  })

  it('applies a Queue message sent before messages carried their type', async () => {
    const user = openid('upgrade-inflight')
    await handleQueueBatch(batchOf(await unmarked(user, Math.floor(Date.now() / 1000) - 5)), env)
    expect(await userState(user)).toMatchObject({ eventCount: 1, lastMenuKey: 'OLD' })
  })

  it('shows the campaign counts and the token kept by AppID', async () => {
    const scene = `upgrade-${Date.now()}`
    await env.CAMPAIGNS.getByName(env.WECHAT_APPID).count(scene, 'follows', Date.now())
    const stats = (await (await admin(`qrcodes/${scene}/stats`)).json()) as { follows: number }
    expect(stats.follows).toBe(1)
    await env.ACCESS_TOKENS.getByName(env.WECHAT_APPID).put('KEPT_TOKEN', 7200)
    expect(await (await admin('access-token')).json()).toMatchObject({ held: true })
  })
})
