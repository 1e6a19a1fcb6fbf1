/**
 * The full-network release test (全网发布检测), answered as WeChat runs it, with no code of the
 * operator's: pushes to one of its five groups' accounts never reach the bot and are kept
 * nowhere. An event is answered with the text `<Event>from_callback`; the text
 * `TESTCOMPONENT_MSG_TYPE_TEXT` with `TESTCOMPONENT_MSG_TYPE_TEXT_callback`; the text
 * `QUERY_AUTH_CODE:<code>` with an empty body at once (回复空字符串), then the code is traded
 * (`api_query_auth`, once: the `authorized` event brought the same code) and the sender is sent
 * `<code>_from_api` as a customer-service message with that authorizer's token.
 *
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/operation/thirdparty/releases_instructions.html
 */

import type { AccountSettings, PlatformSettings } from '../config.ts'
import type { Env } from '../env.ts'
import { errorName, logEvent, logProblem } from '../log.ts'
import { talkerFor } from '../talk/talk.ts'
import { message } from '../wechat/api.ts'
import { sealReply } from '../wechat/envelope.ts'
import { QUERY_AUTH_CODE_PREFIX, RELEASE_TEST_TEXT } from '../wechat/platform.ts'
import type { Push } from '../wechat/push.ts'
import { isMessage } from '../wechat/push.ts'
import { NO_REPLY, renderReply, reply } from '../wechat/reply.ts'
import { platformOf } from './platform.ts'

/** A release-test push, as opened: the push, and its raw Event (the typed push renames it). */
export interface ReleaseTestPush {
  readonly push: Push
  readonly event: string | undefined
}

/**
 * The answer to a release-test push, sealed for the platform as every answer to it is: the
 * QUERY_AUTH_CODE case answers an empty body at once and hands its work to `waitUntil`.
 *
 * @example
 * const body = await answerReleaseTest(opened, account, platform, c.env, (p) => c.executionCtx.waitUntil(p))
 */
export async function answerReleaseTest(
  { push, event }: ReleaseTestPush,
  account: AccountSettings,
  platform: PlatformSettings,
  env: Env,
  waitUntil: (work: Promise<void>) => void,
): Promise<string> {
  const { envelope } = platform
  const text = (content: string) => {
    const address = {
      toUser: push.fromUserName,
      fromUser: push.toUserName,
      createTime: Math.floor(Date.now() / 1000),
    }
    const xml = renderReply(reply.text(content), address)
    return envelope.aes ? sealReply(xml, envelope.token, envelope.aes, Date.now() / 1000) : xml
  }
  if (push.kind === 'text' && push.content === RELEASE_TEST_TEXT) {
    logEvent('release_test', { case: 'text' })
    return text(`${RELEASE_TEST_TEXT}_callback`)
  }
  if (push.kind === 'text' && push.content.startsWith(QUERY_AUTH_CODE_PREFIX)) {
    logEvent('release_test', { case: 'api' })
    const code = push.content.slice(QUERY_AUTH_CODE_PREFIX.length).trim()
    waitUntil(answerByApi(code, push.fromUserName, account, platform, env))
    return ''
  }
  if (!isMessage(push) && event) {
    logEvent('release_test', { case: 'event' })
    return text(`${event}from_callback`)
  }
  logEvent('release_test', { case: 'other', kind: push.kind })
  return NO_REPLY
}

/** The code's trade (once), then `<code>_from_api` to the sender with the authorizer's token. */
async function answerByApi(
  code: string,
  openid: string,
  account: AccountSettings,
  platform: PlatformSettings,
  env: Env,
): Promise<void> {
  try {
    const object = platformOf(env, platform)
    const traded = await object.trade(code, {
      via: 'event',
      createTime: Math.floor(Date.now() / 1000),
    })
    if (!traded.ok) {
      logProblem('release_test_failed', { case: 'api', failure: traded.failure })
      return
    }
    // WeChat's retry of the same push sends nothing twice.
    if (!(await object.answerOnce(code))) return
    await talkerFor(env, account)?.send(openid, message.text(`${code}_from_api`))
  } catch (error) {
    logProblem('release_test_failed', { case: 'api', error: errorName(error) })
  }
}
