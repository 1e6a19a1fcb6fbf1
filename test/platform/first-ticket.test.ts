/**
 * Before WeChat's first ticket: the platform's token cannot be fetched, and says why. Alone in
 * its file, whose storage no other test has given a ticket.
 */

import { exports } from 'cloudflare:workers'
import { expect, it } from 'vitest'
import { ADMIN_HEADERS } from '../helpers/admin.ts'
import { pushNewTicket } from '../helpers/platform.ts'

it('is a clear error naming the ticket until one comes, then works', async () => {
  const link = () =>
    exports.default.fetch('https://edge.test/admin/platform/authorize-link', {
      method: 'POST',
      headers: ADMIN_HEADERS,
    })
  const before = await link()
  expect(before.status).toBe(502)
  const body = (await before.json()) as { error: string; message: string }
  expect(body.message).toContain('component_verify_ticket')
  const health = await exports.default.fetch('https://edge.test/', { headers: ADMIN_HEADERS })
  expect(await health.json()).toMatchObject({ platform: { ticketAgeMs: null, ready: false } })
  await pushNewTicket()
  // The failed fetch is not held against the next: the ticket's arrival is enough.
  expect((await link()).status).toBe(200)
})
