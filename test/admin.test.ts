import { runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../src/debug/forge.ts'
import { ADMIN_HEADERS, userState } from './helpers/admin.ts'
import { eventually } from './helpers/eventually.ts'
import { openid, postPush } from './helpers/wechat.ts'
import { fetchWith } from './helpers/worker.ts'

const adminUrl = (id: string) => `https://edge.test/admin/users/${id}`

describe('the admin API', () => {
  it('reads a user never seen without creating their storage', async () => {
    const id = openid('never-seen')
    const response = await exports.default.fetch(adminUrl(id), { headers: ADMIN_HEADERS })
    expect(response.status).toBe(404)
    const tables = await runInDurableObject(env.USERS.getByName(id), (_, state) =>
      state.storage.sql
        .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
        .toArray()
        .map((row) => row.name)
        .filter((name) => !name.startsWith('_cf')),
    )
    expect(tables).toEqual([])
  })

  it('shows a user’s state exactly as the admin API documents it', async () => {
    const id = openid('admin')
    const at = Math.floor(Date.now() / 1000)
    await postPush(forgePushXml('subscribe', { openid: id, scene: '42', createTime: at }))
    await postPush(
      forgePushXml('location_report', {
        openid: id,
        createTime: at,
        latitude: 1.5,
        longitude: 2.5,
        precision: 10,
      }),
    )
    const state = await eventually(async () => {
      const response = await exports.default.fetch(adminUrl(id), { headers: ADMIN_HEADERS })
      expect(response.status).toBe(200)
      const body = await response.json<{ eventCount: number }>()
      expect(body.eventCount).toBe(2)
      return body
    })
    expect(state).toEqual({
      openid: id,
      subscribed: true,
      subscribedAt: at,
      scene: '42',
      location: { latitude: 1.5, longitude: 2.5, precision: 10, at },
      lastMenuKey: null,
      eventCount: 2,
      session: { keys: [], bytes: 0 },
      consents: [],
      notifications: [],
    })
  })

  it('answers 404 for a user with nothing stored', async () => {
    const response = await exports.default.fetch(adminUrl(openid('nobody')), {
      headers: ADMIN_HEADERS,
    })
    expect(response.status).toBe(404)
  })

  it('purges a user on DELETE with 204', async () => {
    const id = openid('delete')
    await postPush(forgePushXml('click', { openid: id }))
    await eventually(async () => expect(await userState(id)).not.toBeNull())
    const response = await exports.default.fetch(adminUrl(id), {
      method: 'DELETE',
      headers: ADMIN_HEADERS,
    })
    expect(response.status).toBe(204)
    expect(await userState(id)).toBeNull()
  })

  it.each([
    ['no Authorization', {}],
    ['a wrong token', { Authorization: 'Bearer wrong' }],
    [
      'the token without Bearer',
      { Authorization: ADMIN_HEADERS.Authorization.replace('Bearer ', '') },
    ],
  ])('refuses %s with 401', async (_, headers) => {
    const response = await exports.default.fetch(adminUrl('oSomeone'), { headers })
    expect(response.status).toBe(401)
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer')
  })

  it('does not exist without ADMIN_TOKEN', async () => {
    const response = await fetchWith(
      new Request(adminUrl('oSomeone'), { headers: ADMIN_HEADERS }),
      { ADMIN_TOKEN: '' },
    )
    expect(response.status).toBe(404)
  })

  it('refuses a malformed openid with 400 and a wrong method with 405', async () => {
    expect(
      (await exports.default.fetch(adminUrl('bad%20id'), { headers: ADMIN_HEADERS })).status,
    ).toBe(400)
    expect(
      (await exports.default.fetch(adminUrl('oSomeone'), { method: 'PUT', headers: ADMIN_HEADERS }))
        .status,
    ).toBe(405)
  })
})
