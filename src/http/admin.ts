/**
 * The admin API behind `Authorization: Bearer <ADMIN_TOKEN>`: a user's state, the purge,
 * customer-service messages and notifications to them; the dead letters; the access token (its
 * state, never the token). Without ADMIN_TOKEN it does not exist (404).
 */

import type { MiddlewareHandler } from 'hono'
import { Hono } from 'hono/tiny'
import { objectsOf } from '../accounts/objects.ts'
import { accountToServe } from '../accounts/served.ts'
import { ENV_ACCOUNT } from '../accounts/settings.ts'
import type { Bots } from '../bot/bots.ts'
import { type AccountSettings, readConfig } from '../config.ts'
import { logProblem } from '../log.ts'
import { listDeadLetters, replayDeadLetters } from '../queues/dead-letters.ts'
import { sendNotificationOnce } from '../talk/notify.ts'
import { partsOf, sendThroughOutbox, UserPurgedError } from '../talk/send.ts'
import { talkerFor } from '../talk/talk.ts'
import {
  CUSTOM_MESSAGE_TYPES,
  type CustomMessage,
  tokenProblem,
  WechatApiError,
} from '../wechat/api.ts'
import { customMessageFrom, MessageFieldError } from '../wechat/custom-message.ts'
import {
  type Notification,
  NotificationInputError,
  operatorNotification,
} from '../wechat/notification.ts'
import { isWechatId } from '../wechat/push.ts'
import { TemplateDataError } from '../wechat/templates.ts'
import type { AccountScoped } from './account-scope.ts'
import { campaignAdmin } from './admin-campaigns.ts'
import { refusalAnswer } from './api-failure.ts'
import { carriesBearer } from './bearer.ts'
import { readBoundedText, readJsonObject } from './body.ts'

const TOKEN_SHAPE = '{"access_token": "…", "expires_in": 7200}'
const NOTIFICATION_SHAPE =
  '{"key": "…", "template": "<declared name>", "data": {…}} or {"key": "…", "type": "subscription" | "template", "templateId": "…", "data": {"thing1": {"value": "…"}}}'

/** A customer-service message is small; WeChat's own limit for text is 2,048 bytes. */
const MAX_MESSAGE_BYTES = 16 * 1024

const validOpenid: MiddlewareHandler = async (c, next) => {
  if (!isWechatId(c.req.param('openid') ?? '')) return c.text('malformed openid', 400)
  await next()
}

/**
 * Whether the request may act for this account: ADMIN_TOKEN opens every account, an account's
 * own `adminToken` only that one. Null when neither is configured: the admin API is not there.
 */
export async function adminAllowed(
  authorization: string | undefined,
  deploymentToken: string | null,
  account: AccountSettings,
): Promise<boolean | null> {
  const tokens = [deploymentToken, account.adminToken].filter((token) => token !== null)
  if (tokens.length === 0) return null
  for (const token of tokens) if (await carriesBearer(authorization, token)) return true
  return false
}

/**
 * One account's admin API: the env account's at `/admin`, any other's at
 * `/admin/accounts/<id>`; the campaigns and the menu need the account's bot.
 *
 * @example
 * app.route('/admin/accounts/:account', adminApi(bots, 'path'))
 */
