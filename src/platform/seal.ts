/**
 * Authorizers' refresh tokens at rest: sealed with AES-256-GCM under a key derived (HKDF-SHA-256)
 * from the platform's AppSecret, a secret that never leaves the Worker's settings, and bound to
 * the authorizer's AppID (a token sealed for one account does not open as another's). What is
 * stored is never the token; a refresh token is opened only to refresh with it. WebCrypto.
 */

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const keys = new Map<string, Promise<CryptoKey>>()

function keyFor(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret)
  if (!key) {
    key = crypto.subtle
      .importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey'])
      .then((material) =>
        crypto.subtle.deriveKey(
          {
            name: 'HKDF',
            hash: 'SHA-256',
            salt: encoder.encode('wechat-edge'),
            info: encoder.encode('authorizer refresh tokens'),
          },
          material,
          { name: 'AES-GCM', length: 256 },
          false,
          ['encrypt', 'decrypt'],
        ),
      )
    keys.set(secret, key)
  }
  return key
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0))
}

/**
 * @example
 * const sealed = await sealFor(appSecret, authorizerAppId, refreshToken)
 */
export async function sealFor(secret: string, appId: string, plain: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(appId) },
    await keyFor(secret),
    encoder.encode(plain),
  )
  const out = new Uint8Array(12 + sealed.byteLength)
  out.set(iv)
  out.set(new Uint8Array(sealed), 12)
  return toBase64(out)
}

/** What {@link sealFor} sealed for this AppID, or null (another key, another AppID, tampered). */
export async function openFor(
  secret: string,
  appId: string,
  sealed: string,
): Promise<string | null> {
  try {
    const bytes = fromBase64(sealed)
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: encoder.encode(appId) },
      await keyFor(secret),
      bytes.subarray(12),
    )
    return decoder.decode(plain)
  } catch {
    return null
  }
}
