/**
 * The adversarial review's findings, each as the attack that worked before and must not now.
 */

import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Router } from '../../src/bot/router.ts'
import { readConfig, WEAK_TOKEN_WARNING } from '../../src/config.ts'
import { forgePushXml, signPush } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { listDeadLetters, recordDeadLetter } from '../../src/queues/dead-letters.ts'
import { reply } from '../../src/wechat/reply.ts'
import { wechatSignature } from '../../src/wechat/signature.ts'
import { ADMIN_HEADERS, userState } from '../helpers/admin.ts'
import { eventually } from '../helpers/eventually.ts'
import { captureLogs } from '../helpers/logs.ts'
import { forgedPush, queuedPush } from '../helpers/pushes.ts'
import { sweepDeadLettersNow } from '../helpers/stored.ts'
import {
  account,
  exchange,
  openid,
  postPush,
  postSigned,
  signedRequest,
} from '../helpers/wechat.ts'
import { fetchLeavingWork, fetchWith } from '../helpers/worker.ts'

const encoder = new TextEncoder()

afterEach(() => {
  vi.restoreAllMocks()
})

/** AES-256-CBC over exactly these bytes (a multiple of 16), padding and all as the test chose. */
async function sealRaw(plain: Uint8Array<ArrayBuffer>): Promise<string> {
  const raw = Uint8Array.from(atob(`${account.encodingAesKey}=`), (c) => c.charCodeAt(0))
  const key = await crypto.subtle.importKey('raw', raw, 'AES-CBC', false, ['encrypt'])
  const sealed = await crypto.subtle.encrypt({ name: 'AES-CBC', iv: raw.slice(0, 16) }, key, plain)
  // WebCrypto appends a block of its own padding: drop it, keeping the test's.
  return btoa(String.fromCharCode(...new Uint8Array(sealed, 0, plain.length)))
}

/** WeChat's plaintext layout, with each part open to tampering. */
function envelope(options: {
  message?: Uint8Array
  appId?: string
  declaredLength?: number
  pad?: (length: number) => Uint8Array
}): Uint8Array<ArrayBuffer> {
  const message = options.message ?? encoder.encode(forgePushXml('text'))
  const appId = encoder.encode(options.appId ?? account.appId)
  const unpadded = 16 + 4 + message.length + appId.length
  const padLength = 32 - (unpadded % 32)
  const pad = options.pad?.(padLength) ?? new Uint8Array(padLength).fill(padLength)
  const total = unpadded + pad.length
  const plain = new Uint8Array(total + ((16 - (total % 16)) % 16))
  plain.set(crypto.getRandomValues(new Uint8Array(16)))
  new DataView(plain.buffer).setUint32(16, options.declaredLength ?? message.length)
  plain.set(message, 20)
  plain.set(appId, 20 + message.length)
  plain.set(pad, unpadded)
  return plain
}

/** Posts an Encrypt value under a valid signature and msg_signature, as the Token's holder can. */
async function postSealed(encrypted: string) {
  const timestamp = String(Math.floor(Date.now() / 1000))
  const nonce = '42'
  const signature = await wechatSignature([account.token, timestamp, nonce])
  const msgSignature = await wechatSignature([account.token, timestamp, nonce, encrypted])
  const response = await exports.default.fetch(
    `https://edge.test/wechat?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}&encrypt_type=aes&msg_signature=${msgSignature}`,
    {
      method: 'POST',
      body: `<xml><ToUserName>gh_x</ToUserName><Encrypt>${encrypted}</Encrypt></xml>`,
    },
  )
  return { status: response.status, text: await response.text() }
}

describe('1. no padding oracle behind a valid msg_signature', () => {
  const future = Math.floor(Date.now() / 1000) + 86_400
  it.each([
    ['a pad byte of 0', envelope({ pad: (n) => new Uint8Array(n).fill(0) })],
    ['a pad byte of 33', envelope({ pad: (n) => new Uint8Array(n).fill(n).fill(33, n - 1) })],
    ['pad bytes that disagree', envelope({ pad: (n) => new Uint8Array(n).fill(n).fill(1, 0, 1) })],
    ['a length it does not have', envelope({ declaredLength: 1_000_000 })],
    ['another AppID', envelope({ appId: 'wx0000000000000000' })],
    ['a message that is not XML', envelope({ message: encoder.encode('hello') })],
    ['a message that is not UTF-8', envelope({ message: new Uint8Array([0xc3, 0x28]) })],
    [
      'a push without FromUserName',
      envelope({
        message: encoder.encode(
          forgePushXml('text').replace(/<FromUserName>.*<\/FromUserName>/, ''),
        ),
      }),
    ],
    [
      'a push from the future',
      envelope({ message: encoder.encode(forgePushXml('text', { createTime: future })) }),
    ],
  ])('%s: the same answer as every other failure', async (_, plain) => {
    expect(await postSealed(await sealRaw(plain))).toEqual({
      status: 400,
      text: 'encrypted push could not be opened',
    })
  })

  it('logs one reason for every failure, as it answers one (round 4, finding 7)', async () => {
    const failures = [
      envelope({ pad: (n) => new Uint8Array(n).fill(0) }),
      envelope({ declaredLength: 1_000_000 }),
      envelope({ appId: 'wx0000000000000000' }),
      envelope({ message: new Uint8Array([0xc3, 0x28]) }),
    ]
    const lines: string[] = []
    for (const plain of failures) {
      const warnings = captureLogs('warn')
      await postSealed(await sealRaw(plain))
      const rejected = warnings.records.filter((record) => record.event === 'rejected')
      expect(rejected).toHaveLength(1)
      const { requestId: _, ...line }: Record<string, unknown> = { ...rejected[0] }
      lines.push(JSON.stringify(line))
      vi.restoreAllMocks()
    }
    // A reader of the logs holding the Token learns no more than the client did.
    expect(new Set(lines).size).toBe(1)
    expect(lines[0]).toContain('encrypted push could not be opened')
  })

  it('still opens a well-sealed push', async () => {
    expect((await postSealed(await sealRaw(envelope({})))).status).toBe(200)
  })
})