export function adminApi(bots: Bots, from: 'path' | 'env') {
  return new Hono<AccountScoped>()
    .use('*', async function requireAdminToken(c, next) {
      // Another account's path under /admin: its own mount answers it.
      if (from === 'env' && c.req.path.startsWith('/admin/accounts/')) return next()
      const account = accountToServe(
        c.env,
        from === 'path' ? (c.req.param('account') ?? '') : ENV_ACCOUNT,
      )
      const allowed = await adminAllowed(
        c.req.header('Authorization'),
        readConfig(c.env).adminToken,
        account,
      )
      if (allowed === null) return c.text('not found', 404)
      if (!allowed) return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
      c.set('account', account)
      c.set('objects', objectsOf(c.env, account.id))
      await next()
    })
    .use('/users/:openid/*', validOpenid)
    .use('/users/:openid', validOpenid)
    .get('/users/:openid', async (c) => {
      const snapshot = await c.var.objects.user(c.req.param('openid')).snapshot()
      return snapshot ? c.json(snapshot) : c.text('not found', 404)
    })
    .delete('/users/:openid', async (c) => {
      // Their object deletes everything now and sweeps their dead letters from its alarm.
      await c.var.objects.user(c.req.param('openid')).purge()
      return c.body(null, 204)
    })
    .get('/dead-letters', async (c) => {
      const deadLetters = await listDeadLetters(c.env.DEAD_LETTERS, c.var.account.id)
      return c.json({ count: deadLetters.length, deadLetters })
    })
    .post('/dead-letters/replay', async (c) => {
      return c.json({
        replayed: await replayDeadLetters(
          c.env.DEAD_LETTERS,
          { pushes: c.env.PUSHES, later: c.env.LATER },
          c.var.account.id,
        ),
      })
    })
    .post('/users/:openid/messages', async (c) => {
      const { talkBack } = c.var.account
      const talker = talkerFor(c.env, c.var.account)
      if (!talker || !talkBack) return c.text('talking back is off: set the account’s AppID', 503)
      const input = await readBoundedText(c.req.raw, MAX_MESSAGE_BYTES)
      let message: CustomMessage
      try {
        message = customMessageFrom(JSON.parse(input))
      } catch (error) {
        if (error instanceof MessageFieldError) return c.text(error.message, 400)
        return c.text(`a message is JSON with msgtype: ${CUSTOM_MESSAGE_TYPES.join(', ')}`, 400)
      }
      const openid = c.req.param('openid')
      const user = c.var.objects.user(openid)
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
    .post('/users/:openid/notifications', async (c) => {
      // A subscription notification or a template message, once per key (src/talk/notify.ts).
      const input = await readJsonObject(c.req.raw, MAX_MESSAGE_BYTES, NOTIFICATION_SHAPE)
      const { key } = input
      if (typeof key !== 'string') return c.text('key must be a string', 400)
      let notification: Notification
      try {
        notification = operatorNotification(input, bots(c.var.account.id).declaredTemplates)
      } catch (error) {
        if (error instanceof NotificationInputError || error instanceof TemplateDataError) {
          return c.text(error.message, 400)
        }
        throw error
      }
      const { account } = c.var
      const talker = talkerFor(c.env, account)
      if (!talker) return c.text('talking back is off: set the account’s AppID', 503)
      const openid = c.req.param('openid')
      try {
        const outcome = await sendNotificationOnce(
          c.var.objects,
          talker,
          account.id,
          openid,
          notification,
          key,
        )
        return c.json({ sent: true, outcome })
      } catch (error) {
        if (error instanceof NotificationInputError) return c.text(error.message, 400)
        if (!(error instanceof WechatApiError)) throw error
        if (error.unanswered) return c.json({ sent: 'unknown', error: error.failure }, 504)
        const { body, status } = refusalAnswer(error)
        return c.json({ sent: false, ...body }, status)
      }
    })
    .all('/users/:openid', (c) => c.text('method not allowed', 405, { Allow: 'GET, DELETE' }))
    .get('/access-token', async (c) => {
      const { talkBack } = c.var.account
      if (!talkBack) return c.json({ talkBack: false, held: false })
      const status = await c.var.objects.token(talkBack.appId).status()
      return c.json({ talkBack: true, configuredSource: talkBack.source, ...status })
    })
    .post('/access-token/refresh', async (c) => {
      const { talkBack } = c.var.account
      if (!talkBack) return c.text('talking back is off: set the account’s AppID', 503)
      const tokens = c.var.objects.token(talkBack.appId)
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
      const { talkBack } = c.var.account
      if (!talkBack) return c.text('talking back is off: set the account’s AppID', 503)
      // An authorizer's token is the platform's to refresh, and to drop with a revoke.
      if (talkBack.source === 'authorizer') {
        return c.text('this account’s token comes from the third-party platform', 409)
      }
      const handed = await readJsonObject(c.req.raw, MAX_MESSAGE_BYTES, TOKEN_SHAPE)
      const problem = tokenProblem(handed)
      if (problem !== null) return c.text(problem, 400)
      const { access_token: token, expires_in: expiresIn } = handed as {
        access_token: string
        expires_in: number
      }
      return c.json(await c.var.objects.token(talkBack.appId).put(token, expiresIn))
    })
    .route('/', campaignAdmin(bots))
}
