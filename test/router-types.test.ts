import { describe, expect, expectTypeOf, it } from 'vitest'
import { Router } from '../src/bot/router.ts'
import type { AnySession } from '../src/bot/session.ts'
import type { Push, PushKind, PushOf, TextMessage } from '../src/wechat/push.ts'
import { reply } from '../src/wechat/reply.ts'
import { forgedPush } from './helpers/pushes.ts'
import { routeContext } from './helpers/route-context.ts'

/** The kinds whose handler would be handed `never`: none may be. Checked by `npm run typecheck`. */
type NeverKinds = { [K in PushKind]: [PushOf<K>] extends [never] ? K : never }[PushKind]

describe('Router.on types each kind’s push', () => {
  it('resolves no kind to never', () => {
    expectTypeOf<NeverKinds>().toBeNever()
  })

  it('narrows a kind shared by one interface to that kind', () => {
    expectTypeOf<PushOf<'video'>['kind']>().toEqualTypeOf<'video'>()
    expectTypeOf<PushOf<'pic_weixin'>['kind']>().toEqualTypeOf<'pic_weixin'>()
  })

  it('shows each kind’s own fields to its handler', () => {
    const bot = new Router()
      .on('video', (push) => reply.text(push.mediaId))
      .on('shortvideo', (push) => reply.text(push.thumbMediaId))
      .on('scancode_push', (push) => reply.text(push.scanResult))
      .on('scancode_waitmsg', (push) => reply.text(push.scanType))
      .on('pic_sysphoto', (push) => reply.text(String(push.count)))
      .on('pic_photo_or_album', (push) => reply.text(push.picMd5Sums.join()))
      .on('pic_weixin', (push) => reply.text(push.key))
      .on('subscribe_msg_popup_event', (push) => reply.text(push.items[0]?.templateId ?? ''))
      .on('user_authorization_revoke', (push) => reply.text(push.openId))
      .on('publish_job_finish', (push) => reply.text(push.publishId))
    expect(bot).toBeInstanceOf(Router)
  })
})

describe('predicates and state are typed', () => {
  it('narrows the push for a when() whose predicate is a type guard', () => {
    const isLongText = (push: Push): push is TextMessage =>
      push.kind === 'text' && push.content.length > 500
    const bot = new Router().when(isLongText, (push) => {
      expectTypeOf(push).toEqualTypeOf<TextMessage>()
      return reply.text(push.content.slice(0, 10))
    })
    expect(bot).toBeInstanceOf(Router)
  })

  it('types context.state by the bot’s third parameter, as Hono types c.var', async () => {
    const bot = new Router<unknown, AnySession, { member: { name: string } }>()
      .use(async (_push, { state }, next) => {
        state.member = { name: 'Li' }
        return next()
      })
      .on('text', (_push, { state }) => {
        expectTypeOf(state.member).toEqualTypeOf<{ name: string } | undefined>()
        return reply.text(state.member?.name ?? 'nobody')
      })
    const answered = await bot.route(forgedPush('text'), routeContext())
    expect(answered).toMatchObject({ type: 'text', content: 'Li' })
  })
})
