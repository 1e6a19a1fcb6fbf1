/**
 * The HTTP surface (docs/architecture.md): the WeChat callback of each account, the admin API,
 * scan to log in, the debugging console and health. Every failure is a typed error mapped to a
 * short plain-text status.
 */

import type { Context } from 'hono'
import { Hono } from 'hono/tiny'
import { name, version } from '../../package.json'
import { objectsOf } from '../accounts/objects.ts'
import { accountToServe } from '../accounts/served.ts'
import { ENV_ACCOUNT } from '../accounts/settings.ts'
import { assistantSettings } from '../assistant/settings.ts'
import { type BotSource, type Bots, botsOf } from '../bot/bots.ts'
import { type AccountSettings, type Config, readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { errorName, logProblem } from '../log.ts'
import { login } from '../login/routes.ts'
import { receivePlatformEvent } from '../platform/events.ts'
import { platformOf } from '../platform/platform.ts'
import { answerReleaseTest } from '../platform/release-test.ts'
import { platformRoutes } from '../platform/routes.ts'
import { ownerOf } from '../receive/owner.ts'
import { notifierOf } from '../talk/notify.ts'
import { talkerFor } from '../talk/talk.ts'
import { jssdk } from '../web/jssdk-routes.ts'
import { selfOrigin, webLinkFor } from '../web/link.ts'
import { oauth } from '../web/oauth-routes.ts'
import {
  type OpenedPush,
  openPushBody,
  openSealed,
  readPush,
  verifyPushQuery,
} from '../wechat/envelope.ts'
import { MalformedPushError, WechatError } from '../wechat/errors.ts'
import { isReleaseTestAccount } from '../wechat/platform.ts'
import { verifySignature } from '../wechat/signature.ts'
import { textOf } from '../wechat/xml.ts'
import { adminAllowed, adminApi } from './admin.ts'
import { answerPush } from './answer.ts'
import { carriesBearer } from './bearer.ts'
import { MAX_BODY_BYTES, readBoundedText, refuseDeclaredOver } from './body.ts'
import { kvReplyCache } from './reply-cache.ts'

export interface AppOptions {
  /** Adds the debugging tools' routes (src/debug/tools.ts); absent in production. */
  readonly debugTools?: DebugTools
  /**
   * Accounts with a bot of their own, by id (any Router); every other account runs the main
   * bot, which can tell accounts apart by `context.account`.
   */
  readonly accounts?: Readonly<Record<string, BotSource>>
}

/** Registers routes on the app: how the dev entry adds the debugging tools. */
export type DebugTools = (app: Hono<{ Bindings: Env }>, bots: Bots) => void

/** `/wechat/<id>`: what could be an account id; which ones are is the configuration's. */
const ACCOUNT_PATH = ':account{[a-z0-9-]+}'
/** `/wechat/platform/<appid>`: WeChat's `$APPID$` in the platform's message URL. */
const APPID_PATH = ':appid{wx[0-9a-f]{16}}'

/** A push's answer: XML for a reply, plain text (`success`, or nothing) otherwise. */
function reply(c: Context, body: string): Response {
  return c.body(body, 200, {
    'Content-Type': body.startsWith('<') ? 'application/xml; charset=utf-8' : 'text/plain',
  })
}

/**
 * Builds the Worker's HTTP app around the bots; every bot's menu is checked here, at start-up.
 *
 * @example
 * export default { fetch: createApp(bot, { accounts: { shop: shopBot } }).fetch }
 */
export function createApp(bot: BotSource, options: AppOptions = {}) {
  return appFor(botsOf(bot, options.accounts), options)
}

/** The app around bots already checked (src/worker.ts builds them once for fetch and queue). */
export function appFor(bots: Bots, options: AppOptions = {}) {
  const app = new Hono<{ Bindings: Env }>()

  app.get('/', async (c) => {
    const config = readConfig(c.env)
    // `npm run dev` prints the root URL: a browser opening it lands on the console.
    if (config.debugConsole && c.req.header('Accept')?.includes('text/html')) {
      return c.redirect('/debug')
    }
    const ready = config.problems.length === 0 && config.env.problems.length === 0
    const health = { name, version, ready }
    // What is configured, and how well, is the operator's to know: a stranger learns nothing
    // about a Token's strength or whether plaintext is accepted. An account's own admin token
    // sees that account only.
    const visible = await accountsVisibleTo(c.req.header('Authorization'), config)
    if (visible === null) return c.json(health)
    const accounts = Object.fromEntries(visible.map((account) => [account.id, healthOf(account)]))
    const envView = accounts[ENV_ACCOUNT]
    if (envView === undefined) return c.json({ ...health, accounts })
    // The platform is the deployment's: its ticket's age and authorizers for ADMIN_TOKEN alone.
    const platform =
      config.platform &&
      config.adminToken !== null &&
      (await carriesBearer(c.req.header('Authorization'), config.adminToken))
        ? await platformOf(c.env, config.platform).status()
        : undefined
    // The AI assistant, deployment-wide: which model answers, or why it is off (never the key).
    const ai = assistantSettings(c.env)
    return c.json({
      ...health,
      ...envView,
      problems: [...config.problems, ...envView.problems],
      warnings: [...config.warnings, ...envView.warnings],
      assistant: ai.provider
        ? { provider: ai.provider.kind, model: ai.provider.model }
        : `off: ${ai.off}`,
      accounts,
      ...(platform && { platform }),
    })
  })

  const handshake = async (c: Context<{ Bindings: Env }>, account: AccountSettings) => {
    const { envelope } = account
    await verifySignature(
      c.req.query(),
      envelope.token,
      Date.now() / 1000,
      envelope.signatureMaxAgeSeconds,
    )
    const echostr = c.req.query('echostr')
    if (!echostr) throw new MalformedPushError('missing echostr')
    // Reflected input: a browser must never sniff it into HTML.
    return c.text(echostr, 200, { 'X-Content-Type-Options': 'nosniff' })
  }

  /** The body, once the URL's signature holds with the account's Token: nothing before. */
  const signedBody = async (
    c: Context<{ Bindings: Env }>,
    account: AccountSettings,
    at: number,
  ) => {
    const signed = await verifyPushQuery(c.req.query(), account.envelope, at / 1000)
    return { signed, body: await readBoundedText(c.req.raw, MAX_BODY_BYTES) }
  }

  const answer = async (
    c: Context<{ Bindings: Env }>,
    account: AccountSettings,
    opened: OpenedPush,
    startedAt: number,
  ) => {
    const objects = objectsOf(c.env, account.id)
    // WeChat calls the server URL the account configured: the Worker's own domain.
    const workerOrigin = selfOrigin(c.req.url)
    const body = await answerPush(opened, {
      account,
      replyBudgetMs: readConfig(c.env).replyBudgetMs,
      bot: bots(account.id),
      env: c.env,
      ownerOf: (push, key) => ownerOf(objects, push, key),
      enqueue: (queued) => c.env.PUSHES.send(queued),
      replies: kvReplyCache(c.env.REPLY_CACHE, account.id),
      startedAt,
      wechat: talkerFor(c.env, account),
      webLink: webLinkFor(c.env, account.id, workerOrigin),
      notifier: notifierOf(objects, talkerFor(c.env, account), account.id),
      workerOrigin,
      login: { login: account.login, logins: objects.login },
    })
    return reply(c, body)
  }

  const receive = async (c: Context<{ Bindings: Env }>, id: string) => {
    const startedAt = Date.now()
    refuseDeclaredOver(c.req.raw, MAX_BODY_BYTES)
    // The account from the path and the configuration alone: an unknown one costs no binding.
    const account = accountToServe(c.env, id, 'configured')
    const { signed, body } = await signedBody(c, account, startedAt)
    return answer(c, account, await openPushBody(signed, body, account.envelope), startedAt)
  }

  /**
   * A push to an account that authorized the third-party platform, at its `$APPID$` URL:
   * always sealed with the platform's Token and key. The release test's accounts are answered
   * by the platform (src/platform/release-test.ts) and never reach the bot.
   */
  const receiveAuthorized = async (c: Context<{ Bindings: Env }>, appId: string) => {
    const startedAt = Date.now()
    refuseDeclaredOver(c.req.raw, MAX_BODY_BYTES)
    const account = accountToServe(c.env, appId, 'authorizer')
    const { signed, body } = await signedBody(c, account, startedAt)
    const aes = account.envelope.aes
    const opened = await openSealed(signed, body, account.envelope, (inner) => ({
      push: readPush(inner, signed.nowSeconds),
      event: textOf(inner, 'Event'),
    }))
    const platform = readConfig(c.env).platform
    if (platform && isReleaseTestAccount(appId, opened.push.toUserName)) {
      const waitUntil = (work: Promise<void>) => c.executionCtx.waitUntil(work)
      return reply(c, await answerReleaseTest(opened, account, platform, c.env, waitUntil))
    }
    if (!aes) throw new MalformedPushError('the platform has no EncodingAESKey')
    return answer(c, account, { push: opened.push, mode: 'encrypted', aes }, startedAt)
  }

  const methodNotAllowed = (c: Context) => c.text('method not allowed', 405, { Allow: 'GET, POST' })
  const configured = (c: Context<{ Bindings: Env }>) =>
    accountToServe(c.env, c.req.param('account') ?? ENV_ACCOUNT, 'configured')
  app.get('/wechat', (c) => handshake(c, accountToServe(c.env, ENV_ACCOUNT, 'configured')))
  app.post('/wechat', (c) => receive(c, ENV_ACCOUNT))
  app.all('/wechat', methodNotAllowed)
  // The platform's two URLs first: `platform` is no account's id (src/accounts/scope.ts).
  app.post('/wechat/platform', receivePlatformEvent)
  app.all('/wechat/platform', (c) => c.text('method not allowed', 405, { Allow: 'POST' }))
  app.get(`/wechat/platform/${APPID_PATH}`, (c) =>
    handshake(c, accountToServe(c.env, c.req.param('appid'), 'authorizer')),
  )
  app.post(`/wechat/platform/${APPID_PATH}`, (c) => receiveAuthorized(c, c.req.param('appid')))
  app.all(`/wechat/platform/${APPID_PATH}`, methodNotAllowed)
  app.get(`/wechat/${ACCOUNT_PATH}`, (c) => handshake(c, configured(c)))
  app.post(`/wechat/${ACCOUNT_PATH}`, (c) => receive(c, c.req.param('account')))
  app.all(`/wechat/${ACCOUNT_PATH}`, methodNotAllowed)

  app.get('/admin/accounts', async (c) => {
    const config = readConfig(c.env)
    const visible = await accountsVisibleTo(c.req.header('Authorization'), config)
    if (visible === null) {
      const anyToken = [...config.accounts.values()].some((account) => account.adminToken)
      return config.adminToken === null && !anyToken
        ? c.text('not found', 404)
        : c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    }
    return c.json({
      accounts: visible.map((account) => ({
        id: account.id,
        appId: account.talkBack?.appId ?? null,
        ready: account.problems.length === 0,
        problems: account.problems,
      })),
    })
  })
  // Another account's admin API first: the env account's, mounted at /admin, leaves it alone.
  app.route('/admin/accounts/:account', adminApi(bots, 'path'))
  app.route('/admin', adminApi(bots, 'env'))
  app.route('/', platformRoutes)
  app.route('/login', login)
  app.route('/oauth', oauth)
  app.route('/jssdk', jssdk)
  // The console, the fake WeChat API and the login demo: only the dev entry (src/dev.ts) passes
  // them, so that what `wrangler deploy` uploads carries none of their code.
  options.debugTools?.(app, bots)

  app.notFound((c) => c.text('not found', 404))
  app.onError((error, c) => {
    if (error instanceof WechatError) {
      if (error.status !== 503 && error.status !== 404) {
        logProblem('rejected', { status: error.status, reason: error.message })
      }
      return c.text(error.message, error.status)
    }
    logProblem('internal_error', { error: errorName(error) })
    return c.text('internal error', 500)
  })
  return app
}

/**
 * The accounts whose state this bearer may see: all with ADMIN_TOKEN, one with its own
 * `adminToken`, none (null) otherwise.
 */
async function accountsVisibleTo(
  authorization: string | undefined,
  config: Config,
): Promise<AccountSettings[] | null> {
  const all = [...config.accounts.values()]
  if (config.adminToken !== null && (await carriesBearer(authorization, config.adminToken))) {
    return all
  }
  for (const account of all) {
    if (account.adminToken !== null && (await adminAllowed(authorization, null, account))) {
      return [account]
    }
  }
  return null
}

/** What GET / tells an operator of one account: modes, problems and warnings, never a value. */
function healthOf(account: AccountSettings) {
  const { envelope, talkBack } = account
  const encryption = envelope.aes !== null
  return {
    ready: account.problems.length === 0,
    modes: { plaintext: !envelope.requireEncryption, compatible: encryption, safe: encryption },
    problems: account.problems,
    warnings: account.warnings,
    // Customer-service messages after the 5 s window: where tokens come from, or off.
    talkBack: talkBack ? talkBack.source : 'off',
    // OAuth and the JS-SDK for the website: on, or why not.
    web: account.web.on
      ? {
          oauth: account.web.oauthOff ? `off: ${account.web.oauthOff}` : 'on',
          jssdk: 'on',
          origins: account.web.origins,
        }
      : `off: ${account.web.why}`,
  }
}
