/**
 * The HTTP surface (docs/architecture.md): the WeChat callback, the admin API, the debugging console and
 * health. Every failure is a typed error mapped to a short plain-text status.
 */

import { Hono } from 'hono/tiny'
import { name, version } from '../../package.json'
import type { Router } from '../bot/router.ts'
import { type SessionSchema, userSessionStore } from '../bot/session.ts'
import { readConfig } from '../config.ts'
import { debugConsole, isCrossSite } from '../debug/console.ts'
import { fakeWechat } from '../debug/fake-wechat.ts'
import { loginDemo } from '../debug/login-demo.ts'
import type { Env } from '../env.ts'
import { ledgerFor } from '../ledger.ts'
import { errorName, logProblem } from '../log.ts'
import { login } from '../login/routes.ts'
import { talkerFor } from '../talk/talk.ts'
import { openPushBody, SealedPushError, verifyPushQuery } from '../wechat/envelope.ts'
import { MalformedPushError, WechatError } from '../wechat/errors.ts'
import { verifySignature } from '../wechat/signature.ts'
import { adminApi, hasAdminToken } from './admin.ts'
import { answerPush } from './answer.ts'
import { readBoundedText, refuseDeclaredOver } from './body.ts'
import { kvReplyCache } from './reply-cache.ts'

/** WeChat's pushes are small; anything larger is refused before it is read whole. */
export const MAX_BODY_BYTES = 64 * 1024

function configured(env: Env) {
  const config = readConfig(env)
  if (config.problems.length > 0) {
    logProblem('not_configured', { problems: config.problems.join('; ') })
    throw new WechatError(503, `wechat-edge is not configured: ${config.problems.join('; ')}`)
  }
  return config
}

/**
 * Builds the Worker's app around a bot.
 *
 * @example
 * export default { fetch: createApp(bot).fetch }
 */
export function createApp<S extends SessionSchema<S>>(bot: Router<Env, S>) {
  // A declared menu whose keyed button no route handles is refused here, at start-up.
  bot.checkMenu()
  const app = new Hono<{ Bindings: Env }>()

  app.get('/', async (c) => {
    const config = readConfig(c.env)
    const { account, problems, warnings, talkBack, debugConsole: consoleOn, adminToken } = config
    // `npm run dev` prints the root URL: a browser opening it lands on the console.
    if (consoleOn && c.req.header('Accept')?.includes('text/html')) return c.redirect('/debug')
    const health = { name, version, ready: problems.length === 0 }
    // What is configured, and how well, is the operator's to know: a stranger learns nothing
    // about the Token's strength or whether plaintext is accepted.
    const operator =
      adminToken !== null && (await hasAdminToken(c.req.header('Authorization'), adminToken))
    if (!operator) return c.json(health)
    const encryption = account.aes !== null
    return c.json({
      ...health,
      modes: {
        plaintext: !account.requireEncryption,
        compatible: encryption,
        safe: encryption,
      },
      problems,
      warnings,
      // Customer-service messages after the 5 s window: where tokens come from, or off.
      talkBack: talkBack ? talkBack.source : 'off',
    })
  })

  app.get('/wechat', async (c) => {
    const { account } = configured(c.env)
    await verifySignature(
      c.req.query(),
      account.token,
      Date.now() / 1000,
      account.signatureMaxAgeSeconds,
    )
    const echostr = c.req.query('echostr')
    if (!echostr) throw new MalformedPushError('missing echostr')
    // Reflected input: a browser must never sniff it into HTML.
    return c.text(echostr, 200, { 'X-Content-Type-Options': 'nosniff' })
  })

  app.post('/wechat', async (c) => {
    const startedAt = Date.now()
    refuseDeclaredOver(c.req.raw, MAX_BODY_BYTES)
    const config = configured(c.env)
    // Nothing of the body is read until the URL's signature holds.
    const signed = await verifyPushQuery(c.req.query(), config.account, startedAt / 1000)
    const body = await readBoundedText(c.req.raw, MAX_BODY_BYTES)
    const opened = await openPushBody(signed, body, config.account)
    const answer = await answerPush(opened, {
      config,
      bot,
      env: c.env,
      enqueue: (queued) => c.env.PUSHES.send(queued),
      enqueueLater: (job) => c.env.LATER.send(job),
      sessions: (owner) => userSessionStore(c.env.USERS, owner),
      replies: kvReplyCache(c.env.REPLY_CACHE),
      receiveUnowned: (push, key, mode, reply, job) =>
        ledgerFor(c.env.LEDGER, push, key).receive(key, mode, reply, job),
      startedAt,
      wechat: talkerFor(c.env),
    })
    return c.body(answer, 200, {
      'Content-Type': answer.startsWith('<') ? 'application/xml; charset=utf-8' : 'text/plain',
    })
  })

  app.all('/wechat', (c) => c.text('method not allowed', 405, { Allow: 'GET, POST' }))
  app.route('/admin', adminApi(bot.declaredMenu))
  app.route(
    '/login/demo',
    loginDemo((env, ctx) => (request) => Promise.resolve(app.fetch(request, env, ctx))),
  )
  app.route('/login', login)
  // The fake of WeChat's API that .dev.vars points WECHAT_API_BASE at, with the console only.
  // Made on first use: a deployed Worker, console off, never builds it.
  let fake: ReturnType<typeof fakeWechat> | undefined
  app.all('/debug/wechat-api/*', async (c) => {
    const { debugConsole: consoleOn, adminToken } = readConfig(c.env)
    if (!consoleOn) return c.text('not found', 404)
    const url = new URL(c.req.url)
    url.pathname = url.pathname.slice('/debug/wechat-api'.length)
    // Its controls and records (the fake token, customer-service contents) are the console's:
    // the admin token, and no other site's page. WeChat's own paths keep WeChat's access_token.
    if (url.pathname.startsWith('/fake/')) {
      if (isCrossSite(c.req.raw)) return c.text('cross-site requests are refused', 403)
      const authorized =
        adminToken !== null && (await hasAdminToken(c.req.header('Authorization'), adminToken))
      if (!authorized) return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    }
    refuseDeclaredOver(c.req.raw, MAX_BODY_BYTES)
    const body = ['GET', 'HEAD'].includes(c.req.method)
      ? null
      : await readBoundedText(c.req.raw, MAX_BODY_BYTES)
    fake ??= fakeWechat()
    return fake.fetch(new Request(url, { method: c.req.method, headers: c.req.raw.headers, body }))
  })
  app.route(
    '/debug',
    debugConsole(
      (env, ctx) => (request) => Promise.resolve(app.fetch(request, env, ctx)),
      bot.declaredMenu,
    ),
  )

  app.notFound((c) => c.text('not found', 404))
  app.onError((error, c) => {
    if (error instanceof WechatError) {
      if (error.status !== 503) {
        const reason = error instanceof SealedPushError ? error.reason : error.message
        logProblem('rejected', { status: error.status, reason })
      }
      return c.text(error.message, error.status)
    }
    logProblem('internal_error', { error: errorName(error) })
    return c.text('internal error', 500)
  })
  return app
}
