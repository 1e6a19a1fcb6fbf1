/**
 * The accounts the tests serve (vitest.config.ts's WECHAT_ACCOUNTS beside the env account),
 * and pushes to each signed and sealed as WeChat does with that account's own secrets.
 */

import { env, exports } from 'cloudflare:workers'
import { type ForgeMode, openReply, signPush } from '../../src/debug/forge.ts'
import { fakeWechat } from './fake-wechat.ts'

export interface TestAccount {
  readonly id: string
  readonly path: string
  readonly token: string
  readonly appId: string
  readonly encodingAesKey: string
}

const configured = JSON.parse(env.WECHAT_ACCOUNTS) as Record<
  string,
  { token: string; appId: string; encodingAesKey: string }
>

function accountOf(id: string): TestAccount {
  if (id === 'env') {
    return {
      id,
      path: '/wechat',
      token: env.WECHAT_TOKEN,
      appId: env.WECHAT_APPID,
      encodingAesKey: env.WECHAT_ENCODING_AES_KEY,
    }
  }
  const entry = configured[id]
  if (!entry) throw new Error(`no test account ${id}`)
  return { id, path: `/wechat/${id}`, ...entry }
}

export const accounts = {
  env: accountOf('env'),
  shop: accountOf('shop'),
  news: accountOf('news'),
  quiet: accountOf('quiet'),
} as const

/** A push to `to`'s callback, signed (and sealed) with the secrets of `signer`. */
export async function signedFor(
  to: TestAccount,
  xml: string,
  mode: ForgeMode = 'safe',
  signer: TestAccount = to,
): Promise<Request> {
  const { query, body } = await signPush(xml, signer, mode)
  return new Request(`https://edge.test${to.path}?${query}`, { method: 'POST', body })
}

/** Posts a push to an account as WeChat would and reads the reply with that account's key. */
export async function exchangeWith(account: TestAccount, xml: string, mode: ForgeMode = 'safe') {
  await fakeWechat.interact(xml)
  const response = await exports.default.fetch(await signedFor(account, xml, mode))
  const body = await response.text()
  if (response.status !== 200) return { status: response.status, reply: body }
  const opened = await openReply(body, account)
  return { status: response.status, reply: opened.plaintext, signatureValid: opened.signatureValid }
}

/** The admin API of one account, with a bearer (ADMIN_TOKEN by default). */
export function adminOf(
  account: TestAccount,
  path: string,
  init: RequestInit = {},
  token = env.ADMIN_TOKEN,
) {
  const base = account.id === 'env' ? '/admin' : `/admin/accounts/${account.id}`
  return exports.default.fetch(`https://edge.test${base}/${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, ...init.headers },
  })
}
