/**
 * Scan to log in, on WeChat's side, answered by the platform before the bot sees the push, so
 * that a login works whatever the bot (the bot never sees these pushes).
 *
 * - A scan (or a QR follow) of a login's code asks the user: the reply names the site
 *   (`LOGIN_SITE`) and what the website told of the requester, and asks for the confirm word.
 * - The same user's confirm word (`LOGIN_CONFIRM_WORD`, `1` by default), before the login
 *   expires, confirms it. Another user's word, a late word, or a word with no pending scan
 *   confirms nothing (without a pending scan it goes on to the bot like any text).
 *
 * Only a push whose body is authenticated (`bodyAuthenticated`, src/wechat/envelope.ts: an
 * encrypted one) is read for a login.
 */

import type { OwnEntries, OwnKey } from '../bot/session.ts'
import type { LoginConfig } from '../config.ts'
import { bodyAuthenticated, type PushMode } from '../wechat/envelope.ts'
import type { Push } from '../wechat/push.ts'
import { LOGIN_SCENE_PREFIX } from '../wechat/qrcode.ts'
import { type Reply, reply } from '../wechat/reply.ts'
import { LOGIN_ID_PATTERN, type Requester } from './rules.ts'
import type { LoginSession } from './session.ts'

const ANSWERS = {
  taken: 'This sign-in code was already used. Refresh the page for a new one.',
  expired: 'This sign-in code has expired. Refresh the page for a new one.',
  confirmed: 'You are signed in already.',
} as const

/** The pending login a scan left in the user's session, for their agreement to find. */
const PENDING: OwnKey = '~login'

/** What answering a login push needs: the account's settings (null: off) and its logins. */
export interface LoginDesk {
  readonly login: LoginConfig | null
  readonly logins: (id: string) => DurableObjectStub<LoginSession>
}

/**
 * The reply to a push that is scan to log in's, or null when the push is the bot's.
 *
 * @example
 * const answered = await answerLoginPush(push, mode, session, { login, logins: objects.login })
 */
export async function answerLoginPush(
  push: Push,
  mode: PushMode,
  session: OwnEntries,
  { login, logins }: LoginDesk,
): Promise<Reply | null> {
  const scene = push.kind === 'scan' || push.kind === 'subscribe' ? push.scene : null
  if (scene?.startsWith(LOGIN_SCENE_PREFIX)) {
    const id = scene.slice(LOGIN_SCENE_PREFIX.length)
    if (!login || !bodyAuthenticated(mode) || !LOGIN_ID_PATTERN.test(id)) {
      return reply.text(ANSWERS.expired)
    }
    const asked = await logins(id).ask(push.fromUserName, push.kind === 'subscribe', scene)
    if (asked.outcome !== 'asking') return reply.text(ANSWERS[asked.outcome])
    await session.setOwn(PENDING, id)
    return reply.text(question(login, asked.requester, asked.expiresAt))
  }
  if (!login || !bodyAuthenticated(mode) || push.kind !== 'text') return null
  if (push.content.trim() !== login.confirmWord) return null
  const pending = await session.getOwn(PENDING)
  if (typeof pending !== 'string') return null
  await session.deleteOwn(PENDING)
  const confirmed = await logins(pending).confirm(push.fromUserName)
  return reply.text(confirmed === 'confirmed' ? login.reply : ANSWERS[confirmed])
}

/** "Sign in to Example Shop from Chrome on Windows (Shanghai, CN)? Reply 1 within 2 minutes…" */
function question(login: LoginConfig, requester: Requester | null, expiresAt: number): string {
  const from = [requester?.browser, requester?.place && `(${requester.place})`]
    .filter(Boolean)
    .join(' ')
  const minutes = Math.max(1, Math.ceil((expiresAt - Date.now()) / 60_000))
  return (
    `Sign in to ${login.site}${from ? ` from ${from}` : ''}? ` +
    `Reply ${login.confirmWord} within ${minutes} minute${minutes === 1 ? '' : 's'} to confirm. ` +
    'If it was not you, ignore this message: nobody is signed in.'
  )
}
