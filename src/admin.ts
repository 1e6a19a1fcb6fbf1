/**
 * The admin API: a user's state and the purge, and the dead letters, behind
 * `Authorization: Bearer <ADMIN_TOKEN>`. Without ADMIN_TOKEN it does not exist (404).
 */

import { Hono } from 'hono/tiny'
import { readConfig } from './config.ts'
import { forgetDeadLetters, listDeadLetters, replayDeadLetters } from './dead-letters.ts'
import type { Env } from './env.ts'
import { isWechatId } from './wechat/push.ts'
import { constantTimeEqual } from './wechat/signature.ts'

/** True when the request carries this deployment's admin token. */
export function hasAdminToken(authorization: string | undefined, adminToken: string): boolean {
  const presented = /^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? ''
  return constantTimeEqual(presented, adminToken)
}

export const admin = new Hono<{ Bindings: Env }>()
  .use('*', async function requireAdminToken(c, next) {
    const { adminToken } = readConfig(c.env)
    if (adminToken === null) return c.text('not found', 404)
    if (!hasAdminToken(c.req.header('Authorization'), adminToken)) {
      return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    }
    await next()
  })
  .use('/users/:openid', async function validOpenid(c, next) {
    if (!isWechatId(c.req.param('openid'))) return c.text('malformed openid', 400)
    await next()
  })
  .get('/users/:openid', async (c) => {
    const snapshot = await c.env.USERS.getByName(c.req.param('openid')).snapshot()
    return snapshot ? c.json(snapshot) : c.text('not found', 404)
  })
  .delete('/users/:openid', async (c) => {
    const openid = c.req.param('openid')
    await c.env.USERS.getByName(openid).purge()
    await forgetDeadLetters(c.env.DEDUP, openid)
    return c.body(null, 204)
  })
  .get('/dead-letters', async (c) => {
    const deadLetters = await listDeadLetters(c.env.DEDUP)
    return c.json({ count: deadLetters.length, deadLetters })
  })
  .post('/dead-letters/replay', async (c) => {
    return c.json({ replayed: await replayDeadLetters(c.env.DEDUP, c.env.PUSHES) })
  })
  .all('/users/:openid', (c) => c.text('method not allowed', 405, { Allow: 'GET, DELETE' }))
