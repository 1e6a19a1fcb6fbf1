import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { FORGE_MODES } from '../src/debug/forge.ts'
import { ADMIN_HEADERS } from './helpers/admin.ts'
import { eventually } from './helpers/eventually.ts'
import { openid } from './helpers/wechat.ts'
import { fetchWith } from './helpers/worker.ts'

const ON = { DEBUG_CONSOLE: 'true' }
const LOCAL = 'http://localhost:8787'
const DEPLOYED = 'https://wechat-edge.example.workers.dev'

function send(origin: string, body: object, headers: Record<string, string> = ADMIN_HEADERS) {
  return fetchWith(
    new Request(`${origin}/debug/api/send`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    }),
    ON,
  )
}

/** A GET of the console's API, with the admin token unless other headers are given. */
function api(path: string, headers: Record<string, string> = ADMIN_HEADERS) {
  return fetchWith(new Request(`${LOCAL}/debug/api/${path}`, { headers }), ON)
}

describe('GET /debug', () => {
  it('does not exist unless DEBUG_CONSOLE is true', async () => {
    expect((await exports.default.fetch(`${LOCAL}/debug`)).status).toBe(404)
    expect((await exports.default.fetch(`${LOCAL}/debug/api/meta`)).status).toBe(404)
  })

  it('serves one self-contained page: no CDN, no external font', async () => {
    const response = await fetchWith(new Request(`${LOCAL}/debug`), ON)
    expect(response.status).toBe(200)
    const html = await response.text()
    expect(html).toContain('debugging console')
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=["']https?:/)
    expect(html).not.toMatch(/@import|url\(["']?https?:/)
  })
})

describe('GET /favicon.ico', () => {
  it('is the debugging tools’ icon while the console is on, and not found otherwise', async () => {
    const icon = await fetchWith(new Request(`${LOCAL}/favicon.ico`), ON)
    expect(icon.status).toBe(200)
    expect(icon.headers.get('Content-Type')).toBe('image/svg+xml')
    expect(await icon.text()).toMatch(/^<svg /)
    expect((await exports.default.fetch(`${LOCAL}/favicon.ico`)).status).toBe(404)
  })
})

describe('the console API', () => {
  it('forges, signs and sends any kind through /wechat in each mode, and reads the reply', async () => {
    for (const mode of FORGE_MODES) {
      const user = openid(`console-${mode}`)
      const response = await send(LOCAL, {
        kind: 'click',
        mode,
        fields: { openid: user, menuKey: 'MENU_1' },
      })
      expect(response.status).toBe(200)
      const result = await response.json<{
        request: { xml: string; body: string }
        response: { status: number }
        reply: { encrypted: boolean; signatureValid: boolean; message: { Content: string } }
      }>()
      expect(result.response.status).toBe(200)
      expect(result.request.xml).toContain('<Event><![CDATA[CLICK]]></Event>')
      expect(result.request.body.includes('<Encrypt>')).toBe(mode !== 'plaintext')
      expect(result.reply).toMatchObject({
        encrypted: mode !== 'plaintext',
        signatureValid: true,
        message: { Content: 'You clicked menu MENU_1.' },
      })
      await eventually(async () => {
        const state = await api(`users/${user}`)
        expect(await state.json()).toMatchObject({
          state: { lastMenuKey: 'MENU_1', eventCount: 1 },
          recent: [{ kind: 'click' }],
        })
      })
    }
  })

  it.each([
    [
      'subscribe_msg_popup_event',
      { templateIds: 'T1, T2' },
      '<TemplateId><![CDATA[T2]]></TemplateId>',
    ],
    ['subscribe_msg_change_event', { templateIds: 'T3' }, '<SubscribeMsgChangeEvent><List>'],
    ['subscribe_msg_sent_event', {}, '<ErrorCode>0</ErrorCode>'],
    ['publish_job_finish', {}, '<article_detail><count>1</count>'],
    ['kf_create_session', { kfAccount: 'kf1@gh' }, '<KfAccount><![CDATA[kf1@gh]]></KfAccount>'],
    ['kf_close_session', {}, '<KfAccount>'],
    ['kf_switch_session', { kfAccount: 'kf2@gh' }, '<ToKfAccount><![CDATA[kf2@gh]]></ToKfAccount>'],
    ['user_info_modified', {}, '<OpenID>'],
    [
      'user_authorization_revoke',
      { revokeInfo: '205' },
      '<RevokeInfo><![CDATA[205]]></RevokeInfo>',
    ],
    ['user_authorization_cancellation', {}, '<OpenID>'],
    ['unknown', { event: 'my_new_event' }, '<Event><![CDATA[my_new_event]]></Event>'],
  ])('round-trips a %s push with its fields in every mode', async (kind, fields, inXml) => {
    for (const mode of FORGE_MODES) {
      const response = await send(LOCAL, {
        kind,
        mode,
        fields: { openid: openid(kind), ...fields },
      })
      expect(response.status).toBe(200)
      const result = await response.json<{
        request: { xml: string }
        response: { status: number; body: string }
        reply: { encrypted: boolean; plaintext: string }
      }>()
      expect(result.request.xml).toContain(inXml)
      expect(result.response).toMatchObject({ status: 200, body: 'success' })
    }
  })

  it('sends a retry byte for byte, and the dedup answers it alike', async () => {
    const user = openid('console-retry')
    const first = await (
      await send(LOCAL, { kind: 'text', mode: 'safe', fields: { openid: user, content: 'once' } })
    ).json<{ request: { xml: string }; reply: { plaintext: string } }>()
    const again = await (
      await send(LOCAL, { kind: 'text', mode: 'safe', xml: first.request.xml })
    ).json<{ reply: { plaintext: string } }>()
    expect(again.reply.plaintext).toBe(first.reply.plaintext)
  })

  it('scans a code by its ticket: the push sent, and the one returned, carry the code’s scene', async () => {
    const scene = `console-${crypto.randomUUID().slice(0, 8)}`
    const made = await fetchWith(
      new Request(`${LOCAL}/admin/qrcodes`, {
        method: 'POST',
        headers: ADMIN_HEADERS,
        body: JSON.stringify({ scene, expireSeconds: 600 }),
      }),
      ON,
    )
    const { ticket } = await made.json<{ ticket: string }>()
    // The form's scene field says otherwise: the ticket wins, as WeChat knows it.
    const scanned = await send(LOCAL, {
      kind: 'scan',
      mode: 'safe',
      fields: { openid: openid('console-scan'), scene: 'spring', ticket },
    })
    const result = await scanned.json<{
      request: { push: { EventKey: string; Ticket: string } }
      reply: { message: { Content: string } }
    }>()
    expect(result.request.push).toMatchObject({ EventKey: scene, Ticket: ticket })
    expect(result.reply.message.Content).toBe(`You scanned QR scene ${scene}.`)
    const unknown = await send(LOCAL, { kind: 'scan', mode: 'safe', fields: { ticket: 'gQnone' } })
    expect(unknown.status).toBe(400)
    expect(await unknown.text()).toContain('forgets its codes when the dev server restarts')
  })

  it('refuses an unknown kind or mode with 400', async () => {
    expect((await send(LOCAL, { kind: 'nope', mode: 'safe' })).status).toBe(400)
    expect((await send(LOCAL, { kind: 'text', mode: 'nope' })).status).toBe(400)
  })

  it('asks for the admin token always: a Host header of localhost proves nothing', async () => {
    for (const origin of [LOCAL, DEPLOYED, 'http://127.0.0.1:8787']) {
      expect((await send(origin, { kind: 'text', mode: 'plaintext' }, {})).status).toBe(401)
    }
    const spoofed = await fetchWith(
      new Request(`${DEPLOYED}/debug/api/send`, {
        method: 'POST',
        headers: { Host: 'localhost', 'X-Forwarded-Host': 'localhost' },
        body: JSON.stringify({ kind: 'text', mode: 'plaintext' }),
      }),
      ON,
    )
    expect(spoofed.status).toBe(401)
    expect((await api('meta', {})).status).toBe(401)
    expect(
      (
        await send(DEPLOYED, {
          kind: 'text',
          mode: 'plaintext',
          fields: { openid: openid('remote') },
        })
      ).status,
    ).toBe(200)
    const noAdmin = await fetchWith(new Request(`${LOCAL}/debug/api/meta`), {
      ...ON,
      ADMIN_TOKEN: '',
    })
    expect(noAdmin.status).toBe(403)
  })

  it('refuses what another site’s page sends, even a simple text/plain POST', async () => {
    const crossSite = (headers: Record<string, string>) =>
      fetchWith(
        new Request(`${LOCAL}/debug/api/send`, {
          method: 'POST',
          headers: { 'Content-Type': 'text/plain', ...ADMIN_HEADERS, ...headers },
          body: JSON.stringify({ kind: 'text', mode: 'plaintext' }),
        }),
        ON,
      )
    expect((await crossSite({ Origin: 'https://evil.example' })).status).toBe(403)
    expect((await crossSite({ 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403)
    expect((await crossSite({ 'Sec-Fetch-Site': 'same-site' })).status).toBe(403)
    expect((await crossSite({ Origin: LOCAL, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200)
  })

  it('refuses an API body over 64 KiB', async () => {
    const big = await send(LOCAL, {
      kind: 'text',
      mode: 'plaintext',
      padding: 'x'.repeat(65 * 1024),
    })
    expect(big.status).toBe(413)
  })

  it('never sends the secrets to the page', async () => {
    const meta = await (await api('meta')).text()
    const sent = await (await send(LOCAL, { kind: 'text', mode: 'safe' })).text()
    const { env } = await import('cloudflare:workers')
    for (const secret of [env.WECHAT_TOKEN, env.WECHAT_ENCODING_AES_KEY, env.ADMIN_TOKEN]) {
      expect(meta).not.toContain(secret)
      expect(sent).not.toContain(secret)
    }
  })
})

describe('GET / in a browser', () => {
  it('leads to the console when it is on, and stays JSON health otherwise', async () => {
    const browser = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }
    const on = await fetchWith(new Request(`${LOCAL}/`, { headers: browser }), ON)
    expect(on.status).toBe(302)
    expect(on.headers.get('Location')).toBe('/debug')
    const off = await exports.default.fetch(`${LOCAL}/`, { headers: browser })
    expect(off.headers.get('Content-Type')).toContain('application/json')
    const curl = await fetchWith(new Request(`${LOCAL}/`, { headers: { Accept: '*/*' } }), ON)
    expect(curl.headers.get('Content-Type')).toContain('application/json')
  })
})
