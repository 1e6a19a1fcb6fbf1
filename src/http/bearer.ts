/**
 * Bearer secrets (the admin token, the login secret), compared so that a guess's length shows in
 * no timing.
 */

import { constantTimeEqual } from '../wechat/signature.ts'

const encoder = new TextEncoder()

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', encoder.encode(text))
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('')
}

/**
 * True when the request carries `Authorization: Bearer <secret>` (the admin token, the login
 * secret). Both sides are hashed first, so
 * the comparison takes the same time whatever the length of a guess: a plain comparison that
 * stops at a length mismatch tells an attacker how long the token is.
 */
export async function carriesBearer(
  authorization: string | undefined,
  secret: string,
): Promise<boolean> {
  const presented = /^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? ''
  const [a, b] = await Promise.all([presented, secret].map(sha256Hex))
  return constantTimeEqual(a ?? '', b ?? '')
}
