import { afterEach, describe, expect, it, vi } from 'vitest'
import { decryptMessage, encryptMessage, importEncodingAesKey } from '../../src/wechat/crypto.ts'
import { DecryptError } from '../../src/wechat/errors.ts'
import { parsedPush } from '../helpers/pushes.ts'
import { VECTOR } from '../helpers/sample-vector.ts'

const aes = await importEncodingAesKey(VECTOR.encodingAesKey)
const OVERHEAD = 16 + 4 + VECTOR.appId.length

afterEach(() => {
  vi.restoreAllMocks()
})

describe('decryptMessage', () => {
  it('decrypts the documented vector to its text message', async () => {
    const xml = await decryptMessage(aes, VECTOR.encrypt, VECTOR.appId)
    const push = parsedPush(xml)
    expect(push).toMatchObject({
      kind: 'text',
      content: VECTOR.content,
      msgId: VECTOR.msgId,
      fromUserName: VECTOR.fromUserName,
    })
  })

  it('refuses the vector for another AppID', async () => {
    await expect(decryptMessage(aes, VECTOR.encrypt, 'wx0000000000000000')).rejects.toThrow(
      'another AppID',
    )
  })

  it('refuses the vector under another key', async () => {
    const other = await importEncodingAesKey('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg')
    await expect(decryptMessage(other, VECTOR.encrypt, VECTOR.appId)).rejects.toBeInstanceOf(
      DecryptError,
    )
  })

  it('decrypts with one WebCrypto call, whatever the pad', async () => {
    const decrypt = vi.spyOn(crypto.subtle, 'decrypt')
    const encrypt = vi.spyOn(crypto.subtle, 'encrypt')
    for (const message of ['m', 'm'.repeat(20)]) {
      const sealed = await encryptMessage(aes, message, VECTOR.appId)
      encrypt.mockClear()
      await expect(decryptMessage(aes, sealed, VECTOR.appId)).resolves.toBe(message)
    }
    expect(decrypt).toHaveBeenCalledTimes(2)
    expect(encrypt).not.toHaveBeenCalled()
  })

  // Sealed as WeChat would, but with the pad bytes given: WebCrypto's own pad block is dropped.
  const sealWithPad = async (pad: Uint8Array) => {
    const body = new TextEncoder().encode(`0123456789abcdef\0\0\0\x01m${VECTOR.appId}`)
    const plain = new Uint8Array(body.length + pad.length)
    plain.set(body)
    plain.set(pad, body.length)
    const sealed = await crypto.subtle.encrypt({ name: 'AES-CBC', iv: aes.iv }, aes.key, plain)
    return btoa(String.fromCharCode(...new Uint8Array(sealed, 0, plain.length)))
  }
  const padLength = 32 - ((OVERHEAD + 1) % 32)

  it('reads a well-formed pad built outside encryptMessage', async () => {
    const sealed = await sealWithPad(new Uint8Array(padLength).fill(padLength))
    await expect(decryptMessage(aes, sealed, VECTOR.appId)).resolves.toBe('m')
  })

  it.each([
    ['a zero pad byte', new Uint8Array(padLength).fill(0)],
    ['a pad byte over 32', new Uint8Array(padLength).fill(33)],
    ['pad bytes that disagree', new Uint8Array(padLength).fill(padLength).fill(1, 0, 1)],
  ])('refuses an envelope with %s', async (_, pad) => {
    await expect(decryptMessage(aes, await sealWithPad(pad), VECTOR.appId)).rejects.toThrow(
      'invalid padding',
    )
  })

  it.each([
    ['not base64', '!!!!'],
    ['too short', btoa('x'.repeat(16))],
    ['not whole blocks', btoa('x'.repeat(40))],
    ['empty', ''],
  ])('refuses an envelope that is %s', async (_, encrypted) => {
    await expect(decryptMessage(aes, encrypted, VECTOR.appId)).rejects.toBeInstanceOf(DecryptError)
  })
})

describe('encryptMessage', () => {
  // WeChat pads to 32 bytes: a message of n bytes gets 32 − ((20 + n + appId) mod 32) pad bytes.
  const lengthForPad = (pad: number) => (32 - pad - (OVERHEAD % 32) + 64) % 32 || 32

  it.each(Array.from({ length: 32 }, (_, i) => i + 1))(
    'round-trips a message padded with %i bytes',
    async (pad) => {
      const message = 'm'.repeat(lengthForPad(pad))
      const sealed = await encryptMessage(aes, message, VECTOR.appId)
      const bytes = Uint8Array.from(atob(sealed), (c) => c.charCodeAt(0))
      expect(bytes.length % 32).toBe(0)
      expect(bytes.length - (OVERHEAD + message.length)).toBe(pad)
      await expect(decryptMessage(aes, sealed, VECTOR.appId)).resolves.toBe(message)

      // Independently of our decryption: WebCrypto's own 16-byte PKCS#7 reads pads up to 16 as
      // valid, leaving random ‖ length ‖ message ‖ AppID; longer pads are not valid for it.
      const raw = crypto.subtle.decrypt({ name: 'AES-CBC', iv: aes.iv }, aes.key, bytes)
      if (pad <= 16) {
        const plain = new Uint8Array(await raw)
        expect(new TextDecoder().decode(plain.subarray(20))).toBe(message + VECTOR.appId)
        expect(new DataView(plain.buffer).getUint32(16)).toBe(message.length)
      } else {
        await expect(raw).rejects.toThrow()
      }
    },
  )

  it('uses fresh random bytes each time', async () => {
    const a = await encryptMessage(aes, 'same', VECTOR.appId)
    const b = await encryptMessage(aes, 'same', VECTOR.appId)
    expect(a).not.toBe(b)
  })

  it('carries multi-byte text by its UTF-8 length', async () => {
    const message = '你好, wechat-edge 👋'
    const sealed = await encryptMessage(aes, message, VECTOR.appId)
    await expect(decryptMessage(aes, sealed, VECTOR.appId)).resolves.toBe(message)
  })
})

describe('importEncodingAesKey', () => {
  it('refuses a key that is not 43 base64 characters', async () => {
    await expect(importEncodingAesKey('short')).rejects.toThrow('43 base64 characters')
  })
})
