/**
 * Typed failures of the request path. Each carries the HTTP status it maps to and a short,
 * safe message: never the raw input, a secret or a stack.
 */

/** The statuses something on the request path throws; 405 is answered directly. */
export type HttpFailureStatus = 400 | 401 | 404 | 413 | 503

export class WechatError extends Error {
  readonly status: HttpFailureStatus

  constructor(status: HttpFailureStatus, message: string) {
    super(message)
    this.name = 'WechatError'
    this.status = status
  }
}

/** A signature, msg_signature or timestamp that does not hold: 401. */
export class SignatureError extends WechatError {
  constructor(message: string) {
    super(401, message)
    this.name = 'SignatureError'
  }
}

/** A body that is not a well-formed push: 400. */
export class MalformedPushError extends WechatError {
  constructor(message: string) {
    super(400, message)
    this.name = 'MalformedPushError'
  }
}

/** A safe-mode envelope that does not decrypt to a message for this account: 400. */
export class DecryptError extends WechatError {
  constructor(message: string) {
    super(400, message)
    this.name = 'DecryptError'
  }
}
