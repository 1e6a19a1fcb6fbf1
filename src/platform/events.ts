/**
 * The platform's authorization event URL (授权事件接收URL, `POST /wechat/platform`): pushes
 * from WeChat to the platform itself (the ticket every 10 minutes, authorizations, revokes),
 * always encrypted with the platform's Token and key, their envelope naming the platform's
 * `AppId` where an account's names `ToUserName`. Verified as any push is (the query's
 * signature before the body is read, `msg_signature`, the AppID sealed inside), received once
 * by the platform's object, answered `success` exactly (WeChat's page: nothing else).
 */

import type { Context } from 'hono'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { MAX_BODY_BYTES, readBoundedText, refuseDeclaredOver } from '../http/body.ts'
import { logEvent } from '../log.ts'
import { keyedHex } from '../wechat/dedup-key.ts'
import { MAX_CREATE_TIME_AHEAD_SECONDS, openSealed, verifyPushQuery } from '../wechat/envelope.ts'
import { MalformedPushError, WechatError } from '../wechat/errors.ts'
import { type PlatformEvent, parsePlatformEvent } from '../wechat/platform.ts'
import { NO_REPLY } from '../wechat/reply.ts'
import { platformOf } from './platform.ts'

/** An event's dedup key: a retry repeats every field, so the whole event is its identity. */
export async function eventKey(event: PlatformEvent, token: string): Promise<string> {
  return `platform:${await keyedHex(token, JSON.stringify(event))}`
}

/**
 * @example
 * app.post('/wechat/platform', receivePlatformEvent)
 */
export async function receivePlatformEvent(c: Context<{ Bindings: Env }>): Promise<Response> {
  const startedAt = Date.now()
  const platform = readConfig(c.env).platform
  if (!platform) return c.text('not found', 404)
  refuseDeclaredOver(c.req.raw, MAX_BODY_BYTES)
  const signed = await verifyPushQuery(c.req.query(), platform.envelope, startedAt / 1000)
  const body = await readBoundedText(c.req.raw, MAX_BODY_BYTES)
  const event = await openSealed(signed, body, platform.envelope, (xml) => {
    const read = parsePlatformEvent(xml, platform.appId)
    // As for every push: one from the future would pin the newest ticket, or order a change.
    if (read.createTime > signed.nowSeconds + MAX_CREATE_TIME_AHEAD_SECONDS) {
      throw new MalformedPushError('CreateTime is in the future')
    }
    return read
  })
  const key = await eventKey(event, platform.envelope.token)
  const receipt = await platformOf(c.env, platform).receiveEvent(key, event)
  logEvent('platform_event', {
    kind: event.kind,
    key,
    outcome: receipt,
    ms: Date.now() - startedAt,
  })
  // Not taken: WeChat sends it again, and the platform's retry of the work finds no receipt.
  if (receipt === 'failed')
    throw new WechatError(503, 'the event could not be received; retry later')
  return c.text(NO_REPLY)
}
