/**
 * The default bot: a short example to replace with your own. Follows and scans name their QR
 * scene, menu clicks name their key, text is echoed; everything else gets `success`.
 */

import type { Env } from './env.ts'
import { Router } from './router.ts'
import { reply } from './wechat/reply.ts'

export const bot = new Router<Env>()
  .on('subscribe', (push) =>
    reply.text(
      push.scene === null
        ? 'Welcome! Thanks for following.'
        : `Welcome! Thanks for following via QR scene ${push.scene}.`,
    ),
  )
  .on('scan', (push) => reply.text(`You scanned QR scene ${push.scene}.`))
  .on('click', (push) => reply.text(`You clicked menu ${push.key}.`))
  .on('text', (push) => (push.content.length > 0 ? reply.text(push.content) : undefined))
