/**
 * The admin API behind `Authorization: Bearer <ADMIN_TOKEN>`: a user's state, the purge and
 * customer-service messages to them; the dead letters; the access token (its state, never the
 * token). Without ADMIN_TOKEN it does not exist (404).
 */

import type { MiddlewareHandler } from 'hono'
import { Hono } from 'hono/tiny'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { logProblem } from '../log.ts'
import { listDeadLetters, replayDeadLetters } from '../queues/dead-letters.ts'
import { partsOf, sendThroughOutbox, UserPurgedError } from '../talk/send.ts'
import { talkerFor } from '../talk/talk.ts'
import {
  CUSTOM_MESSAGE_TYPES,
  type CustomMessage,
  tokenProblem,
  WechatApiError,
} from '../wechat/api.ts'
import { customMessageFrom, MessageFieldError } from '../wechat/custom-message.ts'
import type { Menu } from '../wechat/menu.ts'
import { isWechatId } from '../wechat/push.ts'
import { campaignAdmin } from './admin-campaigns.ts'
import { refusalAnswer } from './api-failure.ts'
import { carriesBearer } from './bearer.ts'
import { readBoundedText, readJsonObject } from './body.ts'

const TOKEN_SHAPE = '{"access_token": "…", "expires_in": 7200}'

/** A customer-service message is small; WeChat's own limit for text is 2,048 bytes. */
const MAX_MESSAGE_BYTES = 16 * 1024

const validOpenid: MiddlewareHandler = async (c, next) => {
  if (!isWechatId(c.req.param('openid') ?? '')) return c.text('malformed openid', 400)
  await next()
}

/**
 * The admin API; the campaigns and the menu need the bot's declared menu.
 *
 * @example
 * app.route('/admin', adminApi(bot.declaredMenu))
 */
export function adminApi(declaredMenu: Menu | null) {
  return new Hono<{ Bindings: Env }>()
    .use('*', async function requireAdminToken(c, next) {
      const { adminToken } = readConfig(c.env)
      if (adminToken === null) return c.text('not found', 404)
      if (!(await carriesBearer(c.req.header('Authorization'), adminToken))) {
        return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
      }
      await next()
    })
    .use('/users/:openid/*', validOpenid)
    .use('/users/:openid', validOpenid)
    .get('/users/:openid', async (c) => {
      const snapshot = await c.env.USERS.getByName(c.req.param('openid')).snapshot()
      return snapshot ? c.json(snapshot) : c.text('not found', 404)
    })
    .delete('/users/:openid', async (c) => {
      // Their object deletes everything now and sweeps their dead letters from its alarm.
      await c.env.USERS.getByName(c.req.param('openid')).purge()
      return c.body(null, 204)
    })
    .get('/dead-letters', async (c) => {
      const deadLetters = await listDeadLetters(c.env.DEAD_LETTERS)
      return c.json({ count: deadLetters.length, deadLetters })
    })
    .post('/dead-letters/replay', async (c) => {
      return c.json({
        replayed: await replayDeadLetters(c.env.DEAD_LETTERS, {
          pushes: c.env.PUSHES,
          later: c.env.LATER,
        }),
      })
    })
    .post('/users/:openid/messages', async (c) => {
      const talker = talkerFor(c.env)
      const talkBack = readConfig(c.env).talkBack
      if (!talker || !talkBack) return c.text('talking back is off: set WECHAT_APPID', 503)
      const input = await readBoundedText(c.req.raw, MAX_MESSAGE_BYTES)
      let message: CustomMessage
      try {
        message = customMessageFrom(JSON.parse(input))
      } catch (error) {
        if (error instanceof MessageFieldError) return c.text(error.message, 400)
        return c.text(`a message is JSON with msgtype: ${CUSTOM_MESSAGE_TYPES.join(', ')}`, 400)
      }
      const openid = c.req.param('openid')
      const user = c.env.USERS.getByName(openid)
      const job = `admin:${crypto.randomUUID()}`
      // The operator's send is a job of its own, sent as a deferred job sends (src/talk/send.ts).
      const claimant = 'admin'
      if ((await user.claimJob(job, claimant, null)) !== 'claimed') {
        return c.json({ sent: false, error: 'window_closed' }, 409)
      }
      const outbox = { user, talker, openid, job }
      let parts: number
      try {
        parts = await sendThroughOutbox(outbox, 0, partsOf(message, talkBack.textLimitBytes))
      } catch (error) {
        await user.releaseJob(job)
        if (error instanceof UserPurgedError) return c.json({ sent: false, error: 'purged' }, 409)
        if (!(error instanceof WechatApiError)) throw error
        logProblem('send_refused', { failure: error.failure, code: error.code, by: 'admin' })
        // WeChat may have it: the operator is told so, not invited to send it again blindly.
        if (error.unanswered) return c.json({ sent: 'unknown', error: error.failure }, 504)
        const { body, status } = refusalAnswer(error)
        return c.json({ sent: false, ...body }, status)
      }
      await user.finishJob(job, claimant)
      return c.json({ sent: true, ...(parts > 1 && { parts }) })
    })
    .all('/users/:openid', (c) => c.text('method not allowed', 405, { Allow: 'GET, DELETE' }))
    .get('/access-token', async (c) => {
      const talkBack = readConfig(c.env).talkBack
      if (!talkBack) return c.json({ talkBack: false, held: false })
      const status = await c.env.ACCESS_TOKENS.getByName(talkBack.appId).status()
      return c.json({ talkBack: true, configuredSource: talkBack.source, ...status })
    })
    .post('/access-token/refresh', async (c) => {
      const talkBack = readConfig(c.env).talkBack
      if (!talkBack) return c.text('talking back is off: set WECHAT_APPID', 503)
      const tokens = c.env.ACCESS_TOKENS.getByName(talkBack.appId)
      const result = await tokens.forceRefresh()
      if (!result.ok) {
        const status = /forced refresh/.test(result.message) ? 429 : 502
        return c.json(
          { refreshed: false, error: result.failure, code: result.code, reason: result.message },
          status,
        )
      }
      return c.json({ refreshed: true, ...(await tokens.status()) })
    })
    .put('/access-token', async (c) => {
      const talkBack = readConfig(c.env).talkBack
      if (!talkBack) return c.text('talking back is off: set WECHAT_APPID', 503)
      const handed = await readJsonObject(c.req.raw, MAX_MESSAGE_BYTES, TOKEN_SHAPE)
      const problem = tokenProblem(handed)
      if (problem !== null) return c.text(problem, 400)
      const { access_token: token, expires_in: expiresIn } = handed as {
        access_token: string
        expires_in: number
      }
      return c.json(await c.env.ACCESS_TOKENS.getByName(talkBack.appId).put(token, expiresIn))
    })
    .route('/', campaignAdmin(declaredMenu))
}
