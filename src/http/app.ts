/**
 * The HTTP surface (docs/architecture.md): the WeChat callback, the admin API, the debugging console and
 * health. Every failure is a typed error mapped to a short plain-text status.
 */

import { Hono } from 'hono/tiny'
import { name, version } from '../../package.json'
import type { Router } from '../bot/router.ts'
import { type SessionSchema, userSessionStore } from '../bot/session.ts'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { ledgerFor } from '../ledger.ts'
import { errorName, logProblem } from '../log.ts'
import { login } from '../login/routes.ts'
import { talkerFor } from '../talk/talk.ts'
import { jssdk } from '../web/jssdk-routes.ts'
import { selfOrigin, webLinkFor } from '../web/link.ts'
import { oauth } from '../web/oauth-routes.ts'
import { openPushBody, verifyPushQuery } from '../wechat/envelope.ts'
import { MalformedPushError, WechatError } from '../wechat/errors.ts'
import { verifySignature } from '../wechat/signature.ts'
import { adminApi } from './admin.ts'
import { answerPush } from './answer.ts'
import { carriesBearer } from './bearer.ts'
import { MAX_BODY_BYTES, readBoundedText, refuseDeclaredOver } from './body.ts'
import { kvReplyCache } from './reply-cache.ts'

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
export interface AppOptions {
  /** Adds the debugging tools' routes (src/debug/tools.ts); absent in production. */
  readonly debugTools?: DebugTools
}

/** Registers routes on the app: how the dev entry adds the debugging tools. */
export type DebugTools = <S extends SessionSchema<S>>(
  app: Hono<{ Bindings: Env }>,
  bot: Router<Env, S>,
) => void

export function createApp<S extends SessionSchema<S>>(
  bot: Router<Env, S>,
  options: AppOptions = {},
) {
  // A declared menu whose keyed button no route handles is refused here, at start-up.
  bot.checkMenu()
  const app = new Hono<{ Bindings: Env }>()

  app.get('/', async (c) => {
    const config = readConfig(c.env)
    const {
      account,
      problems,
      warnings,
      talkBack,
      web,
      debugConsole: consoleOn,
      adminToken,
    } = config
    // `npm run dev` prints the root URL: a browser opening it lands on the console.
    if (consoleOn && c.req.header('Accept')?.includes('text/html')) return c.redirect('/debug')
    const health = { name, version, ready: problems.length === 0 }
    // What is configured, and how well, is the operator's to know: a stranger learns nothing
    // about the Token's strength or whether plaintext is accepted.
    const operator =
      adminToken !== null && (await carriesBearer(c.req.header('Authorization'), adminToken))
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
      // OAuth and the JS-SDK for the website: on, or why not.
      web: web.on
        ? { oauth: web.oauthOff ? `off: ${web.oauthOff}` : 'on', jssdk: 'on', origins: web.origins }
        : `off: ${web.why}`,
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
    // WeChat calls the server URL the account configured: the Worker's own domain.
    const workerOrigin = selfOrigin(c.req.url)
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
      webLink: webLinkFor(c.env, workerOrigin),
      workerOrigin,
      login: { login: config.login, logins: c.env.LOGINS },
    })
    return c.body(answer, 200, {
      'Content-Type': answer.startsWith('<') ? 'application/xml; charset=utf-8' : 'text/plain',
    })
  })

  app.all('/wechat', (c) => c.text('method not allowed', 405, { Allow: 'GET, POST' }))
  app.route('/admin', adminApi(bot.declaredMenu))
  app.route('/login', login)
  app.route('/oauth', oauth)
  app.route('/jssdk', jssdk)
  // The console, the fake WeChat API and the login demo: only the dev entry (src/dev.ts) passes
  // them, so that what `wrangler deploy` uploads carries none of their code.
  options.debugTools?.(app, bot)

  app.notFound((c) => c.text('not found', 404))
  app.onError((error, c) => {
    if (error instanceof WechatError) {
      if (error.status !== 503) {
        logProblem('rejected', { status: error.status, reason: error.message })
      }
      return c.text(error.message, error.status)
    }
    logProblem('internal_error', { error: errorName(error) })
    return c.text('internal error', 500)
  })
  return app
}
