/**
 * Notifications as the tests drive them: the user's popup (WeChat learns it, then pushes it),
 * the fake's result pushes delivered to the Worker's `/wechat` as WeChat would, the admin route.
 */

import { exports } from 'cloudflare:workers'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { UserSnapshot } from '../../src/user/state.ts'
import { templates } from '../fixtures/bot.ts'
import { ADMIN_HEADERS, userState } from './admin.ts'
import { eventually } from './eventually.ts'
import { fakeWechat } from './fake-wechat.ts'
import { postPush, signedRequest } from './wechat.ts'

export const SHIPPED = templates.shipped.id
export const REMINDER = templates.reminder.id
export const PAID = templates.paid.id

/** The user answers a popup: each template accepted unless said; WeChat learns it, then pushes it. */
export async function popup(
  id: string,
  templateIds: readonly string[],
  choices: Readonly<Record<string, 'accept' | 'reject'>> = {},
  createTime?: number,
): Promise<string> {
  const xml = forgePushXml('subscribe_msg_popup_event', {
    openid: id,
    templateIds,
    choices,
    ...(createTime !== undefined && { createTime }),
  })
  const response = await postPush(xml, 'safe')
  if (response.status !== 200) throw new Error(`the popup's push answered ${response.status}`)
  return xml
}

/** The result pushes the fake made for `id` (from `from` on), delivered as WeChat pushes them. */
export async function deliverResults(id: string, from = 0): Promise<number> {
  const pushes = (await fakeWechat.pushes(id)).slice(from)
  for (const xml of pushes) {
    const response = await exports.default.fetch(await signedRequest(xml, 'safe'))
    if (response.status !== 200) throw new Error(`a result push answered ${response.status}`)
  }
  return pushes.length
}

/** `POST /admin/users/:openid/notifications` with this body. */
export function adminNotify(id: string, body: object): Promise<Response> {
  return exports.default.fetch(`https://edge.test/admin/users/${id}/notifications`, {
    method: 'POST',
    headers: ADMIN_HEADERS,
    body: JSON.stringify(body),
  })
}

/** The user's admin view, once `check` holds of it (pushes may take a moment through a Queue). */
export function stateWhen(id: string, check: (state: UserSnapshot) => void): Promise<UserSnapshot> {
  return eventually(async () => {
    const state = await userState(id)
    if (state === null) throw new Error('no state yet')
    check(state)
    return state
  })
}
