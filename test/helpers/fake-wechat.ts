/** The tests' handle on the fake WeChat API (src/debug/fake-wechat.ts), over its own HTTP. */

import { env } from 'cloudflare:workers'

const BASE = env.WECHAT_API_BASE

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(new URL(path, BASE), init)
  if (!response.ok) throw new Error(`fake WeChat answered ${response.status}`)
  return response.json()
}

export interface Recorded {
  readonly touser: string
  /** The AppID whose token sent it. */
  readonly appid?: string | null
  readonly body: Record<string, unknown> & { msgtype?: string; text?: { content: string } }
  readonly at: number
}

export const fakeWechat = {
  /** The user did what this push says (WeChat learns it from the user): windows open. */
  interact: async (xml: string) => {
    // Only a user's push opens anything; the fake refuses the rest (400), which is no error here.
    await fetch(new URL('fake/interact', BASE), { method: 'POST', body: xml })
  },
  /** The next `times` sends to `touser` are taken, then answered `ms` later. */
  late: (touser: string, ms: number, times = 1) =>
    call('fake/late', { method: 'POST', body: JSON.stringify({ for: touser, ms, times }) }),
  /** The appid's held token is `seconds` older: near its end, WeChat rotates it. */
  age: (appid: string, seconds: number) =>
    call('fake/age', { method: 'POST', body: JSON.stringify({ appid, seconds }) }),
  sent: (touser: string) => call<Recorded[]>(`fake/sent?touser=${touser}`),
  /** The notifications (bizsend, template/send) WeChat took for `touser`. */
  notifications: (touser: string) => call<Recorded[]>(`fake/notifications?touser=${touser}`),
  /** How many notification calls were made for `touser`, refused ones included. */
  notifyCalls: async (touser: string) =>
    (await call<{ notify: number }>(`fake/calls?touser=${touser}`)).notify,
  /** The result pushes WeChat made for `touser`'s notifications, oldest first: their XML. */
  pushes: async (touser: string) =>
    (await call<{ xml: string }[]>(`fake/pushes?touser=${touser}`)).map((push) => push.xml),
  /** A template the account chose: long-term, with these keywords, or deleted since. */
  template: (
    app: string,
    templateId: string,
    options: { subscription?: 'one_time' | 'long_term'; keywords?: string[]; removed?: boolean },
  ) =>
    call('fake/template', {
      method: 'POST',
      body: JSON.stringify({ for: app, templateId, ...options }),
    }),
  typing: (touser: string) => call<Recorded[]>(`fake/typing?touser=${touser}`),
  tokenRequests: async (appid: string) =>
    (await call<{ tokenRequests: number }>(`fake/stats?appid=${appid}`)).tokenRequests,
  /** How often the appid asked for a token, a jsapi_ticket, and a code's trade. */
  stats: (appid: string) =>
    call<{ tokenRequests: number; ticketRequests: number; codeTrades: number }>(
      `fake/stats?appid=${appid}`,
    ),
  /**
   * The user on WeChat's authorize page (`authorize`, where /oauth/start sent the browser):
   * agrees as `openid`, or refuses. Where WeChat sends the browser back.
   */
  consent: async (
    authorize: string,
    choice: { openid: string; snapshot?: boolean } | 'refuse',
  ): Promise<string> => {
    const url = new URL(authorize)
    if (choice === 'refuse') url.searchParams.set('consent', 'refuse')
    else {
      url.searchParams.set('consent', 'allow')
      url.searchParams.set('openid', choice.openid)
      if (choice.snapshot) url.searchParams.set('snapshot', '1')
    }
    const response = await fetch(url, { redirect: 'manual' })
    const location = response.headers.get('Location')
    if (response.status !== 302 || !location) {
      throw new Error(`the fake's authorize page answered ${response.status}`)
    }
    return location
  },
  /** What wx.config would say of a page's config. */
  jssdkCheck: (config: object, url: string) =>
    call<{ errMsg: string }>('fake/jssdk-check', {
      method: 'POST',
      body: JSON.stringify({ ...config, url }),
    }),
  /** The next `times` calls to `path` for that appid (token) or user (send, typing, notify) fail. */
  fail: (
    path: 'token' | 'ticket' | 'oauth' | 'send' | 'typing' | 'notify',
    target: string,
    code: number,
    times = 1,
  ) =>
    call(`fake/fail`, {
      method: 'POST',
      body: JSON.stringify({ path, for: target, code, times }),
    }),
  /** WeChat forgets the appid's token: the next call with it is answered 40001. */
  expire: (appid: string) =>
    call('fake/expire', { method: 'POST', body: JSON.stringify({ appid }) }),
  /** WeChat refuses the appid's token (40001), yet hands it back until a forced refresh. */
  revoke: (appid: string) =>
    call('fake/revoke', { method: 'POST', body: JSON.stringify({ appid }) }),
  /** A token straight from the fake, as another service of the account's would hold. */
  issue: (appid: string) =>
    call<{ access_token: string; expires_in: number }>('cgi-bin/stable_token', {
      method: 'POST',
      body: JSON.stringify({ grant_type: 'client_credential', appid, secret: 'elsewhere' }),
    }),
}

/** A fresh AppID, so that a test's token Durable Object and the fake's counts are its own. */
export function appid(): string {
  return `wx${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`
}
