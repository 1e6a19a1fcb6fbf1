/** The env account's WeChat client as if its AppID were `app`: a token object of the test's own. */

import { env } from 'cloudflare:workers'
import { readConfig } from '../../src/config.ts'
import type { Env } from '../../src/env.ts'
import { talkerFor, type WechatClient } from '../../src/talk/talk.ts'

export function talkerWithAppId(app: string): WechatClient {
  const withApp = { ...env, WECHAT_APPID: app } as Env
  const talker = talkerFor(withApp, readConfig(withApp).env)
  if (!talker) throw new Error('talking back is off')
  return talker
}
