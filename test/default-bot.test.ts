/**
 * The default bot (src/default-bot.ts), the example a new user starts from and replaces: what
 * it answers, through the HTTP surface with real bindings. This is the one test of it; replace
 * it with your bot's own tests when you replace the bot. The framework's tests run a bot of
 * their own (test/fixtures/bot.ts).
 */

import { describe, expect, it } from 'vitest'
import { forgePushXml } from '../src/debug/forge.ts'
import { bot } from '../src/default-bot.ts'
import { parseXmlRoot } from '../src/wechat/xml.ts'
import { referenceSamples } from './helpers/reference-samples.ts'
import { openid, signedRequest } from './helpers/wechat.ts'
import { fetchWith } from './helpers/worker.ts'

/** Sends a push, in plaintext, to an app around the default bot; the answer as parsed XML. */
async function answerTo(xml: string) {
  const response = await fetchWith(await signedRequest(xml), {}, bot)
  expect(response.status).toBe(200)
  const body = await response.text()
  return body === 'success' ? body : parseXmlRoot(body)
}

describe('the default bot', () => {
  it.each([
    ['a plain follow', forgePushXml('subscribe'), 'Welcome! Thanks for following.'],
    [
      'a follow from the reference page',
      referenceSamples.qrSubscribe,
      'Welcome! Thanks for following via QR scene 123123.',
    ],
    ['a scan', referenceSamples.scan, 'You scanned QR scene SCENE_VALUE.'],
    ['a menu click', referenceSamples.click, 'You clicked menu EVENTKEY.'],
    [
      'a tap on its menu',
      forgePushXml('click', { menuKey: 'TODAY' }),
      'Today: a menu declared in code (src/default-bot.ts).',
    ],
  ])('replies to %s', async (_, xml, content) => {
    const answer = await answerTo(xml)
    expect(answer).toMatchObject({ MsgType: 'text', Content: content })
    expect(Number((answer as { CreateTime: string }).CreateTime)).toBeCloseTo(Date.now() / 1000, -1)
  })

  it.each([
    ['a location report', referenceSamples.location],
    ['a menu link', referenceSamples.view],
    [
      'an unfollow',
      referenceSamples.subscribe
        .replace('[subscribe]', '[unsubscribe]')
        .replace('[FromUser]', `[${openid('unsub')}]`),
    ],
    ['an image', forgePushXml('image')],
    ['an unknown event', forgePushXml('unknown')],
    ['a template job result', forgePushXml('template_send_job_finish')],
  ])('answers %s with success', async (_, xml) => {
    expect(await answerTo(xml)).toBe('success')
  })

  it('answers text with the AI assistant when one is configured, and echoes it otherwise', async () => {
    const content = `echo ]]> me 你好 ${crypto.randomUUID()}`
    const xml = () => forgePushXml('text', { openid: openid('assistant'), content })
    expect(await answerTo(xml())).toMatchObject({
      MsgType: 'text',
      Content: `Answer to “${content}” (a new conversation).`,
    })
    const response = await fetchWith(await signedRequest(xml()), { AI_BASE_URL: '' }, bot)
    expect(parseXmlRoot(await response.text())).toMatchObject({ Content: content })
  })

  it('counts `count` in the user’s session, by text and by its menu', async () => {
    const user = openid('default-count')
    const now = Math.floor(Date.now() / 1000)
    const first = await answerTo(
      forgePushXml('text', { openid: user, content: 'count', createTime: now }),
    )
    const second = await answerTo(
      forgePushXml('click', { openid: user, menuKey: 'COUNT', createTime: now + 1 }),
    )
    expect(first).toMatchObject({ Content: 'count: 1' })
    expect(second).toMatchObject({ Content: 'count: 2' })
  })
})
