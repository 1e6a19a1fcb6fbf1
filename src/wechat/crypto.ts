/**
 * Safe and compatible mode: WeChat's AES-256-CBC envelope, done with WebCrypto.
 *
 * plaintext = random(16) ‖ uint32be(length(msg)) ‖ msg ‖ AppID, padded PKCS#7-style to a
 * 32-byte block (pad values 1..32). WebCrypto only speaks 16-byte PKCS#7, so decryption appends
 * two crafted blocks, made once per key, whose second decrypts to a full 16-byte pad whatever
 * precedes them: WebCrypto strips that pad, we drop the first block's garbage, and WeChat's
 * padding is left for us to check, in one WebCrypto call per push. Encryption drops the pad
 * block WebCrypto adds.
 */

import { DecryptError } from './errors.ts'

const BLOCK = 16
const WECHAT_PAD_BLOCK = 32
const encoder = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
const ZERO_BLOCK = new Uint8Array(BLOCK)

/** An imported EncodingAESKey: the AES key and the IV WeChat derives from it. */
export interface AesKey {
  readonly key: CryptoKey
  readonly iv: Uint8Array<ArrayBuffer>
  /**
   * Two blocks, Z ‖ E(Z ⊕ pad16) with Z zero, that end any ciphertext in a valid 16-byte
   * PKCS#7 pad: CBC decrypts the second to D(E(Z ⊕ pad16)) ⊕ Z = pad16.
   */
  readonly padTail: Uint8Array<ArrayBuffer>
}

const importedKeys = new Map<string, Promise<AesKey>>()

/**
 * Imports a 43-character EncodingAESKey once per isolate.
 *
 * @example
 * const aes = await importEncodingAesKey('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG')
 */
export function importEncodingAesKey(encodingAesKey: string): Promise<AesKey> {
  let imported = importedKeys.get(encodingAesKey)
  if (!imported) {
    imported = importKey(encodingAesKey)
    importedKeys.set(encodingAesKey, imported)
    imported.catch(() => importedKeys.delete(encodingAesKey))
  }
  return imported
}

async function importKey(encodingAesKey: string): Promise<AesKey> {
  if (!/^[A-Za-z0-9+/]{43}$/.test(encodingAesKey)) {
    throw new TypeError('EncodingAESKey must be 43 base64 characters')
  }
  const raw = base64ToBytes(`${encodingAesKey}=`)
  const key = await crypto.subtle.importKey('raw', raw, 'AES-CBC', false, ['encrypt', 'decrypt'])
  // Encrypting nothing under IV Z gives exactly one block: E(Z ⊕ pad16), WebCrypto's own pad.
  const padBlock = await crypto.subtle.encrypt(
    { name: 'AES-CBC', iv: ZERO_BLOCK },
    key,
    new Uint8Array(0),
  )
  const padTail = new Uint8Array(2 * BLOCK)
  padTail.set(new Uint8Array(padBlock, 0, BLOCK), BLOCK)
  return { key, iv: raw.slice(0, BLOCK), padTail }
}

/**
 * Decrypts an Encrypt envelope and checks that it was sealed for `appId`.
 * Throws a {@link DecryptError} for anything that is not a well-formed envelope.
 */
export async function decryptMessage(
  aes: AesKey,
  encrypted: string,
  appId: string,
): Promise<string> {
  const sealed = decodeEnvelope(encrypted)
  const extended = new Uint8Array(sealed.length + aes.padTail.length)
  extended.set(sealed)
  extended.set(aes.padTail, sealed.length)

  let decrypted: ArrayBuffer
  try {
    decrypted = await crypto.subtle.decrypt({ name: 'AES-CBC', iv: aes.iv }, aes.key, extended)
  } catch {
    throw new DecryptError('Encrypt does not decrypt with this EncodingAESKey')
  }
  // What the tail's first block decrypted to is garbage (D(Z) ⊕ the last sealed block).
  const padded = new Uint8Array(decrypted, 0, sealed.length)
  return unpackPlaintext(stripWechatPadding(padded), appId)
}

