/**
 * The pure pipeline, stage by stage, on fixed inputs: what one push costs in CPU before any
 * binding is touched. Shared by the Node runner and the workerd runner.
 */

import { PushSession } from '../src/bot/session.ts'
import { forgePushXml, signPush } from '../src/debug/forge.ts'
import type { Env } from '../src/env.ts'
import { decryptMessage, encryptMessage, importEncodingAesKey } from '../src/wechat/crypto.ts'
import { dedupKey } from '../src/wechat/dedup-key.ts'
import { type Account, openPush, sealReply } from '../src/wechat/envelope.ts'
import { type Push, parsePush } from '../src/wechat/push.ts'
import { renderReply } from '../src/wechat/reply.ts'
import { verifyMessageSignature, verifySignature } from '../src/wechat/signature.ts'
import { parseXmlRoot, textOf } from '../src/wechat/xml.ts'
import { bot, type CountSession } from '../test/fixtures/bot.ts'

const AES = {
  appId: 'wx2c2769f8efd9abc2',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
}

export const ACCOUNT = {
  token: 'spamtest',
  aes: AES,
  requireEncryption: false,
  signatureMaxAgeSeconds: 300,
} as const satisfies Account

/** The same account in the shape the forge (WeChat's side) signs with. */
export const SIGNER = { token: ACCOUNT.token, ...AES }

export type Stage = () => Promise<unknown>

export interface Fixture {
  readonly plaintext: Record<string, Stage>
  readonly safe: Record<string, Stage>
}

/** One text message (the commonest push), prepared once, with each stage as a closure. */
export async function fixture(nowSeconds: number): Promise<Fixture> {
  // The test bot (test/fixtures/bot.ts) answers this text without its session: no user store is needed.
  const context = {
    env: {} as Env,
    signal: new AbortController().signal,
    session: new PushSession<CountSession>(null, () => 1_000),
    profile: async () => null,
    log: {},
    wechat: null,
    account: { id: 'env', appId: null },
    webLink: () => '',
    key: 'bench-key',
    authenticated: true,
    msLeft: () => 4_000,
    hold: () => {},
  }
  const xml = forgePushXml('text', {
    content: 'Hello, wechat-edge',
    createTime: nowSeconds,
    msgId: '6054768590064713728',
  })
  const timestamp = String(nowSeconds)
  const plain = await signPush(xml, SIGNER, 'plaintext', timestamp, '1320562132')
  const safe = await signPush(xml, SIGNER, 'safe', timestamp, '1320562132')
  const plainQuery = Object.fromEntries(new URLSearchParams(plain.query))
  const safeQuery = Object.fromEntries(new URLSearchParams(safe.query))
  const push: Push = parsePush(parseXmlRoot(xml))
  const reply = (await bot.route(push, context))!
  const address = { toUser: push.fromUserName, fromUser: push.toUserName, createTime: nowSeconds }
  const replyXml = renderReply(reply, address)
  const aes = await importEncodingAesKey(AES.encodingAesKey)
  const encrypted = textOf(parseXmlRoot(safe.body), 'Encrypt')!

  const shared = {
    parse: async () => parsePush(parseXmlRoot(xml)),
    dedup: () => dedupKey(push, ACCOUNT.token),
    route: () => bot.route(push, context),
    reply: async () => renderReply(reply, address),
  }
  const whole = async (query: Record<string, string>, body: string) => {
    const opened = await openPush(query, body, ACCOUNT, nowSeconds)
    await dedupKey(opened.push, ACCOUNT.token)
    const routed = await bot.route(opened.push, context)
    const rendered = renderReply(routed!, address)
    return opened.mode === 'encrypted'
      ? sealReply(rendered, ACCOUNT.token, AES, nowSeconds)
      : rendered
  }
  return {
    plaintext: {
      verify: () => verifySignature(plainQuery, ACCOUNT.token, nowSeconds, 300),
      open: () => openPush(plainQuery, plain.body, ACCOUNT, nowSeconds),
      ...shared,
      whole: () => whole(plainQuery, plain.body),
    },
    safe: {
      verify: () => verifySignature(safeQuery, ACCOUNT.token, nowSeconds, 300),
      open: () => openPush(safeQuery, safe.body, ACCOUNT, nowSeconds),
      decrypt: async () => {
        await verifyMessageSignature(
          safeQuery.msg_signature,
          ACCOUNT.token,
          timestamp,
          '1320562132',
          encrypted,
        )
        return decryptMessage(aes, encrypted, AES.appId)
      },
      ...shared,
      encrypt: () => encryptMessage(aes, replyXml, AES.appId),
      seal: () => sealReply(replyXml, ACCOUNT.token, AES, nowSeconds),
      whole: () => whole(safeQuery, safe.body),
    },
  }
}

/** Runs a stage `n` times back to back. */
export async function repeat(stage: Stage, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await stage()
}
