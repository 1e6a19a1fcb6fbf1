/**
 * Parametric QR codes with a string scene: the request WeChat takes, its answer, and the image
 * URL of a ticket. Pure: the caller supplies the call and the token.
 *
 * https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
 * (`QR_STR_SCENE` lives `expire_seconds`, at most 2,592,000 = 30 days; `QR_LIMIT_STR_SCENE` is
 * permanent, and an account may make at most 100,000 of those; `scene_str` is 1 to 64 characters.)
 */

import { type ApiCall, requestJson, WechatApiError } from './api.ts'

export const QR_LIMITS = {
  minExpireSeconds: 60,
  maxExpireSeconds: 2_592_000,
  sceneLength: 64,
  permanentCodes: 100_000,
} as const

/**
 * Scenes this project makes: 1 to 64 letters, digits, `_`, `-` or `.` (WeChat takes any
 * characters; these keep a scene usable in a URL path and a log line).
 */
export const SCENE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

/** Scenes of scan-to-log-in codes: never a campaign's. */
export const LOGIN_SCENE_PREFIX = 'login_'

export interface QrCodeRequest {
  readonly scene: string
  /** Temporary for this long; absent: permanent. */
  readonly expireSeconds?: number
}

export interface QrCode {
  readonly ticket: string
  /** What the code encodes (`http://weixin.qq.com/q/…`). */
  readonly url: string
  /** Null for a permanent code. */
  readonly expireSeconds: number | null
}

/** Why WeChat would refuse this request; null when it would take it. */
export function qrCodeProblem(request: QrCodeRequest): string | null {
  if (!SCENE_PATTERN.test(request.scene)) {
    return `scene is 1 to ${QR_LIMITS.sceneLength} letters, digits, _ - or .`
  }
  const seconds = request.expireSeconds
  if (
    seconds !== undefined &&
    (!Number.isInteger(seconds) ||
      seconds < QR_LIMITS.minExpireSeconds ||
      seconds > QR_LIMITS.maxExpireSeconds)
  ) {
    return `expireSeconds is a whole number from ${QR_LIMITS.minExpireSeconds} to ${QR_LIMITS.maxExpireSeconds}`
  }
  return null
}

/** `cgi-bin/qrcode/create` with a string scene. */
export async function createQrCode(
  call: ApiCall,
  accessToken: string,
  request: QrCodeRequest,
): Promise<QrCode> {
  const temporary = request.expireSeconds !== undefined
  const answer = await requestJson<{ ticket?: unknown; url?: unknown; expire_seconds?: unknown }>(
    call,
    'cgi-bin/qrcode/create',
    {
      body: {
        ...(temporary && { expire_seconds: request.expireSeconds }),
        action_name: temporary ? 'QR_STR_SCENE' : 'QR_LIMIT_STR_SCENE',
        action_info: { scene: { scene_str: request.scene } },
      },
    },
    accessToken,
  )
  if (typeof answer.ticket !== 'string' || typeof answer.url !== 'string') {
    throw new WechatApiError('busy', null, 'the QR code answer lacks ticket or url')
  }
  return {
    ticket: answer.ticket,
    url: answer.url,
    expireSeconds: typeof answer.expire_seconds === 'number' ? answer.expire_seconds : null,
  }
}

/**
 * The image of a ticket: `showqrcode` on mp.weixin.qq.com for WeChat's API, or the same path of
 * the API base for a stand-in of it.
 */
export function qrImageUrl(apiBase: string, ticket: string): string {
  const base = new URL(apiBase)
  const host = base.hostname === 'api.weixin.qq.com' ? 'https://mp.weixin.qq.com/' : base.toString()
  const url = new URL('cgi-bin/showqrcode', host)
  url.searchParams.set('ticket', ticket)
  return url.toString()
}
