/**
 * The debugging tools, for `npm run dev` (src/dev.ts) and the tests: the console at /debug, the
 * fake WeChat API at /debug/wechat-api/, the fake language model at /debug/fake-model/ (an
 * OpenAI-compatible endpoint the AI assistant uses locally), the scan-to-log-in demo at /login/demo, the web side's
 * demo at /web/demo and their icon at /favicon.ico, each only with DEBUG_CONSOLE=true. The
 * production entry (src/index.ts) never imports this module, so
 * none of it is in what `wrangler deploy` uploads.
 */

import type { ExecutionContext } from 'hono'
import type { Hono } from 'hono/tiny'
import type { Bots } from '../bot/bots.ts'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { carriesBearer } from '../http/bearer.ts'
import { MAX_BODY_BYTES, readBoundedText, refuseDeclaredOver } from '../http/body.ts'
import { debugConsole, deliverFakePush, isCrossSite } from './console.ts'
import { pushPlatformEvent } from './console-platform.ts'
import { fakeModel } from './fake-model.ts'
import { fakeWechat } from './fake-wechat.ts'
import { FAVICON_SVG } from './favicon.ts'
import { loginDemo } from './login-demo.ts'
import { webDemo } from './web-demo.ts'

/**
 * @example
 * const app = createApp(bot, { debugTools })
 */
export function debugTools(app: Hono<{ Bindings: Env }>, bots: Bots): void {
  const dispatch = (env: Env, ctx: ExecutionContext) => (request: Request) =>
    Promise.resolve(app.fetch(request, env, ctx))
  app.route('/login/demo', loginDemo(dispatch))
  app.route('/web/demo', webDemo(dispatch))
  // The fake of WeChat's API that .dev.vars points WECHAT_API_BASE at. Made on first use.
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
        adminToken !== null && (await carriesBearer(c.req.header('Authorization'), adminToken))
      if (!authorized) return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    }
    refuseDeclaredOver(c.req.raw, MAX_BODY_BYTES)
    const body = ['GET', 'HEAD'].includes(c.req.method)
      ? null
      : await readBoundedText(c.req.raw, MAX_BODY_BYTES)
    // It pushes what WeChat pushes on its own to this server: the platform's events to
    // /wechat/platform (src/debug/console-platform.ts), a notification's result to /wechat.
    const { env } = c
    const origin = new URL(c.req.url).origin
    fake ??= fakeWechat({
      platformPush: (component, xml) =>
        pushPlatformEvent(
          (request) => Promise.resolve(app.fetch(request, env)),
          env,
          origin,
          component,
          xml,
        ),
    })
    const push = dispatch(c.env, c.executionCtx)
    const deliver = (appid: string, xml: string) =>
      c.executionCtx.waitUntil(deliverFakePush(push, c.env, appid, xml, c.req.url))
    return fake.fetch(
      new Request(url, { method: c.req.method, headers: c.req.raw.headers, body }),
      { deliver },
    )
  })
  // The fake model that .dev.vars points AI_BASE_URL at: its controls are the console's too.
  let model: ReturnType<typeof fakeModel> | undefined
  app.all('/debug/fake-model/*', async (c) => {
    const { debugConsole: consoleOn, adminToken } = readConfig(c.env)
    if (!consoleOn) return c.text('not found', 404)
    const url = new URL(c.req.url)
    url.pathname = url.pathname.slice('/debug/fake-model'.length)
    if (url.pathname.startsWith('/fake/')) {
      if (isCrossSite(c.req.raw)) return c.text('cross-site requests are refused', 403)
      const authorized =
        adminToken !== null && (await carriesBearer(c.req.header('Authorization'), adminToken))
      if (!authorized) return c.text('unauthorized', 401, { 'WWW-Authenticate': 'Bearer' })
    }
    refuseDeclaredOver(c.req.raw, MAX_BODY_BYTES)
    const body = ['GET', 'HEAD'].includes(c.req.method)
      ? null
      : await readBoundedText(c.req.raw, MAX_BODY_BYTES)
    model ??= fakeModel()
    return model.fetch(new Request(url, { method: c.req.method, headers: c.req.raw.headers, body }))
  })
  app.route('/debug', debugConsole(dispatch, bots))
  app.get('/favicon.ico', (c) =>
    readConfig(c.env).debugConsole
      ? c.body(FAVICON_SVG, 200, {
          'Content-Type': 'image/svg+xml',
          'Cache-Control': 'max-age=86400',
        })
      : c.text('not found', 404),
  )
}
