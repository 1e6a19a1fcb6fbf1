import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it, vi } from 'vitest'
import { readConfig } from '../src/config.ts'
import { type ForgeFields, forgePushXml } from '../src/debug/forge.ts'
import { listDeadLetters } from '../src/queues/dead-letters.ts'
import { fetchFrom, REFRESH_AHEAD_MS } from '../src/talk/access-token.ts'
import { talkerFor } from '../src/talk/talk.ts'
import { message, WechatApiError } from '../src/wechat/api.ts'
import type { PushKind } from '../src/wechat/push.ts'
import { ADMIN_HEADERS } from './helpers/admin.ts'
import { eventually } from './helpers/eventually.ts'
import { appid, fakeWechat } from './helpers/fake-wechat.ts'
import { captureLogs } from './helpers/logs.ts'
import { forgedPush, parsedPush, queuedJob, queuedPush, unanswered } from './helpers/pushes.ts'
import { talkerWithAppId } from './helpers/talker.ts'
import { exchange, openid } from './helpers/wechat.ts'

/** A talker whose token Durable Object is this test's own. */
const talkerWith = talkerWithAppId

/** The user's push as WeChat learns it (the fake's windows) and their UserState applies it. */
async function interacted(id: string, kind: PushKind = 'text', fields: ForgeFields = {}) {
  const xml = forgePushXml(kind, { openid: id, ...fields })
  await fakeWechat.interact(xml)
  const queued = await queuedPush(parsedPush(xml))
  expect(await env.USERS.getByName(id).receive(unanswered(queued.key, queued.push))).toEqual({
    outcome: 'received',
  })
}

/** The user wrote to the account: WeChat's windows open (no UserState involved). */
function wrote(id: string) {
  return fakeWechat.interact(forgePushXml('text', { openid: id }))
}

function adminSend(id: string, body: object = message.text('hello from an operator')) {
  return exports.default.fetch(`https://edge.test/admin/users/${id}/messages`, {
    method: 'POST',
    headers: ADMIN_HEADERS,
    body: JSON.stringify(body),
  })
}

