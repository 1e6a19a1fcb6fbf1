/**
 * WEB_ORIGINS as src/web/settings.ts reads it: origins parsed and compared whole, https only
 * (http on this machine), and the web side off, with a reason, when a setting is missing.
 */

import { describe, expect, it } from 'vitest'
import { allowedOrigin, parseOrigins, webConfig } from '../../src/web/settings.ts'

/** The env account's names for the web side's settings, as the config names them. */
const ENV_WEB_NAMES = {
  origins: 'WEB_ORIGINS',
  secret: 'WEB_SECRET',
  appId: 'WECHAT_APPID',
  appSecret: 'WECHAT_APPSECRET',
}

const ACCOUNT = { appId: 'wx2c2769f8efd9abc2', appSecret: 'secret' }

describe('WEB_ORIGINS', () => {
  it('takes origins, normalized, and refuses anything with more than an origin', () => {
    expect(
      parseOrigins(
        ' https://Shop.Example.com , https://shop.example.com:443/,http://localhost:8787,https://a.test:8443',
      ),
    ).toEqual({
      origins: ['https://shop.example.com', 'http://localhost:8787', 'https://a.test:8443'],
      refused: [],
    })
    const refused = [
      'http://shop.example.com',
      'https://shop.example.com/path',
      'https://shop.example.com?x=1',
      'https://user@shop.example.com',
      'shop.example.com',
      'ftp://shop.example.com',
      '*',
    ]
    expect(parseOrigins(refused.join(','))).toEqual({ origins: [], refused })
  })

  it('matches a URL by its whole origin, never a prefix of it', () => {
    const origins = ['https://shop.example.com']
    expect(allowedOrigin('https://shop.example.com/p?q=1#f', origins)).toBe(origins[0])
    expect(allowedOrigin('https://SHOP.example.com:443/p', origins)).toBe(origins[0])
    for (const url of [
      'https://shop.example.com.evil.test/',
      'https://shop.example.com:8443/',
      'http://shop.example.com/',
      'https://evil.test/https://shop.example.com',
      'https://shop.example.com@evil.test/',
      'https://x:y@shop.example.com/',
      'not a url',
    ]) {
      expect(allowedOrigin(url, origins)).toBeNull()
    }
  })

  it('turns the web side off, saying why, and web authorization off without an AppSecret', () => {
    const warnings: string[] = []
    expect(webConfig(null, null, ACCOUNT, warnings, ENV_WEB_NAMES)).toEqual({
      on: false,
      why: 'WEB_ORIGINS and WEB_SECRET are not set',
    })
    // Neither is set: not a mistake, no warning.
    expect(warnings).toEqual([])
    expect(webConfig('https://a.test', null, ACCOUNT, warnings, ENV_WEB_NAMES)).toMatchObject({
      on: false,
    })
    expect(
      webConfig('https://a.test', 's', { ...ACCOUNT, appId: null }, [], ENV_WEB_NAMES),
    ).toEqual({
      on: false,
      why: 'no WECHAT_APPID',
    })
    expect(
      webConfig('https://a.test', 's', { ...ACCOUNT, appSecret: null }, [], ENV_WEB_NAMES),
    ).toMatchObject({ on: true, oauthOff: expect.stringContaining('WECHAT_APPSECRET') })
  })
})
