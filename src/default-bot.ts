/**
 * The default bot: a short example to replace with your own. Follows and scans name their QR
 * scene, menu clicks name their key, `count` counts in the user's session, `later …` answers
 * after the 5 s window as a customer-service message, other text goes to the AI assistant when
 * one is configured (`npm run dev`: a local fake model) and is echoed otherwise; everything else
 * gets `success`. One middleware times the bot into the log line.
 */

import { assistant, defineMenu, later, Router, reply } from './bot/index.ts'
import type { Env } from './env.ts'

/** The account's custom menu: `POST /admin/menu` (or `npm run menu -- publish`) publishes it. */
export const menu = defineMenu([
  { type: 'click', name: 'Today', key: 'TODAY' },
  {
    name: 'More',
    sub_button: [
      { type: 'click', name: 'Count', key: 'COUNT' },
      { type: 'scancode_waitmsg', name: 'Scan a code', key: 'SCAN' },
      {
        type: 'view',
        name: 'WeChat docs',
        url: 'https://developers.weixin.qq.com/doc/offiaccount/en/Getting_Started/Overview.html',
      },
    ],
  },
] as const)

/** How long the `later` example pretends to work. */
const LATER_PAUSE_MS = 1_500

/** What this bot keeps per user: how many `count` messages since they last followed. */
export interface CountSession {
  count: number
}

export const bot = new Router<Env, CountSession>()
  .withMenu(menu)
  .use(async function timeTheBot(_push, context, next) {
    const started = performance.now()
    await next()
    context.log.botMs = Math.round((performance.now() - started) * 10) / 10
  })
  .menu('TODAY', () => reply.text('Today: a menu declared in code (src/default-bot.ts).'))
  .menu('COUNT', async (_push, { session }) => {
    const count = ((await session.get('count')) ?? 0) + 1
    await session.set('count', count)
    return reply.text(`count: ${count}`)
  })
  .menu('SCAN', (push) =>
    reply.text(push.kind === 'scancode_waitmsg' ? `You scanned: ${push.scanResult}` : 'Scanned.'),
  )
  .on('subscribe', (push) =>
    reply.text(
      push.scene === null
        ? 'Welcome! Thanks for following.'
        : `Welcome! Thanks for following via QR scene ${push.scene}.`,
    ),
  )
  .on('scan', (push) => reply.text(`You scanned QR scene ${push.scene}.`))
  .on('click', (push) => reply.text(`You clicked menu ${push.key}.`))
  .text('count', async (_push, { session }) => {
    const count = ((await session.get('count')) ?? 0) + 1
    await session.set('count', count)
    return reply.text(`count: ${count}`)
  })
  .text(
    /^later /,
    later(async (push, { send }) => {
      // Stands for slow work (an LLM, another service): the user sees "typing…" meanwhile.
      await new Promise((resolve) => setTimeout(resolve, LATER_PAUSE_MS))
      await send(reply.text(`later: ${push.content.slice('later '.length)}`))
    }),
  )
  // Answered by the model (once per push, whatever WeChat retries); passed on when AI is off.
  .on(
    'text',
    assistant({
      system:
        'You are the assistant of a WeChat Service Account. Answer briefly, in the language of the question.',
      context: (_push, { account }) => ({ account: account.id }),
    }),
  )
  .on('text', (push) => (push.content.length > 0 ? reply.text(push.content) : undefined))
