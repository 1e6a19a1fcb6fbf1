/**
 * The third security review: the local fake's open door, a DOCTYPE hidden between comments,
 * msg_signature before the XML parser, what GET / tells strangers, warnings an operator needs,
 * a wrong optional setting that must not take the callback down, the admin token compared blind
 * to length, the console framed by nobody.
 *
 * Findings whose tests live beside the code they hold (numbered as in the review):
 * 3. the dev server's port: test/e2e/dev.e2e.test.ts;
 * 5. dedup keys keyed with the Token: test/wechat/push.test.ts ("is keyed");
 * 7. a read of a user never seen creates no storage: test/admin.test.ts; a job after a purge
 *    writes no claim: test/exactly-once/purge-owner.test.ts;
 * 8. received keys bounded on write: test/user-state.test.ts ("stays bounded on write");
 *    replays of a deferred push queue one job: test/talk-back.test.ts ("and only then");
 * 9. forced refreshes 30 s apart, 5 kept for the operator: test/talk-back.test.ts.
 */

import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { readConfig } from '../../src/config.ts'
import { forgePushXml, signPush } from '../../src/debug/forge.ts'
import type { Env } from '../../src/env.ts'
import { declaresEntities } from '../../src/wechat/xml.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { account, exchange, openid, postSigned, signedRequest } from '../helpers/wechat.ts'
import { fetchWith } from '../helpers/worker.ts'

describe('1. the local fake of WeChat’s API is no open door', () => {
  const fake = (path: string, init: RequestInit = {}) =>
    fetchWith(new Request(`https://edge.test/debug/wechat-api/${path}`, init), {
      DEBUG_CONSOLE: 'true',
    })

  it('keeps its records and controls behind the admin token', async () => {
    expect((await fake('fake/sent?touser=oSomeone')).status).toBe(401)
    expect((await fake('fake/token-service?appid=wx0123456789abcdef')).status).toBe(401)
    const control = { method: 'POST', body: JSON.stringify({ appid: 'wx0123456789abcdef' }) }
    expect((await fake('fake/expire', control)).status).toBe(401)
    expect((await fake('fake/sent?touser=oSomeone', { headers: ADMIN_HEADERS })).status).toBe(200)
  })

  it('refuses another site’s page, even with a text/plain POST that needs no preflight', async () => {
    const response = await fake('fake/fail', {
      method: 'POST',
      headers: { ...ADMIN_HEADERS, 'Content-Type': 'text/plain', 'Sec-Fetch-Site': 'cross-site' },
      body: JSON.stringify({ path: 'send', for: 'oSomeone', code: -1 }),
    })
    expect(response.status).toBe(403)
  })

  it('refuses a body over 64 KiB before keeping any of it', async () => {
    const response = await fake('cgi-bin/message/custom/send?access_token=x', {
      method: 'POST',
      body: 'x'.repeat(65 * 1024),
    })
    expect(response.status).toBe(413)
  })

  it('keeps WeChat’s own access_token check on the API paths', async () => {
    const response = await fake('cgi-bin/message/custom/send?access_token=not-issued', {
      method: 'POST',
      body: JSON.stringify({ touser: 'oSomeone', msgtype: 'text', text: { content: 'hi' } }),
    })
    expect(await response.json()).toMatchObject({ errcode: 40001 })
  })
})

describe('2. a DOCTYPE is found as an XML tokenizer finds it', () => {
  const hidden = '<!-- <![CDATA[ --><!DOCTYPE x [<!ENTITY e "boom">]><!-- ]]> -->'

  it('refuses a DOCTYPE between two comments that fake a CDATA section', async () => {
    const response = await postSigned(`${hidden}<xml><ToUserName>a</ToUserName></xml>`)
    expect(response.status).toBe(400)
    expect(declaresEntities(hidden)).toBe(true)
  })

  it('refuses markup left open, where a declaration could hide', () => {
    expect(declaresEntities('<xml><!-- <!DOCTYPE x>')).toBe(true)
    expect(declaresEntities('<xml><![CDATA[ <!ENTITY x>')).toBe(true)
  })

  it('still reads <!DOCTYPE in text, in a comment or in a processing instruction as text', () => {
    expect(declaresEntities('<xml><C><![CDATA[<!DOCTYPE html>]]></C></xml>')).toBe(false)
    expect(declaresEntities('<xml><!-- <!DOCTYPE html> --></xml>')).toBe(false)
    expect(declaresEntities('<?xml version="1.0"?><?pi <!ENTITY x> ?><xml/>')).toBe(false)
  })

  it('checks msg_signature before the outer body meets the XML parser', async () => {
    const { query, body } = await signPush(forgePushXml('text'), account, 'safe')
    const tampered = query.replace(/msg_signature=[0-9a-f]+/, `msg_signature=${'0'.repeat(40)}`)
    const response = await exports.default.fetch(`https://edge.test/wechat?${tampered}`, {
      method: 'POST',
      // A declaration the parser must never see unless the envelope is WeChat's.
      body: `<!DOCTYPE x [<!ENTITY e "boom">]>${body}`,
    })
    expect(response.status).toBe(401)
  })
})