describe('the access token', () => {
  it('is fetched once for 50 concurrent sends that find none', async () => {
    const app = appid()
    const talker = talkerWith(app)
    const users = Array.from({ length: 50 }, (_, i) => openid(`flight${i}`))
    await Promise.all(users.map(wrote))
    await Promise.all(users.map((id) => talker.send(id, message.text('hi'))))
    expect(await fakeWechat.tokenRequests(app)).toBe(1)
    for (const id of users.slice(0, 5)) expect(await fakeWechat.sent(id)).toHaveLength(1)
  })

  it('is refreshed ahead of expiry by an alarm, so that no send waits for WeChat', async () => {
    const app = appid()
    const tokens = env.ACCESS_TOKENS.getByName(app)
    const first = await tokens.token()
    expect(first.ok).toBe(true)
    const status = await tokens.status()
    expect(status).toMatchObject({ held: true, source: 'stable_token' })
    const alarm = await runDurableObjectAlarm(tokens)
    expect(alarm).toBe(true)
    // WeChat hands back the same stable token while it is valid; once it is gone, a new one.
    await fakeWechat.expire(app)
    await runDurableObjectAlarm(tokens)
    const second = await tokens.token()
    expect(second.ok && first.ok && second.token !== first.token).toBe(true)
    // The first fetch, then one per alarm: none when the token was asked for.
    expect(await fakeWechat.tokenRequests(app)).toBe(3)
    expect(status.expiresAt! - REFRESH_AHEAD_MS).toBeGreaterThan(Date.now())
  })

  it('on 40001: refreshes once and retries the call once', async () => {
    const app = appid()
    const talker = talkerWith(app)
    const id = openid('t40001')
    await wrote(id)
    await talker.typing(id, true)
    await fakeWechat.expire(app)
    await talker.send(id, message.text('after a refresh'))
    expect(await fakeWechat.tokenRequests(app)).toBe(2)
    expect((await fakeWechat.sent(id)).map((m) => m.body.text?.content)).toEqual([
      'after a refresh',
    ])
  })

  it('refreshes once for many callers holding the same stale token', async () => {
    const app = appid()
    const talker = talkerWith(app)
    const warm = openid('warm')
    await wrote(warm)
    await talker.typing(warm, true)
    await fakeWechat.expire(app)
    const users = Array.from({ length: 10 }, (_, i) => openid(`stale${i}`))
    await Promise.all(users.map(wrote))
    await Promise.all(users.map((id) => talker.send(id, message.text('stale'))))
    expect(await fakeWechat.tokenRequests(app)).toBe(2)
    for (const id of users) expect(await fakeWechat.sent(id)).toHaveLength(1)
  })

  it('forces one refresh for many callers when WeChat hands back the token it refuses', async () => {
    const app = appid()
    const talker = talkerWith(app)
    const warm = openid('warm-revoked')
    await wrote(warm)
    await talker.typing(warm, true)
    await fakeWechat.revoke(app)
    const users = Array.from({ length: 10 }, (_, i) => openid(`revoked${i}`))
    await Promise.all(users.map(wrote))
    await Promise.all(users.map((id) => talker.send(id, message.text('after a forced refresh'))))
    for (const id of users) expect(await fakeWechat.sent(id)).toHaveLength(1)
    // The first fetch, one unforced refresh (the same token back), one forced: not one each.
    expect(await fakeWechat.tokenRequests(app)).toBe(3)
    expect((await env.ACCESS_TOKENS.getByName(app).status()).forcedRefreshesToday).toBe(1)
  })

  it('names 40164 (IP not whitelisted), and takes a token pushed in from elsewhere', async () => {
    const app = appid()
    await fakeWechat.fail('token', app, 40164)
    const talker = talkerWith(app)
    const id = openid('whitelist')
    await wrote(id)
    const refused = await talker.send(id, message.text('x')).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(WechatApiError)
    expect(refused).toMatchObject({ failure: 'ip_not_whitelisted', code: 40164 })
    const tokens = env.ACCESS_TOKENS.getByName(app)
    expect((await tokens.status()).lastError).toMatchObject({ code: 40164 })
    const elsewhere = await fakeWechat.issue(app)
    await tokens.put(elsewhere.access_token, elsewhere.expires_in)
    await talker.send(id, message.text('with a pushed token'))
    expect(await fakeWechat.sent(id)).toHaveLength(1)
    expect(await tokens.status()).toMatchObject({ held: true, source: 'pushed', lastError: null })
  })

  it('calls the token service with its bearer secret, and says when a refresh is forced', async () => {
    // A token service of the operator's own, standing in for theirs: it records what it is sent.
    const asked: Request[] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
      asked.push(new Request(input, init))
      return Response.json({ access_token: 'SERVICE_TOKEN', expires_in: 7200 })
    })
    const service = {
      appId: appid(),
      apiBase: env.WECHAT_API_BASE,
      source: 'url' as const,
      appSecret: null,
      tokenUrl: 'https://tokens.example.com/wechat',
      tokenUrlSecret: 'shared-with-the-token-service',
    }
    expect((await fetchFrom(service, false)).accessToken).toBe('SERVICE_TOKEN')
    await fetchFrom(service, true)
    expect(asked.map((request) => request.headers.get('Authorization'))).toEqual([
      'Bearer shared-with-the-token-service',
      'Bearer shared-with-the-token-service',
    ])
    expect(asked.map((request) => request.headers.get('X-Force-Refresh'))).toEqual([null, 'true'])
  })

  it('takes tokens from the account’s own token service (WECHAT_TOKEN_URL)', async () => {
    const app = appid()
    const base = env.WECHAT_API_BASE
    const issued = await fetchFrom(
      {
        appId: app,
        apiBase: base,
        source: 'url',
        appSecret: null,
        tokenUrl: `${base}fake/token-service?appid=${app}`,
        tokenUrlSecret: null,
      },
      false,
    )
    expect(issued.accessToken).toMatch(/^FAKE_TOKEN_/)
    expect(issued.expiresAt).toBeGreaterThan(Date.now() + 7000 * 1000)
    const talker = talkerWith(app)
    await env.ACCESS_TOKENS.getByName(app).put(issued.accessToken, 7200)
    const id = openid('token-url')
    await wrote(id)
    await talker.send(id, message.text('with a token from our own service'))
    expect(await fakeWechat.sent(id)).toHaveLength(1)
  })

  it('shows whether a token is held and until when, never the token', async () => {
    const id = openid('status')
    await wrote(id)
    await talkerFor(env, readConfig(env).env)?.typing(id, true)
    const response = await exports.default.fetch('https://edge.test/admin/access-token', {
      headers: ADMIN_HEADERS,
    })
    const body = await response.text()
    expect(JSON.parse(body)).toMatchObject({
      talkBack: true,
      held: true,
      expiresAt: expect.any(Number),
    })
    expect(body).not.toContain('FAKE_TOKEN')
  })

  /** Moves both records of forced refreshes (the object's, WeChat's) 31 s into the past. */
  async function waitOutSpacing(app: string) {
    const tokens = env.ACCESS_TOKENS.getByName(app)
    await fakeWechat.age(app, 31)
    await runInDurableObject(tokens, async (_, state) => {
      const times = (await state.storage.get<number[]>('forced')) ?? []
      await state.storage.put(
        'forced',
        times.map((at) => at - 31_000),
      )
    })
  }

  it('refuses a forced refresh past WeChat’s 20 a day', async () => {
    const app = appid()
    const tokens = env.ACCESS_TOKENS.getByName(app)
    for (let i = 0; i < 20; i++) {
      expect((await tokens.forceRefresh()).ok).toBe(true)
      await waitOutSpacing(app)
    }
    expect(await tokens.forceRefresh()).toMatchObject({ ok: false, failure: 'refused' })
    expect(await fakeWechat.tokenRequests(app)).toBe(20)
  })

  it('keeps forced refreshes 30 s apart, as WeChat requires', async () => {
    const app = appid()
    const tokens = env.ACCESS_TOKENS.getByName(app)
    expect((await tokens.forceRefresh()).ok).toBe(true)
    expect(await tokens.forceRefresh()).toMatchObject({
      ok: false,
      message: 'WeChat allows one forced refresh every 30 seconds: try again shortly',
    })
    expect(await fakeWechat.tokenRequests(app)).toBe(1)
  })

  it('leaves the operator 5 of the day’s forced refreshes that automatic ones never spend', async () => {
    const app = appid()
    const tokens = env.ACCESS_TOKENS.getByName(app)
    const first = await tokens.token()
    if (!first.ok) throw new Error('no token')
    await runInDurableObject(tokens, async (_, state) => {
      const longAgo = Date.now() - 60 * 60 * 1000
      await state.storage.put(
        'forced',
        Array.from({ length: 15 }, (_, i) => longAgo + i),
      )
    })
    // WeChat refuses the token yet hands it back unforced: only a forced refresh would help.
    await fakeWechat.revoke(app)
    expect(await tokens.invalidate(first.token)).toMatchObject({ ok: false, failure: 'refused' })
    expect((await tokens.forceRefresh()).ok).toBe(true)
  })
})

