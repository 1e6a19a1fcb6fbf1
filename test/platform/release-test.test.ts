/**
 * The full-network release test (全网发布检测), as WeChat runs it against each of its five
 * groups' accounts: an event, the text, and the QUERY_AUTH_CODE text answered by the API. The
 * operator's bot never sees these pushes, and nothing of them is kept.
 */

import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { Router } from '../../src/bot/router.ts'
import { fakeUserNameOf } from '../../src/debug/fake-platform.ts'
import { forgePushXml, freshMsgId, openReply } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { RELEASE_TEST_ACCOUNTS } from '../../src/wechat/platform.ts'
import { reply } from '../../src/wechat/reply.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { fakeWechat } from '../helpers/fake-wechat.ts'
import {
  authorizeAs,
  authorizedAccount,
  platform,
  platformStats,
  sendAs,
  signedAs,
} from '../helpers/platform.ts'
import { openid } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const contentOf = (xml: string) => /<Content><!\[CDATA\[(.*)\]\]><\/Content>/.exec(xml)?.[1]

describe.each(RELEASE_TEST_ACCOUNTS.map((account, group) => ({ ...account, group: group + 1 })))(
  'group $group ($appId)',
  ({ appId, user }) => {
    it('passes every case, as WeChat checks them', async () => {
      await authorizedAccount(appId)
      const fan = openid('release')
      const fields = { openid: fan, account: user }

      const event = await sendAs(appId, forgePushXml('location_report', fields))
      expect(event).toMatchObject({ status: 200, signatureValid: true })
      expect(contentOf(event.reply)).toBe('LOCATIONfrom_callback')
      expect(event.reply).toContain(`<ToUserName><![CDATA[${fan}]]></ToUserName>`)
      expect(event.reply).toContain(`<FromUserName><![CDATA[${user}]]></FromUserName>`)

      const textPush = forgePushXml('text', {
        ...fields,
        content: 'TESTCOMPONENT_MSG_TYPE_TEXT',
        msgId: freshMsgId(),
      })
      const text = await sendAs(appId, textPush)
      expect(contentOf(text.reply)).toBe('TESTCOMPONENT_MSG_TYPE_TEXT_callback')

      // WeChat authorizes again and sends the code; the answer comes by the API, with its token.
      const { code } = await authorizeAs(appId)
      const apiPush = forgePushXml('text', {
        ...fields,
        content: `QUERY_AUTH_CODE:${code}`,
        msgId: freshMsgId(),
      })
      await fakeWechat.interact(apiPush)
      const before = (await platformStats(appId)).queryAuth
      const api = await sendAs(appId, apiPush)
      expect(api).toMatchObject({ status: 200, reply: '' })
      const sent = await eventually(async () => {
        const last = (await fakeWechat.sent(fan)).at(-1)
        expect(last?.body.text?.content).toBe(`${code}_from_api`)
        return last
      })
      expect(sent?.appid).toBe(appId)
      expect((await platformStats(appId)).queryAuth).toBe(before + 1)
    })
  },
)

describe('the release test’s pushes', () => {
  const [first] = RELEASE_TEST_ACCOUNTS
  if (!first) throw new Error('no release test accounts')

  it('never reach the operator’s bot, and nothing of them is kept', async () => {
    await authorizedAccount(first.appId)
    const fan = openid('release-bot')
    let seen = 0
    const bot = new Router<Env>().on('text', () => {
      seen++
      return reply.text('the bot')
    })
    const push = forgePushXml('text', {
      openid: fan,
      account: first.user,
      content: 'TESTCOMPONENT_MSG_TYPE_TEXT',
      msgId: freshMsgId(),
    })
    const response = await fetchWith(await signedAs(first.appId, push), {}, bot)
    const opened = await openReply(await response.text(), platform)
    expect(contentOf(opened.plaintext)).toBe('TESTCOMPONENT_MSG_TYPE_TEXT_callback')
    expect(seen).toBe(0)
    const kept = await exports.default.fetch(
      `https://edge.test/admin/accounts/${first.appId}/users/${fan}`,
      {
        headers: ADMIN_HEADERS,
      },
    )
    expect(kept.status).toBe(404)
  })

  it('answer a retried QUERY_AUTH_CODE once', async () => {
    await authorizedAccount(first.appId)
    const fan = openid('release-retry')
    const { code } = await authorizeAs(first.appId)
    const push = forgePushXml('text', {
      openid: fan,
      account: first.user,
      content: `QUERY_AUTH_CODE:${code}`,
      msgId: freshMsgId(),
    })
    await fakeWechat.interact(push)
    for (const _ of [1, 2, 3]) expect((await sendAs(first.appId, push)).reply).toBe('')
    await eventually(async () => expect(await fakeWechat.sent(fan)).toHaveLength(1))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await fakeWechat.sent(fan)).toHaveLength(1)
  })

  it('are answered as the test only for its accounts: another authorizer’s go to its bot', async () => {
    const appId = await authorizedAccount()
    const push = forgePushXml('text', {
      openid: openid('release-other'),
      account: fakeUserNameOf(appId),
      content: 'TESTCOMPONENT_MSG_TYPE_TEXT',
      msgId: freshMsgId(),
    })
    // The tests' bot echoes a text: the release test would have answered `…_callback`.
    expect(contentOf((await sendAs(appId, push)).reply)).toBe('TESTCOMPONENT_MSG_TYPE_TEXT')
  })
})
