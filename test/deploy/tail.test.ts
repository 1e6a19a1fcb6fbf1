/**
 * `npm run tail`'s printing: events as `wrangler tail --format json` writes them (indented
 * objects), shown without request URLs.
 */

import { describe, expect, it } from 'vitest'
import { eventReader, linesOf, routeOf, type TailEvent } from '../../scripts/tail-lines.ts'

const openid = 'oyORnuP8q7ou2gfYjqLzSIWZf0rs'
const signedUrl = `https://wechat-edge.operator.workers.dev/wechat?signature=16120ec1b8dbb870f510d87ce6bc2463eae6ca1a&timestamp=1409735669&nonce=1320562132&openid=${openid}&encrypt_type=aes&msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa`

const push: TailEvent = {
  outcome: 'ok',
  eventTimestamp: Date.UTC(2026, 10, 29, 8, 14, 3),
  event: { request: { method: 'POST', url: signedUrl } },
  logs: [
    {
      level: 'log',
      message: [{ event: 'push', requestId: '8e3a', kind: 'text', outcome: 'replied', ms: 4 }],
    },
  ],
  exceptions: [],
}

describe('npm run tail', () => {
  it('prints the route, the outcome and our own lines, never the signed URL', () => {
    const lines = linesOf(push)
    expect(lines).toEqual([
      '08:14:03 [env] POST /wechat ok',
      '  {"event":"push","requestId":"8e3a","kind":"text","outcome":"replied","ms":4}',
    ])
    const shown = lines.join('\n')
    for (const secret of [openid, 'signature=', 'msg_signature', '1320562132'])
      expect(shown).not.toContain(secret)
  })

  it('names an OpenID in an admin path by its route, whichever account’s', () => {
    expect(routeOf(`https://edge.test/admin/users/${openid}/messages`)).toBe(
      '/admin/users/:openid/messages',
    )
    expect(routeOf(`https://edge.test/admin/accounts/shop/users/${openid}`)).toBe(
      '/admin/accounts/shop/users/:openid',
    )
  })

  it('shows the account of each request', () => {
    const at = (path: string) =>
      linesOf({
        ...push,
        logs: [],
        event: { request: { method: 'POST', url: `https://edge.test${path}` } },
      })[0]
    expect(at('/wechat/shop?signature=x')).toBe('08:14:03 [shop] POST /wechat/shop ok')
    expect(at('/admin/accounts/news/menu')).toBe(
      '08:14:03 [news] POST /admin/accounts/news/menu ok',
    )
    expect(at('/login/status')).toBe('08:14:03 POST /login/status ok')
  })

  it('reads the indented objects wrangler prints, and passes its other lines on', () => {
    const events: TailEvent[] = []
    const other: string[] = []
    const readLine = eventReader(
      (event) => events.push(event),
      (line) => other.push(line),
    )
    const printed = `Successfully created tail\n${JSON.stringify(push, null, 4)}\n${JSON.stringify(push, null, 4)}`
    for (const line of printed.split('\n')) readLine(line)
    expect(events).toEqual([push, push])
    expect(other).toEqual(['Successfully created tail'])
  })

  it('shows a queue batch and an exception by name', () => {
    const lines = linesOf({
      outcome: 'exception',
      eventTimestamp: 0,
      event: { queue: 'wechat-edge-pushes', batchSize: 3 },
      exceptions: [{ name: 'TypeError', message: 'x is undefined' }],
    })
    expect(lines).toEqual([
      '00:00:00 queue wechat-edge-pushes (3 messages) exception',
      '  exception TypeError: x is undefined',
    ])
  })
})