describe('operators sending to a user', () => {
  it('refuses a send outside every window without calling WeChat', async () => {
    const id = openid('no-window')
    const response = await adminSend(id)
    expect(response.status).toBe(409)
    expect(await response.json()).toEqual({ sent: false, error: 'window_closed' })
    expect(await fakeWechat.sent(id)).toEqual([])
  })

  it('allows 5 messages within 48 h of a user’s message, then refuses', async () => {
    const id = openid('five')
    await interacted(id, 'text')
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await adminSend(id)).status)
    expect(statuses).toEqual([200, 200, 200, 200, 200, 409])
    expect(await fakeWechat.sent(id)).toHaveLength(5)
  })

  it('does not add windows up: after a follow and a message, 5 in all, not 8', async () => {
    const id = openid('no-sum')
    await interacted(id, 'text')
    await interacted(id, 'subscribe')
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await adminSend(id)).status)
    expect(statuses).toEqual([200, 200, 200, 200, 200, 409])
    expect(await fakeWechat.sent(id)).toHaveLength(5)
  })

  it('counts a tap on a menu message (bizmsgmenuid) as a menu click: 3 within a minute', async () => {
    const id = openid('tap')
    expect(forgedPush('text', { content: 'Yes', menuId: '101' })).toMatchObject({ menuId: '101' })
    await interacted(id, 'text', { content: 'Yes', menuId: '101' })
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await adminSend(id)).status)
    expect(statuses).toEqual([200, 200, 200, 409])
  })

  it('allows 3 within a minute of a menu click, and none after 48 h of silence', async () => {
    const clicked = openid('three')
    await interacted(clicked, 'click')
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await adminSend(clicked)).status)
    expect(statuses).toEqual([200, 200, 200, 409])
    const old = openid('old')
    await interacted(old, 'text', { createTime: Math.floor(Date.now() / 1000) - 49 * 60 * 60 })
    expect((await adminSend(old)).status).toBe(409)
  })

  it('does not retry 45015 from WeChat, and keeps the window closed until the user writes again', async () => {
    const id = openid('t45015')
    await interacted(id, 'text')
    await fakeWechat.fail('send', id, 45015)
    const refused = await adminSend(id)
    expect(refused.status).toBe(409)
    expect(await refused.json()).toEqual({ sent: false, error: 'window_closed', code: 45015 })
    // WeChat said the window is gone: the next send does not go to WeChat again.
    expect(await adminSend(id)).toMatchObject({ status: 409 })
    expect(await fakeWechat.sent(id)).toEqual([])
    // The user's next message opens a window afresh.
    await interacted(id, 'text', { createTime: Math.floor(Date.now() / 1000) + 1 })
    expect((await adminSend(id)).status).toBe(200)
    expect(await fakeWechat.sent(id)).toHaveLength(1)
  })

  it('dead-letters a deferred job that WeChat refuses for good, with the errcode, and sends nothing more', async () => {
    const id = openid('final-refusal')
    const xml = forgePushXml('text', { openid: id, content: 'later refused' })
    await fakeWechat.fail('send', id, 43004)
    expect((await exchange(xml)).reply).toBe('success')
    const letter = await eventually(async () => {
      const found = (await listDeadLetters(env.DEAD_LETTERS, 'env')).find((l) => l.openid === id)
      expect(found).toBeDefined()
      return found
    }, 20_000)
    expect(letter).toMatchObject({
      queue: 'later',
      reason: 'WeChat: not_a_follower (errcode 43004)',
    })
    expect(await fakeWechat.sent(id)).toEqual([])
  }, 30_000)

  it('refuses a malformed message with 400', async () => {
    expect((await adminSend(openid('bad'), { msgtype: 'fax' })).status).toBe(400)
  })
})

