import { describe, expect, it } from 'vitest'
import { SignatureError } from '../../src/wechat/errors.ts'
import {
  constantTimeEqual,
  verifyMessageSignature,
  verifySignature,
  wechatSignature,
} from '../../src/wechat/signature.ts'
import { VECTOR } from '../helpers/sample-vector.ts'

const {
  token: TOKEN,
  timestamp: TIMESTAMP,
  nonce: NONCE,
  encrypt: ENCRYPT,
  signature: SIGNATURE,
  msgSignature: MSG_SIGNATURE,
} = VECTOR
const NOW = Number(TIMESTAMP)

describe('wechatSignature', () => {
  it('matches the documented signature and msg_signature', async () => {
    expect(await wechatSignature([TOKEN, TIMESTAMP, NONCE])).toBe(SIGNATURE)
    expect(await wechatSignature([TOKEN, TIMESTAMP, NONCE, ENCRYPT])).toBe(MSG_SIGNATURE)
  })

  it('does not depend on the order of its parts', async () => {
    expect(await wechatSignature([NONCE, TOKEN, TIMESTAMP])).toBe(SIGNATURE)
  })
})

describe('verifySignature', () => {
  const query = { signature: SIGNATURE, timestamp: TIMESTAMP, nonce: NONCE }

  it('accepts the documented request at its own time', async () => {
    await expect(verifySignature(query, TOKEN, NOW, 300)).resolves.toEqual({
      timestamp: TIMESTAMP,
      nonce: NONCE,
    })
  })

  it('accepts an upper-case signature', async () => {
    await expect(
      verifySignature({ ...query, signature: SIGNATURE.toUpperCase() }, TOKEN, NOW, 300),
    ).resolves.toBeDefined()
  })

  it.each([
    ['no signature', { ...query, signature: undefined }],
    ['no timestamp', { ...query, timestamp: undefined }],
    ['no nonce', { ...query, nonce: undefined }],
    ['an empty signature', { ...query, signature: '' }],
    ['a wrong signature', { ...query, signature: SIGNATURE.replace('1', '2') }],
    ['a signature for another nonce', { ...query, nonce: '1320562133' }],
    ['a timestamp that is not seconds', { ...query, timestamp: '1409735669000x' }],
  ])('refuses %s', async (_, bad) => {
    await expect(verifySignature(bad, TOKEN, NOW, 300)).rejects.toBeInstanceOf(SignatureError)
  })

  it('refuses the right signature under another token', async () => {
    await expect(verifySignature(query, 'another', NOW, 300)).rejects.toThrow('signature mismatch')
  })

  it('refuses a timestamp outside the window, in either direction', async () => {
    await expect(verifySignature(query, TOKEN, NOW + 301, 300)).rejects.toThrow('window')
    await expect(verifySignature(query, TOKEN, NOW - 301, 300)).rejects.toThrow('window')
    await expect(verifySignature(query, TOKEN, NOW + 300, 300)).resolves.toBeDefined()
  })
})

describe('verifyMessageSignature', () => {
  it('accepts the documented msg_signature and refuses others', async () => {
    await expect(
      verifyMessageSignature(MSG_SIGNATURE, TOKEN, TIMESTAMP, NONCE, ENCRYPT),
    ).resolves.toBeUndefined()
    await expect(
      verifyMessageSignature(undefined, TOKEN, TIMESTAMP, NONCE, ENCRYPT),
    ).rejects.toThrow('missing msg_signature')
    await expect(
      verifyMessageSignature(MSG_SIGNATURE, TOKEN, TIMESTAMP, NONCE, `${ENCRYPT}A`),
    ).rejects.toThrow('msg_signature mismatch')
  })
})

describe('constantTimeEqual', () => {
  it('compares whole strings', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true)
    expect(constantTimeEqual('abc', 'abd')).toBe(false)
    expect(constantTimeEqual('abc', 'ab')).toBe(false)
    expect(constantTimeEqual('', '')).toBe(true)
  })
})
