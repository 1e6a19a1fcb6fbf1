/**
 * The bot's side of scan to log in: a QR follow or a scan whose scene is a login's confirms
 * that login, and the user is answered in WeChat. Add it to a bot with `.use(scanToLogin())`;
 * every other push goes on to the bot's routes.
 */

import type { Middleware, StateVars } from '../bot/router.ts'
import type { AnySession, SessionSchema } from '../bot/session.ts'
import { readConfig } from '../config.ts'
import type { Env } from '../env.ts'
import { LOGIN_SCENE_PREFIX } from '../wechat/qrcode.ts'
import { reply } from '../wechat/reply.ts'
import { LOGIN_ID_PATTERN } from './rules.ts'

const ANSWERS = {
  taken: 'This sign-in code was already used. Refresh the page for a new one.',
  expired: 'This sign-in code has expired. Refresh the page for a new one.',
} as const

/**
 * @example
 * export const bot = new Router<Env>().use(scanToLogin()).on('scan', …)
 */
export function scanToLogin<
  S extends SessionSchema<S> = AnySession,
  V extends StateVars = StateVars,
>(): Middleware<Env, S, V> {
  return async function confirmLogin(push, context, next) {
    if (push.kind !== 'scan' && push.kind !== 'subscribe') return next()
    const scene = push.scene
    if (scene === null || !scene.startsWith(LOGIN_SCENE_PREFIX)) return next()
    const login = readConfig(context.env).login
    const id = scene.slice(LOGIN_SCENE_PREFIX.length)
    if (!login || !LOGIN_ID_PATTERN.test(id)) return reply.text(ANSWERS.expired)
    context.log.login = true
    // The login's object decides once: WeChat's retries of this push get the same answer.
    const confirmed = await context.env.LOGINS.getByName(id).confirm(
      push.fromUserName,
      push.kind === 'subscribe',
      scene,
    )
    return reply.text(confirmed === 'confirmed' ? login.reply : ANSWERS[confirmed])
  }
}
