/**
 * node-webot's `wechat` middleware (xml2js + ejs + wechat-crypto), the Node library most WeChat
 * developers use, driven without HTTP on the same pushes as our pipeline: signature check,
 * decryption in safe mode, parsing, the handler, the reply template, encryption.
 */

import { createRequire } from 'node:module'
import { signPush } from '../src/debug/forge.ts'
import { ACCOUNT, SIGNER } from './pipeline.ts'

interface WebotRequest {
  method: string
  query: Record<string, string>
  rawBody: Buffer
  weixin?: { MsgType: string; Content?: string }
}
interface WebotResponse {
  reply(content: string): void
}
type Middleware = (
  req: WebotRequest,
  res: { writeHead(status: number): void; end(body?: string): void },
  next: (error?: unknown) => void,
) => void

const require = createRequire(import.meta.url)
const wechat = require('wechat') as (
  config: { token: string; appid: string; encodingAESKey: string },
  handler: (req: WebotRequest, res: WebotResponse) => void,
) => Middleware

// The same behaviour as the test bot (test/fixtures/bot.ts) for a text message: echo it.
const middleware = wechat(
  { token: ACCOUNT.token, appid: ACCOUNT.aes.appId, encodingAESKey: ACCOUNT.aes.encodingAesKey },
  (req, res) => res.reply(req.weixin?.MsgType === 'text' ? (req.weixin.Content ?? '') : ''),
)

/** One push through node-webot, resolving with the body it answered. */
function handle(query: Record<string, string>, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    let status = 200
    middleware(
      { method: 'POST', query, rawBody: body },
      {
        writeHead(code) {
          status = code
        },
        end(answer = '') {
          if (status === 200) resolve(answer)
          else reject(new Error(`node-webot answered ${status}: ${answer}`))
        },
      },
      (error) => reject(error ?? new Error('node-webot passed the push on')),
    )
  })
}

/** node-webot's whole pipeline for one text push, in each mode, as closures. */
export async function webotFixture(xml: string, nowSeconds: number) {
  const timestamp = String(nowSeconds)
  const plain = await signPush(xml, SIGNER, 'plaintext', timestamp, '1320562132')
  const safe = await signPush(xml, SIGNER, 'safe', timestamp, '1320562132')
  const query = (signed: string) => Object.fromEntries(new URLSearchParams(signed))
  const plainQuery = query(plain.query)
  const safeQuery = query(safe.query)
  const plainBody = Buffer.from(plain.body)
  const safeBody = Buffer.from(safe.body)
  return {
    plaintext: () => handle(plainQuery, plainBody),
    safe: () => handle(safeQuery, safeBody),
  }
}
