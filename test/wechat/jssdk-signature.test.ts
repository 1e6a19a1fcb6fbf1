/**
 * The JS-SDK signature (src/wechat/jssdk.ts) against WeChat's own example, 附录1 of
 * https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html.
 */

import { describe, expect, it } from 'vitest'
import { jssdkConfig, jssdkSignature, randomNonce, signedPageUrl } from '../../src/wechat/jssdk.ts'

/** WeChat's documented example, as its page gives it. */
const EXAMPLE = {
  ticket: 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg',
  nonceStr: 'Wm3WZYTPz0wzccnW',
  timestamp: 1414587457,
  url: 'http://mp.weixin.qq.com?params=value',
}
const EXAMPLE_SIGNATURE = '0f9de62fce790f9a083d5c99e95740ceb90c27ed'

describe('the JS-SDK signature', () => {
  it('is WeChat’s documented example', async () => {
    expect(await jssdkSignature(EXAMPLE)).toBe(EXAMPLE_SIGNATURE)
  })

  it('signs the URL without its fragment, and otherwise byte for byte', async () => {
    expect(await jssdkSignature({ ...EXAMPLE, url: `${EXAMPLE.url}#section/2?x=1` })).toBe(
      EXAMPLE_SIGNATURE,
    )
    // Re-serialized, the URL would gain a "/" before its query and sign differently.
    expect(new URL(EXAMPLE.url).toString()).toBe('http://mp.weixin.qq.com/?params=value')
    expect(
      await jssdkSignature({ ...EXAMPLE, url: 'http://mp.weixin.qq.com/?params=value' }),
    ).not.toBe(EXAMPLE_SIGNATURE)
    expect(signedPageUrl('https://a.example/p?q=%20#x#y')).toBe('https://a.example/p?q=%20')
    expect(signedPageUrl('https://a.example/p')).toBe('https://a.example/p')
  })

  it('changes with every field', async () => {
    const variants = [
      { ...EXAMPLE, ticket: `${EXAMPLE.ticket}x` },
      { ...EXAMPLE, nonceStr: 'Wm3WZYTPz0wzccnX' },
      { ...EXAMPLE, timestamp: EXAMPLE.timestamp + 1 },
      { ...EXAMPLE, url: `${EXAMPLE.url}&more` },
    ]
    for (const variant of variants) {
      expect(await jssdkSignature(variant)).not.toBe(EXAMPLE_SIGNATURE)
    }
  })
})

describe('a page’s wx.config', () => {
  it('carries the AppID, the time in seconds, a fresh nonce and the signature over them', async () => {
    const config = await jssdkConfig('wxAppId', EXAMPLE.ticket, EXAMPLE.url, 1414587457_999)
    expect(config).toMatchObject({ appId: 'wxAppId', timestamp: 1414587457 })
    expect(config.nonceStr).toMatch(/^[A-Za-z0-9]{16}$/)
    expect(config.signature).toBe(
      await jssdkSignature({ ...EXAMPLE, nonceStr: config.nonceStr, timestamp: 1414587457 }),
    )
    expect(randomNonce()).not.toBe(randomNonce())
  })
})
