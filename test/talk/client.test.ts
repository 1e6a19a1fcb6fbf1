/**
 * The account's client of WeChat's API, as handlers reach it (`context.wechat`): typed calls,
 * and a generic call for any endpoint with the token handled, against the fake WeChat API.
 */

import { env } from 'cloudflare:workers'
import { describe, expect, it, vi } from 'vitest'
import { Router } from '../../src/bot/router.ts'
import { forgePushXml } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { message, WechatApiError } from '../../src/wechat/api.ts'
import { reply } from '../../src/wechat/reply.ts'
import { appid, fakeWechat } from '../helpers/fake-wechat.ts'
import { talkerWithAppId } from '../helpers/talker.ts'
import { openid, signedRequest } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const clientFor = talkerWithAppId

describe('the token off the hot path', () => {
  it('asks the AccessToken object once per isolate, then again only when WeChat refuses it', async () => {
    const app = appid()
    const asked = vi.spyOn(env.ACCESS_TOKENS, 'getByName')
    const wechat = clientFor(app)
    const users = Array.from({ length: 10 }, (_, i) => openid(`warm${i}`))
    await Promise.all(users.map((id) => fakeWechat.interact(forgePushXml('text', { openid: id }))))
    for (const id of users) await wechat.send(id, message.text('warm'))
    expect(asked.mock.calls.filter(([name]) => name === app)).toHaveLength(1)
    // WeChat drops the token: the isolate drops its copy and asks the object once more.
    await fakeWechat.expire(app)
    for (const id of users.slice(0, 3)) await wechat.send(id, message.text('after'))
    expect(asked.mock.calls.filter(([name]) => name === app)).toHaveLength(2)
    expect(await fakeWechat.tokenRequests(app)).toBe(2)
    for (const [i, id] of users.entries()) {
      expect(await fakeWechat.sent(id)).toHaveLength(i < 3 ? 2 : 1)
    }
  })
})

describe('context.wechat', () => {
  it('calls any endpoint with the token, refreshing it once when WeChat refuses it', async () => {
    const app = appid()
    const wechat = clientFor(app)
    expect(await wechat.call('cgi-bin/get_current_selfmenu_info')).toEqual({ is_menu_open: 0 })
    await fakeWechat.expire(app)
    await wechat.createMenu([{ type: 'click', name: 'One', key: 'ONE' }])
    expect(await wechat.currentMenu()).toMatchObject({ is_menu_open: 1 })
    expect(await fakeWechat.tokenRequests(app)).toBe(2)
  })

  it('throws WeChat’s refusal as a typed failure', async () => {
    const wechat = clientFor(appid())
    const refused = await wechat
      .call('cgi-bin/menu/create', { body: { button: [] } })
      .catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(WechatApiError)
    expect(refused).toMatchObject({ code: 40016, failure: 'refused' })
  })

  it('reaches a bot handler on the request path', async () => {
    const bot = new Router<Env>().text('code', async (_push, { wechat }) => {
      const code = await wechat?.createQrCode({ scene: 'from-a-handler', expireSeconds: 60 })
      return reply.text(code ? `ticket ${code.ticket.slice(0, 2)}` : 'off')
    })
    const xml = forgePushXml('text', { openid: openid('handler-client'), content: 'code' })
    const response = await fetchWith(await signedRequest(xml), {}, bot)
    expect(await response.text()).toContain('ticket gQ')
  })
})
