import { describe, expect, expectTypeOf, it } from 'vitest'
import { Router } from '../src/bot/router.ts'
import type { PushKind, PushOf } from '../src/wechat/push.ts'
import { reply } from '../src/wechat/reply.ts'

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