describe('2. no downgrade to plaintext', () => {
  const unset = { REQUIRE_ENCRYPTION: undefined } as unknown as Partial<typeof env>

  it('requires encryption by default once an EncodingAESKey is set', async () => {
    expect(readConfig({ ...env, ...unset }).env.envelope.requireEncryption).toBe(true)
    const plain = await fetchWith(await signedRequest(forgePushXml('text'), 'plaintext'), unset)
    expect(plain.status).toBe(401)
    for (const mode of ['compatible', 'safe'] as const) {
      const sealed = await fetchWith(await signedRequest(forgePushXml('text'), mode), unset)
      expect(sealed.status).toBe(200)
    }
  })

  it('takes plaintext in migration mode only when REQUIRE_ENCRYPTION is false', async () => {
    const plain = await fetchWith(await signedRequest(forgePushXml('text'), 'plaintext'), {
      REQUIRE_ENCRYPTION: 'false',
    })
    expect(plain.status).toBe(200)
  })

  it('takes plaintext with no EncodingAESKey at all: a plaintext account', async () => {
    const plainAccount = { WECHAT_ENCODING_AES_KEY: '', WECHAT_APPID: '', ...unset }
    const plain = await fetchWith(
      await signedRequest(forgePushXml('text'), 'plaintext'),
      plainAccount,
    )
    expect(plain.status).toBe(200)
  })
})

describe('3. a weak Token is named', () => {
  it('warns in GET / for a short Token and not for a strong one', async () => {
    const asOperator = () => new Request('https://edge.test/', { headers: ADMIN_HEADERS })
    const weak = await (await exports.default.fetch(asOperator())).json<{ warnings: string[] }>()
    expect(weak.warnings).toContain(WEAK_TOKEN_WARNING)
    const strong = await fetchWith(asOperator(), {
      WECHAT_TOKEN: '3f9c2a7e1b8d4c6f0a5e9b2d7c1f4a8e',
    })
    expect((await strong.json<{ warnings: string[] }>()).warnings).not.toContain(WEAK_TOKEN_WARNING)
  })
})

describe('4. <!DOCTYPE in what a user sends is text', () => {
  it('answers a text message of <!DOCTYPE html>', async () => {
    const text = await exchange(forgePushXml('text', { content: '<!DOCTYPE html><!ENTITY x>' }))
    expect(text.status).toBe(200)
    expect(text.reply).toContain('<!DOCTYPE html>')
  })

  it('answers a scanned code whose result holds one', async () => {
    const scanned = await postPush(forgePushXml('scancode_waitmsg', { content: '<!doctype html>' }))
    expect(scanned.status).toBe(200)
  })

  it('still refuses a real DOCTYPE, in the prolog or smuggled outside CDATA', async () => {
    const inBody = forgePushXml('text').replace(
      /<Content>.*<\/Content>/,
      '<Content><!DOCTYPE x [<!ENTITY a "b">]>&a;</Content>',
    )
    expect((await postSigned(inBody)).status).toBe(400)
    expect((await postSigned(`<!DOCTYPE xml>${forgePushXml('text')}`)).status).toBe(400)
  })
})

describe('5. CreateTime is bounded', () => {
  it('refuses a push dated ten days ahead', async () => {
    const ahead = Math.floor(Date.now() / 1000) + 10 * 86_400
    const response = await postPush(forgePushXml('location_report', { createTime: ahead }))
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('CreateTime is in the future')
  })

  it('so a future-dated report cannot pin the location', async () => {
    const id = openid('pin')
    const now = Math.floor(Date.now() / 1000)
    await postPush(
      forgePushXml('location_report', { openid: id, createTime: now + 10 * 86_400, latitude: 1 }),
    )
    await postPush(forgePushXml('location_report', { openid: id, createTime: now, latitude: 2 }))
    await eventually(async () =>
      expect(await userState(id)).toMatchObject({ location: { latitude: 2 } }),
    )
  })

  it('still takes a push from a few seconds ahead (clock skew) and any from the past', async () => {
    const now = Math.floor(Date.now() / 1000)
    expect((await postPush(forgePushXml('click', { createTime: now + 30 }))).status).toBe(200)
    expect((await postPush(forgePushXml('click', { createTime: now - 7 * 86_400 }))).status).toBe(
      200,
    )
  })
})