describe('deferred handlers', () => {
  it('answers success at once and sends once, despite three retries and a Queue redelivery', async () => {
    const id = openid('later')
    const xml = forgePushXml('text', { openid: id, content: 'later hello' })
    const answers = await Promise.all([exchange(xml), exchange(xml), exchange(xml)])
    expect(answers.map((answer) => [answer.status, answer.reply])).toEqual([
      [200, 'success'],
      [200, 'success'],
      [200, 'success'],
    ])
    const sent = await eventually(async () => {
      const messages = await fakeWechat.sent(id)
      expect(messages).toHaveLength(1)
      return messages
    }, 20_000)
    expect(sent[0]?.body).toMatchObject({ msgtype: 'text', text: { content: 'later: hello' } })
    // The job delivered once more, as a Queue may: nothing more is sent.
    await env.LATER.send({ ...(await queuedPush(parsedPush(xml))), job: 'text:/^later /' })
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(await fakeWechat.sent(id)).toHaveLength(1)
  }, 30_000)

  it('dead-letters a job whose route a deploy removed, naming it, and runs no other handler', async () => {
    const id = openid('later-gone')
    const queued = await queuedJob(
      forgedPush('text', { openid: id, content: 'gone soon' }),
      'text:/^gone /',
    )
    await env.LATER.send(queued)
    const letter = await eventually(async () => {
      const found = (await listDeadLetters(env.DEAD_LETTERS, 'env')).find(
        (l) => l.key === queued.key,
      )
      expect(found).toBeDefined()
      return found
    }, 20_000)
    expect(letter).toMatchObject({
      queue: 'later',
      reason: 'no later() route is named text:/^gone /',
    })
    expect(await fakeWechat.sent(id)).toEqual([])
  }, 30_000)

  it('queues the job once when the later queue refused the first attempt: the Queue keeps the push with it', async () => {
    const id = openid('later-lost')
    const xml = forgePushXml('text', { openid: id, content: 'later twice' })
    // The later queue refuses the user's object: the push cannot be received with its job.
    const refusing = vi
      .spyOn(env.LATER, 'send')
      .mockRejectedValue(new Error('Queues: exceeded the daily free tier limit'))
    const first = await exchange(xml)
    // Answered all the same: the pushes queue took the push, its job with it, for its owner
    // to receive (and queue the job) once the later queue takes messages again.
    expect(first).toMatchObject({ status: 200, reply: 'success' })
    refusing.mockRestore()
    const sends = vi.spyOn(env.LATER, 'send')
    // Replays of the same push (a retry, or a captured one) queue no further job.
    for (let i = 0; i < 5; i++) expect((await exchange(xml)).reply).toBe('success')
    await eventually(async () => expect(sends).toHaveBeenCalledTimes(1), 20_000)
    const sent = await eventually(async () => {
      const messages = await fakeWechat.sent(id)
      expect(messages).toHaveLength(1)
      return messages
    }, 20_000)
    expect(sent[0]?.body).toMatchObject({ text: { content: 'later: twice' } })
  }, 30_000)

  it('shows the typing indicator before the message', async () => {
    const id = openid('typing')
    await exchange(forgePushXml('text', { openid: id, content: 'later typed' }))
    const [sent] = await eventually(async () => {
      const messages = await fakeWechat.sent(id)
      expect(messages).toHaveLength(1)
      return messages
    }, 20_000)
    const typing = await fakeWechat.typing(id)
    expect(typing[0]?.body).toMatchObject({ command: 'Typing' })
    expect(typing[0]!.at).toBeLessThanOrEqual(sent!.at)
  }, 30_000)

  it('retries a busy WeChat (-1), then dead-letters the job with its reason', async () => {
    const id = openid('busy')
    await fakeWechat.fail('send', id, -1, 100)
    const xml = forgePushXml('text', { openid: id, content: 'later busy' })
    await exchange(xml)
    const letter = await eventually(async () => {
      const found = (await listDeadLetters(env.DEAD_LETTERS, 'env')).find(
        (dead) => dead.openid === id,
      )
      expect(found).toBeDefined()
      return found
    }, 25_000)
    expect(letter).toMatchObject({
      queue: 'later',
      reason: 'WeChat: busy (errcode -1)',
      attempts: 5,
    })
    expect(await fakeWechat.sent(id)).toEqual([])
  }, 30_000)

  it('never writes an access token into a log line', async () => {
    const lines = captureLogs('log', 'warn', 'error')
    const app = appid()
    const talker = talkerWith(app)
    const id = openid('no-token-log')
    await wrote(id)
    await talker.send(id, message.text('one'))
    await fakeWechat.expire(app)
    await talker.send(id, message.text('two'))
    await fakeWechat.fail('token', app, 40164)
    await fakeWechat.expire(app)
    await talker.send(id, message.text('three')).catch(() => {})
    expect(lines.records.length).toBeGreaterThan(0)
    expect(lines.text()).not.toContain('FAKE_TOKEN')
    expect(lines.text()).not.toContain('access_token=')
  })
})

