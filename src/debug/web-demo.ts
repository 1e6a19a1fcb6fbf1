/**
 * A website's page for the web side, served by `npm run dev` (only with DEBUG_CONSOLE=true and
 * web authorization on) at /web/demo: it signs in through /oauth/start (WeChat's authorize page
 * is the fake's) and shows its JS-SDK config. Beside it, stand-ins of what is not the Worker's:
 * the website's backend at /web/demo/exchange (it holds WEB_SECRET and trades the page's ticket
 * through the Worker's own `POST /oauth/exchange`), and WeChat's JS at /web/demo/check (the
 * fake's verdict on the config, as `wx.config` would give it).
 */

import type { ExecutionContext } from 'hono'
import { Hono } from 'hono/tiny'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { readBoundedText } from '../http/body.ts'
import { type Dispatch, isCrossSite } from './console.ts'
import page from './web-demo.html'

/**
 * @example
 * app.route('/web/demo', webDemo((env, ctx) => (request) => app.fetch(request, env, ctx)))
 */
export function webDemo(dispatchFor: (env: Env, ctx: ExecutionContext) => Dispatch) {
  return new Hono<{ Bindings: Env }>()
    .use('*', async function demoEnabled(c, next) {
      const { debugConsole, env } = readConfig(c.env)
      const { web } = env
      if (!debugConsole || !web.on || web.oauthOff !== null) return c.text('not found', 404)
      await next()
    })
    .get('/', (c) =>
      c.html(page, 200, {
        'Content-Security-Policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        // The page lands with its ticket in the URL: no other site learns it.
        'Referrer-Policy': 'no-referrer',
      }),
    )
    .post('/exchange', async (c) => {
      // The stand-in backend trades tickets for OpenIDs: only for the demo page's own origin.
      if (isCrossSite(c.req.raw)) return c.text('cross-site requests are refused', 403)
      const { web } = readConfig(c.env).env
      const body = await readBoundedText(c.req.raw, 1024)
      return dispatchFor(
        c.env,
        c.executionCtx,
      )(
        new Request(new URL('/oauth/exchange', c.req.url), {
          method: 'POST',
          headers: { Authorization: `Bearer ${web.on ? web.secret : ''}` },
          body,
        }),
      )
    })
    .post('/check', async (c) => {
      // What WeChat's JS would say of the config: the fake's verdict, when it is the fake.
      if (isCrossSite(c.req.raw)) return c.text('cross-site requests are refused', 403)
      const { env, adminToken } = readConfig(c.env)
      const { talkBack } = env
      const fake = talkBack ? new URL('fake/jssdk-check', talkBack.apiBase) : null
      if (!fake || fake.origin !== new URL(c.req.url).origin || adminToken === null) {
        return c.json({ errMsg: 'only the local fake WeChat API can check a config' })
      }
      const body = await readBoundedText(c.req.raw, 4096)
      return dispatchFor(
        c.env,
        c.executionCtx,
      )(
        new Request(fake, {
          method: 'POST',
          headers: { Authorization: `Bearer ${adminToken}` },
          body,
        }),
      )
    })
}
