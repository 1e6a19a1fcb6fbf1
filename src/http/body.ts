/**
 * Reading a push's body, bounded: after its signature holds, never past the limit, and telling
 * a client that went away from a body that is not UTF-8.
 */

import { errorName, logProblem } from '../log.ts'
import { MalformedPushError, WechatError } from '../wechat/errors.ts'

/** WeChat's pushes are small; anything larger is refused before it is read whole. */
export const MAX_BODY_BYTES = 64 * 1024

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

function tooLarge(maxBytes: number): WechatError {
  return new WechatError(413, `body over ${maxBytes / 1024} KiB`)
}

/**
 * Refuses a body whose declared Content-Length is over the limit, from the header alone:
 * nothing is read, so it can be answered before anything else is looked at.
 */
export function refuseDeclaredOver(request: Request, maxBytes: number): void {
  if (Number(request.headers.get('Content-Length')) > maxBytes) throw tooLarge(maxBytes)
}

/**
 * The body as UTF-8 text, at most `maxBytes` of it. Throws a 413 {@link WechatError} past the
 * limit (declared or streamed), and a 400 for a body cut short or not UTF-8.
 *
 * @example
 * const body = await readBoundedText(c.req.raw, 64 * 1024)
 */
export async function readBoundedText(request: Request, maxBytes: number): Promise<string> {
  refuseDeclaredOver(request, maxBytes)
  if (!request.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = request.body.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxBytes) {
        await reader.cancel().catch(() => {})
        throw tooLarge(maxBytes)
      }
      chunks.push(value)
    }
  } catch (error) {
    if (error instanceof WechatError) throw error
    logProblem('body_unreadable', {
      reason: 'the client went away mid-body',
      error: errorName(error),
    })
    throw new MalformedPushError('body could not be read')
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  try {
    return strictUtf8.decode(bytes)
  } catch {
    throw new MalformedPushError('body is not UTF-8')
  }
}

/**
 * The body as a JSON object, at most `maxBytes`: anything else (not JSON, `null`, an array, a
 * number) is a 400 naming what was expected, never a 500.
 *
 * @example
 * const input = await readJsonObject(c.req.raw, 1024, '{"scene": "…"}')
 */
export async function readJsonObject(
  request: Request,
  maxBytes: number,
  expected: string,
): Promise<Record<string, unknown>> {
  let value: unknown
  try {
    value = JSON.parse(await readBoundedText(request, maxBytes))
  } catch (error) {
    if (error instanceof WechatError && error.status === 413) throw error
    throw new MalformedPushError(`the body is not JSON: expected ${expected}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedPushError(`the body must be a JSON object: ${expected}`)
  }
  return value as Record<string, unknown>
}