describe('an operator’s message is rebuilt from what WeChat takes', () => {
  it('never lets the body name another user: the URL’s OpenID wins', async () => {
    const id = openid('url-wins')
    await interacted(id, 'text')
    const other = openid('elsewhere')
    const response = await adminSend(id, { ...message.text('hi'), touser: other })
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('touser is not allowed: the URL names the user')
    expect(await fakeWechat.sent(other)).toEqual([])
    expect(await fakeWechat.sent(id)).toEqual([])
  })

  it.each([
    [
      { ...message.text('hi'), customservice: { kf_account: 'a@b' } },
      'customservice is not allowed',
    ],
    [{ msgtype: 'text', text: { content: 42 } }, 'text.content must be a non-empty string'],
    [{ msgtype: 'text', text: { content: 'hi', extra: 'x' } }, 'text.extra is not allowed'],
    [
      {
        msgtype: 'news',
        news: {
          articles: [
            { title: 'a', url: 'https://a.example' },
            { title: 'b', url: 'https://b.example' },
          ],
        },
      },
      'news.articles must hold one article',
    ],
  ])('refuses %j naming the field', async (body, reason) => {
    const id = openid('fields')
    await interacted(id, 'text')
    const response = await adminSend(id, body)
    expect(response.status).toBe(400)
    expect(await response.text()).toBe(reason)
    expect(await fakeWechat.sent(id)).toEqual([])
  })

  it('sends a well-formed message exactly as WeChat takes it', async () => {
    const id = openid('well-formed')
    await interacted(id, 'text')
    expect(
      (await adminSend(id, message.link({ title: 'More', url: 'https://example.com' }))).status,
    ).toBe(200)
    const [sent] = await fakeWechat.sent(id)
    expect(sent?.body).toEqual({
      touser: id,
      msgtype: 'news',
      news: { articles: [{ title: 'More', url: 'https://example.com' }] },
    })
  })
})
