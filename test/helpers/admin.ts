/** The admin API as an operator calls it, over the Worker's real HTTP surface. */

import { env, exports } from 'cloudflare:workers'
import type { UserSnapshot } from '../../src/user/state.ts'

export const ADMIN_HEADERS = { Authorization: `Bearer ${env.ADMIN_TOKEN}` }

export async function userState(openid: string): Promise<UserSnapshot | null> {
  const response = await exports.default.fetch(`https://edge.test/admin/users/${openid}`, {
    headers: ADMIN_HEADERS,
  })
  if (response.status === 404) return null
  if (response.status !== 200) throw new Error(`admin GET answered ${response.status}`)
  return response.json()
}