/**
 * Seals `message` for `appId` as WeChat expects it back. `random` is 16 fresh bytes unless a
 * test supplies its own.
 */
export async function encryptMessage(
  aes: AesKey,
  message: string,
  appId: string,
  random: Uint8Array = crypto.getRandomValues(new Uint8Array(BLOCK)),
): Promise<string> {
  const msg = encoder.encode(message)
  const app = encoder.encode(appId)
  const unpadded = BLOCK + 4 + msg.length + app.length
  const pad = WECHAT_PAD_BLOCK - (unpadded % WECHAT_PAD_BLOCK)
  const plain = new Uint8Array(unpadded + pad)
  plain.set(random.subarray(0, BLOCK))
  new DataView(plain.buffer).setUint32(BLOCK, msg.length)
  plain.set(msg, BLOCK + 4)
  plain.set(app, BLOCK + 4 + msg.length)
  plain.fill(pad, unpadded)
  const sealed = await crypto.subtle.encrypt({ name: 'AES-CBC', iv: aes.iv }, aes.key, plain)
  // The last block is WebCrypto's own 16-byte pad; WeChat's padding is already in `plain`.
  return bytesToBase64(new Uint8Array(sealed, 0, plain.length))
}

/** Whether a string is base64 as WeChat writes Encrypt: no whitespace, padding only at the end. */
export function isBase64(text: string): boolean {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(text)
}

function decodeEnvelope(encrypted: string): Uint8Array<ArrayBuffer> {
  if (!isBase64(encrypted)) throw new DecryptError('Encrypt is not base64')
  const sealed = base64ToBytes(encrypted)
  if (sealed.length < 2 * BLOCK || sealed.length % BLOCK !== 0) {
    throw new DecryptError('Encrypt has an impossible length')
  }
  return sealed
}

function stripWechatPadding(padded: Uint8Array): Uint8Array {
  const pad = padded[padded.length - 1] ?? 0
  if (pad < 1 || pad > WECHAT_PAD_BLOCK || pad > padded.length) {
    throw new DecryptError('Encrypt has invalid padding')
  }
  for (let i = padded.length - pad; i < padded.length; i++) {
    if (padded[i] !== pad) throw new DecryptError('Encrypt has invalid padding')
  }
  return padded.subarray(0, padded.length - pad)
}

function unpackPlaintext(plain: Uint8Array, appId: string): string {
  if (plain.length < BLOCK + 4) throw new DecryptError('Encrypt is too short')
  const length = new DataView(plain.buffer, plain.byteOffset + BLOCK, 4).getUint32(0)
  const end = BLOCK + 4 + length
  if (end > plain.length) throw new DecryptError('Encrypt declares a length it does not have')
  let message: string
  let sealedFor: string
  try {
    message = strictUtf8.decode(plain.subarray(BLOCK + 4, end))
    sealedFor = strictUtf8.decode(plain.subarray(end))
  } catch {
    throw new DecryptError('Encrypt is not UTF-8')
  }
  if (sealedFor !== appId) throw new DecryptError('Encrypt was sealed for another AppID')
  return message
}

// Uint8Array.fromBase64 and toBase64 are native in workerd; Node 22 (the bench, the simulator)
// lacks them, and gets atob and btoa instead.
const nativeBase64 = Uint8Array as unknown as {
  fromBase64?: (base64: string) => Uint8Array<ArrayBuffer>
}

function base64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  try {
    if (nativeBase64.fromBase64) return nativeBase64.fromBase64(base64)
    const binary = atob(base64)
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return bytes
  } catch {
    throw new DecryptError('Encrypt is not base64')
  }
}

function bytesToBase64(bytes: Uint8Array): string {
  const native = (bytes as Uint8Array & { toBase64?: () => string }).toBase64
  if (native) return native.call(bytes)
  let binary = ''
  const chunk = 0x8000
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk))
  }
  return btoa(binary)
}