describe('4. GET / and wrong optional settings', () => {
  it('keeps the callback up when WECHAT_TOKEN_URL is wrong, and says so to the operator', async () => {
    const wrong = { WECHAT_TOKEN_URL: 'http://tokens.example.com/' } as Partial<Env>
    const push = await fetchWith(
      await signedRequest(forgePushXml('click', { openid: openid('token-url') })),
      wrong,
    )
    expect(push.status).toBe(200)
    const health = await fetchWith(
      new Request('https://edge.test/', { headers: ADMIN_HEADERS }),
      wrong,
    )
    const body = await health.json<{ ready: boolean; warnings: string[]; talkBack: string }>()
    expect(body.ready).toBe(true)
    expect(body.warnings).toContain(
      'WECHAT_TOKEN_URL is ignored: it must be https (http only on this machine)',
    )
    expect(body.talkBack).toBe('stable_token')
  })

  it('accepts a token service over http on this machine only', () => {
    const base = { ...readConfigEnv(), WECHAT_TOKEN_URL: 'http://127.0.0.1:8799/token' }
    expect(readConfig(base as Env).env.talkBack?.tokenUrl).toBe('http://127.0.0.1:8799/token')
  })
})

describe('6. warnings the operator needs', () => {
  it('names the public sample ADMIN_TOKEN', () => {
    const config = readConfig({ ...readConfigEnv(), ADMIN_TOKEN: 'local-admin-token' } as Env)
    expect(config.warnings).toContain(
      'ADMIN_TOKEN is the public sample value: anyone can use the admin API',
    )
  })

  it('names an API base that sends the AppSecret in clear', () => {
    const config = readConfig({
      ...readConfigEnv(),
      WECHAT_API_BASE: 'http://api.example.com/',
    } as Env)
    expect(config.warnings).toContain(
      'WECHAT_API_BASE is not WeChat’s API and not https: the AppSecret and access tokens go out in clear',
    )
  })

  it('says nothing of a production configuration', () => {
    const config = readConfig({
      WECHAT_TOKEN: '3f9c2a7e1b8d4c6f0a5e9b2d7c1f4a8e',
      WECHAT_APPID: account.appId,
      WECHAT_ENCODING_AES_KEY: account.encodingAesKey,
      ADMIN_TOKEN: '9d1e7b3c5a0f42e8b6c1d9a7e3f5b0c2',
      REQUIRE_ENCRYPTION: 'auto',
      WECHAT_API_BASE: 'https://api.weixin.qq.com/',
    } as unknown as Env)
    expect(config.warnings).toEqual([])
    expect(config.problems).toEqual([])
  })
})

describe('7. smaller findings', () => {
  it('refuses admin tokens of every length but the right one, and takes the right one', async () => {
    for (const presented of ['', 'x', 'test-admin-toke', 'test-admin-tokenx', 'a'.repeat(200)]) {
      const response = await exports.default.fetch('https://edge.test/admin/dead-letters', {
        headers: { Authorization: `Bearer ${presented}` },
      })
      expect(response.status).toBe(401)
    }
    const right = await exports.default.fetch('https://edge.test/admin/dead-letters', {
      headers: ADMIN_HEADERS,
    })
    expect(right.status).toBe(200)
  })

  it('serves the console so that no other site can frame it or load into it', async () => {
    const page = await fetchWith(new Request('https://edge.test/debug'), { DEBUG_CONSOLE: 'true' })
    expect(page.status).toBe(200)
    const policy = page.headers.get('Content-Security-Policy') ?? ''
    expect(policy).toContain("frame-ancestors 'none'")
    expect(policy).toContain("default-src 'none'")
    expect(page.headers.get('X-Frame-Options')).toBe('DENY')
  })

  it('still answers a push in every mode with the hardened envelope reader', async () => {
    for (const mode of ['compatible', 'safe'] as const) {
      const answer = await exchange(forgePushXml('text', { openid: openid(`r3-${mode}`) }), mode)
      expect(answer.status).toBe(200)
      expect(answer.signatureValid).toBe(true)
    }
  })
})

/** The test bindings' own values, as an Env to vary one setting of. */
function readConfigEnv(): Record<string, string> {
  return {
    WECHAT_TOKEN: account.token,
    WECHAT_APPID: account.appId,
    WECHAT_ENCODING_AES_KEY: account.encodingAesKey,
  }
}
