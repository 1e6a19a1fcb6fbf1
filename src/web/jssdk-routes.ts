/**
 * The JS-SDK's config over HTTP, for pages of the website. For the env account as below;
 * another account adds `?account=<id>` (resolved once per request: src/web/account.ts).
 *
 * - `POST /jssdk/config` `{ "url", "refused"? }` from a page on one of WEB_ORIGINS (CORS for
 *   exactly those, preflight included) → `{ appId, timestamp, nonceStr, signature }` for that
 *   URL without its fragment; `refused` is the config `wx.config` refused (its `timestamp`,
 *   `nonceStr` and `signature`), whose ticket is then renewed if it is still the one held
 *
 * The jsapi_ticket is held per account by its JsapiTicket object (src/talk/jsapi-ticket.ts).
 * Nothing here logs a ticket or a signature.
 */

import { Hono } from 'hono/tiny'
import { refusalAnswer } from '../http/api-failure.ts'
import { readJsonObject } from '../http/body.ts'
import { logProblem } from '../log.ts'
import { jsapiTicketOf, refusedTicket } from '../talk/jsapi-ticket.ts'
import { WechatApiError } from '../wechat/api.ts'
import { WechatError } from '../wechat/errors.ts'
import { jssdkConfig, jssdkSignature } from '../wechat/jssdk.ts'
import { constantTimeEqual } from '../wechat/signature.ts'
import { accountFor, type WebEnv } from './account.ts'
import { MAX_URL_CHARS } from './rules.ts'
import { allowedOrigin } from './settings.ts'

/** CORS for exactly the allowed origins; every answer varies by Origin. */
function corsFor(origin: string | undefined): Record<string, string> {
  return origin === undefined
    ? { Vary: 'Origin' }
    : { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' }
}

/** The config `wx.config` refused, as the page sends it back. */
interface RefusedConfig {
  readonly timestamp: number
  readonly nonceStr: string
  readonly signature: string
}

function refusedConfigOf(value: unknown): RefusedConfig | null {
  if (typeof value !== 'object' || value === null) return null
  const { timestamp, nonceStr, signature } = value as Record<string, unknown>
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp)) return null
  if (typeof nonceStr !== 'string' || nonceStr.length > 64) return null
  if (typeof signature !== 'string' || signature.length !== 40) return null
  return { timestamp, nonceStr, signature }
}

export const jssdk = new Hono<WebEnv>()
  .use('*', accountFor('jssdk'))
  .options('/config', (c) => {
    const origin = c.req.header('Origin')
    if (origin === undefined || !c.get('account').origins.includes(origin)) {
      return c.text('this origin is not in WEB_ORIGINS', 403, { Vary: 'Origin' })
    }
    return c.body(null, 204, {
      ...corsFor(origin),
      'Access-Control-Allow-Methods': 'POST',
      'Access-Control-Allow-Headers': 'Content-Type',
      'Access-Control-Max-Age': '600',
    })
  })
  .post('/config', async (c) => {
    const account = c.get('account')
    const origin = c.req.header('Origin')
    // A page of another site is refused before anything is read or WeChat is called.
    if (origin !== undefined && !account.origins.includes(origin)) {
      return c.text('this origin is not in WEB_ORIGINS', 403, { Vary: 'Origin' })
    }
    const cors = corsFor(origin)
    let body: Record<string, unknown>
    try {
      // JSON in any content type: a text/plain body needs no preflight.
      body = await readJsonObject(c.req.raw, 4096, '{"url": "…"}')
    } catch (error) {
      if (!(error instanceof WechatError)) throw error
      return c.text(error.message, error.status === 413 ? 413 : 400, cors)
    }
    const { url } = body
    if (
      typeof url !== 'string' ||
      url.length > MAX_URL_CHARS ||
      allowedOrigin(url, account.origins) === null
    ) {
      return c.text('url must be a page on one of WEB_ORIGINS', 400, cors)
    }
    const refused = body.refused === undefined ? null : refusedConfigOf(body.refused)
    if (body.refused !== undefined && refused === null) {
      return c.text(
        'refused is the config wx.config refused: { timestamp, nonceStr, signature }',
        400,
        cors,
      )
    }
    const holder = account.holders.jsapiTicket
    try {
      let ticket = await jsapiTicketOf(c.env, holder)
      if (refused) {
        // Was it signed with the ticket held here? Then that ticket is the one refused.
        const signed = await jssdkSignature({ ticket, url, ...refused })
        if (constantTimeEqual(signed, refused.signature)) {
          ticket = await refusedTicket(c.env, holder, ticket)
        }
      }
      const config = await jssdkConfig(account.appId, ticket, url)
      return c.json(config, 200, { ...cors, 'Cache-Control': 'no-store' })
    } catch (error) {
      if (!(error instanceof WechatApiError)) throw error
      logProblem('jssdk_config_failed', { failure: error.failure, code: error.code })
      // A public route: the failure's class, never WeChat's errcode.
      return c.json({ error: error.failure }, refusalAnswer(error).status, cors)
    }
  })