describe('6. identities are what WeChat issues', () => {
  it.each([
    ['a slash', 'oUser/../x'],
    ['a colon', 'oUser:other'],
    ['a space', 'oUser other'],
    ['a NUL', 'oUser\u0000x'],
    ['thousands of characters', `o${'x'.repeat(5_000)}`],
  ])('refuses a FromUserName with %s', async (_, id) => {
    const xml = forgePushXml('click').replace(
      /<FromUserName>.*<\/FromUserName>/,
      `<FromUserName><![CDATA[${id}]]></FromUserName>`,
    )
    expect((await postSigned(xml)).status).toBe(400)
  })

  it('purges one user’s dead letters and no one else’s', async () => {
    const id = openid('prefix')
    await recordDeadLetter(env.DEAD_LETTERS, {
      queued: await queuedPush(forgedPush('text', { openid: id })),
      attempts: 6,
      reason: null,
    })
    const neighbour = `${id}x`
    await recordDeadLetter(env.DEAD_LETTERS, {
      queued: await queuedPush(forgedPush('text', { openid: neighbour })),
      attempts: 6,
      reason: null,
    })
    const purge = await exports.default.fetch(`https://edge.test/admin/users/${id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}` },
    })
    expect(purge.status).toBe(204)
    // The user's object sweeps their letters from its alarm, a minute after the purge.
    await sweepDeadLettersNow(id)
    const left = (await listDeadLetters(env.DEAD_LETTERS, 'env')).filter((letter) =>
      letter.openid.startsWith(id),
    )
    expect(left.map((letter) => letter.openid)).toEqual([neighbour])
  })
})

describe('7. an encrypted push’s reply is never replayed in clear', () => {
  it('serves a cached reply only to the same push in the same mode', async () => {
    const secretBot = new Router<Env>().on('text', () =>
      reply.text(`secret ${crypto.randomUUID()}`),
    )
    const xml = forgePushXml('text', { openid: openid('modes') })
    const send = async (mode: 'safe' | 'plaintext') => {
      const { response, leftWork } = await fetchLeavingWork(
        await signedRequest(xml, mode),
        {},
        secretBot,
      )
      const body = await response.text()
      await leftWork
      return body
    }
    const sealed = await send('safe')
    expect(sealed).toContain('<Encrypt>')
    const { openReply } = await import('../../src/debug/forge.ts')
    const secret = (await openReply(sealed, account)).plaintext
    const inClear = await send('plaintext')
    expect(inClear).not.toBe(secret)
    expect(inClear).not.toContain(secret.match(/secret [0-9a-f-]+/)?.[0])
    // Each mode's retry gets its own first reply.
    expect((await openReply(await send('safe'), account)).plaintext).toBe(secret)
    expect(await send('plaintext')).toBe(inClear)
  })
})

describe('8. smaller findings', () => {
  it('answers echostr with nosniff', async () => {
    const timestamp = String(Math.floor(Date.now() / 1000))
    const signature = await wechatSignature([account.token, timestamp, 'n'])
    const response = await exports.default.fetch(
      `https://edge.test/wechat?signature=${signature}&timestamp=${timestamp}&nonce=n&echostr=%3Cscript%3E`,
    )
    expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff')
  })

  it('checks the signature before reading the body', async () => {
    let pulled = false
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulled = true
          controller.enqueue(new Uint8Array([0xc3, 0x28]))
          controller.close()
        },
      },
      // Nothing is pulled until someone reads.
      { highWaterMark: 0 },
    )
    const response = await fetchWith(
      new Request('https://edge.test/wechat?signature=bad&timestamp=1&nonce=1', {
        method: 'POST',
        body,
      }),
    )
    expect(response.status).toBe(401)
    expect(pulled).toBe(false)
  })

  it('logs a client that went away mid-body as such, not as a body that is not UTF-8', async () => {
    const warnings = captureLogs('warn')
    const { query } = await signPush('<xml/>', account, 'plaintext')
    let sent = false
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true
          controller.enqueue(encoder.encode('<xml><ToUserName>'))
        } else controller.error(new TypeError('Network connection lost.'))
      },
    })
    const response = await fetchWith(
      new Request(`https://edge.test/wechat?${query}`, { method: 'POST', body }),
    )
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('body could not be read')
    expect(warnings.text()).toContain('body_unreadable')
    expect(warnings.text()).not.toContain('not UTF-8')
  })
})
