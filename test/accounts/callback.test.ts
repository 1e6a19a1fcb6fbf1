/**
 * Several accounts on one deployment, at their callbacks: `/wechat` for the env account,
 * `/wechat/<id>` for each of WECHAT_ACCOUNTS, each verified against its own Token and key; an
 * unknown id costs no binding call; a wrong entry disables that account alone.
 */

import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { Router } from '../../src/bot/router.ts'
import { forgePushXml, signPush } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { reply } from '../../src/wechat/reply.ts'
import { wechatSignature } from '../../src/wechat/signature.ts'
import { accounts, exchangeWith, signedFor } from '../helpers/accounts.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { openid } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

const text = (user: string, content: string) =>
  forgePushXml('text', { openid: user, content, msgId: String(Date.now()) })

describe('each account at its own callback', () => {
  it('answers a push to /wechat/<id> signed and sealed with that account’s secrets', async () => {
    const user = openid('acct-hello')
    for (const account of [accounts.env, accounts.shop, accounts.news]) {
      const answered = await exchangeWith(account, text(user, `hi ${account.id}`))
      expect(answered).toMatchObject({ status: 200, signatureValid: true })
      expect(answered.reply).toContain(`<Content><![CDATA[hi ${account.id}]]></Content>`)
    }
  })

  it('refuses a push signed with another account’s Token: 401', async () => {
    const push = text(openid('acct-cross'), 'x')
    for (const [to, signer] of [
      [accounts.shop, accounts.news],
      [accounts.news, accounts.env],
      [accounts.env, accounts.shop],
    ] as const) {
      const response = await exports.default.fetch(await signedFor(to, push, 'safe', signer))
      expect(response.status).toBe(401)
    }
  })

  it('answers another account’s ciphertext, under this one’s valid msg_signature, as any bad envelope', async () => {
    // news's key sealed it; whoever holds shop's Token signs it for shop: the one 400.
    const sealed = await signPush(text(openid('acct-seal'), 'x'), accounts.news, 'safe')
    const encrypted = /<Encrypt><!\[CDATA\[([^\]]+)\]\]><\/Encrypt>/.exec(sealed.body)?.[1] ?? ''
    const timestamp = String(Math.floor(Date.now() / 1000))
    const nonce = '11'
    const signature = await wechatSignature([accounts.shop.token, timestamp, nonce])
    const msgSignature = await wechatSignature([accounts.shop.token, timestamp, nonce, encrypted])
    const response = await exports.default.fetch(
      `https://edge.test/wechat/shop?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}&encrypt_type=aes&msg_signature=${msgSignature}`,
      { method: 'POST', body: sealed.body },
    )
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('encrypted push could not be opened')
  })

  it('answers an unknown id 404 without touching a binding', async () => {
    const touched: string[] = []
    const watched = Object.fromEntries(
      Object.entries(env).map(([name, value]) => [
        name,
        typeof value === 'object' && value !== null
          ? new Proxy(value, {
              get(target, property, receiver) {
                touched.push(name)
                return Reflect.get(target, property, receiver)
              },
            })
          : value,
      ]),
    ) as unknown as Env
    const request = await signedFor({ ...accounts.shop, path: '/wechat/nobody' }, text('oX', 'x'))
    const response = await fetchWith(request, watched)
    expect(response.status).toBe(404)
    expect(touched).toEqual([])
  })

  it('disables an account whose settings are wrong, naming them without a value, and no other', async () => {
    const response = await exports.default.fetch('https://edge.test/wechat/broken', {
      method: 'POST',
      body: '<xml/>',
    })
    expect(response.status).toBe(503)
    expect(await response.text()).toContain('WECHAT_ACCOUNTS.broken.token is not set')
    const health = await exports.default.fetch('https://edge.test/', { headers: ADMIN_HEADERS })
    const body = (await health.json()) as {
      ready: boolean
      accounts: Record<string, { ready: boolean; problems: string[] }>
    }
    expect(body.ready).toBe(true)
    expect(body.accounts.broken).toMatchObject({ ready: false })
    expect(body.accounts.broken?.problems).toEqual(['WECHAT_ACCOUNTS.broken.token is not set'])
    expect(body.accounts.shop).toMatchObject({ ready: true })
    expect(JSON.stringify(body)).not.toContain('broken-secret')
  })

  it('keeps serving every other account when WECHAT_ACCOUNTS cannot be read at all', async () => {
    const unreadable = { WECHAT_ACCOUNTS: '{ not json' }
    const push = await signedFor(accounts.env, text(openid('acct-unreadable'), 'still here'))
    expect((await fetchWith(push, unreadable)).status).toBe(200)
    const shop = await signedFor(accounts.shop, text(openid('acct-unreadable'), 'gone'))
    expect((await fetchWith(shop, unreadable)).status).toBe(404)
  })

  it('answers the URL-verification handshake with each account’s own Token', async () => {
    const timestamp = String(Math.floor(Date.now() / 1000))
    const signature = await wechatSignature([accounts.news.token, timestamp, '5'])
    const query = `signature=${signature}&timestamp=${timestamp}&nonce=5&echostr=hello`
    expect(
      await (await exports.default.fetch(`https://edge.test/wechat/news?${query}`)).text(),
    ).toBe('hello')
    expect((await exports.default.fetch(`https://edge.test/wechat/shop?${query}`)).status).toBe(401)
  })
})

describe('bots and accounts', () => {
  it('tells a handler which account the push came to', async () => {
    const bot = new Router<Env>().on('text', (_push, { account }) =>
      reply.text(`${account.id} ${account.appId}`),
    )
    const request = await signedFor(accounts.shop, text(openid('acct-ref'), 'who'), 'plaintext')
    const response = await fetchWith(request, {}, bot)
    expect(await response.text()).toContain(`shop ${accounts.shop.appId}`)
  })

  it('runs an account’s own bot where one is given, and the main bot elsewhere', async () => {
    const main = new Router<Env>().on('text', () => reply.text('main bot'))
    const shopBot = new Router<Env, { visits: number }>().on('text', () => reply.text('shop bot'))
    const { createApp } = await import('../../src/http/app.ts')
    const app = createApp(main, { accounts: { shop: shopBot } })
    const user = openid('acct-bots')
    const call = async (account: typeof accounts.shop) => {
      const response = await app.fetch(await signedFor(account, text(user, 'x'), 'plaintext'), env)
      return response.text()
    }
    expect(await call(accounts.shop)).toContain('shop bot')
    expect(await call(accounts.env)).toContain('main bot')
  })
})
