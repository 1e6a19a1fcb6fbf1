/**
 * A website's sign-in page for scan to log in, served by `npm run dev` (only with
 * DEBUG_CONSOLE=true and a LOGIN_SECRET) at /login/demo, with a stand-in of the website's backend
 * at /login/demo/exchange: it holds LOGIN_SECRET and trades the page's code as a real backend
 * would, through the Worker's own `POST /login/exchange`.
 */

import type { ExecutionContext } from 'hono'
import { Hono } from 'hono/tiny'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { readBoundedText } from '../http/body.ts'
import { type Dispatch, isCrossSite } from './console.ts'
import page from './login-demo.html'

/**
 * @example
 * app.route('/login/demo', loginDemo((env, ctx) => (request) => app.fetch(request, env, ctx)))
 */
export function loginDemo(dispatchFor: (env: Env, ctx: ExecutionContext) => Dispatch) {
  return new Hono<{ Bindings: Env }>()
    .use('*', async function demoEnabled(c, next) {
      const config = readConfig(c.env)
      if (!config.debugConsole || !config.env.login) return c.text('not found', 404)
      await next()
    })
    .get('/', (c) =>
      c.html(page, 200, {
        'Content-Security-Policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      }),
    )
    .post('/exchange', async (c) => {
      // The stand-in backend trades codes for OpenIDs: only for the demo page's own origin.
      if (isCrossSite(c.req.raw)) return c.text('cross-site requests are refused', 403)
      const secret = readConfig(c.env).env.login?.secret ?? ''
      const body = await readBoundedText(c.req.raw, 1024)
      const url = new URL('/login/exchange', c.req.url)
      return dispatchFor(
        c.env,
        c.executionCtx,
      )(
        new Request(url, {
          method: 'POST',
          headers: { Authorization: `Bearer ${secret}` },
          body,
        }),
      )
    })
}
