import { describe, expect, it } from 'vitest'
import { Router } from '../src/router.ts'
import type { Push, PushKind } from '../src/wechat/push.ts'
import { type Reply, reply } from '../src/wechat/reply.ts'
import { forgedPush } from './helpers/pushes.ts'

const context = { env: {}, signal: new AbortController().signal }
const push = (kind: PushKind, fields = {}): Push => forgedPush(kind, fields)
const said = (r: Reply | undefined) => (r?.type === 'text' ? r.content : r)
const answer = (text: string) => () => reply.text(text)

describe('Router', () => {
  const router = new Router()
    .on('click', answer('kind click'))
    .on('subscribe', answer('kind subscribe'))
    .on('text', answer('kind text'))
    .menu('BUY', answer('menu BUY'))
    .menu(/^GAME_/, answer('menu GAME_*'))
    .menu('BUY', answer('second BUY'))
    .scene('spring', answer('scene spring'))
    .text('help', answer('text help'))
    .text(/^hel/, answer('text /^hel/'))
    .fallback(answer('fallback'))

  it('prefers a menu key over the kind', async () => {
    expect(said(await router.route(push('click', { menuKey: 'BUY' }), context))).toBe('menu BUY')
    expect(said(await router.route(push('click', { menuKey: 'GAME_1' }), context))).toBe(
      'menu GAME_*',
    )
    expect(said(await router.route(push('click', { menuKey: 'OTHER' }), context))).toBe(
      'kind click',
    )
  })

  it('routes keyed menu events besides CLICK by key', async () => {
    expect(said(await router.route(push('scancode_push', { menuKey: 'BUY' }), context))).toBe(
      'menu BUY',
    )
  })

  it('prefers a QR scene over the kind, for follows and scans', async () => {
    expect(said(await router.route(push('subscribe', { scene: 'spring' }), context))).toBe(
      'scene spring',
    )
    expect(said(await router.route(push('scan', { scene: 'spring' }), context))).toBe(
      'scene spring',
    )
    expect(said(await router.route(push('subscribe'), context))).toBe('kind subscribe')
    expect(said(await router.route(push('scan', { scene: 'autumn' }), context))).toBe('fallback')
  })

  it('matches text exactly or by pattern, first registered first', async () => {
    expect(said(await router.route(push('text', { content: 'help' }), context))).toBe('text help')
    expect(said(await router.route(push('text', { content: 'hello' }), context))).toBe(
      'text /^hel/',
    )
    expect(said(await router.route(push('text', { content: 'Help' }), context))).toBe('kind text')
  })

  it('falls back for kinds nobody handles', async () => {
    expect(said(await router.route(push('location_report'), context))).toBe('fallback')
  })

  it('gives no reply when nothing matches and there is no fallback', async () => {
    const bare = new Router().on('text', answer('t'))
    expect(await bare.route(push('view'), context)).toBeUndefined()
  })

  it('keeps the first handler for a kind and the first fallback', async () => {
    const twice = new Router().on('view', answer('first')).on('view', answer('second'))
    expect(said(await twice.route(push('view'), context))).toBe('first')
  })

  it('treats a handler returning nothing as no reply', async () => {
    const silent = new Router().on('text', () => undefined).fallback(answer('fallback'))
    expect(await silent.route(push('text'), context)).toBeUndefined()
  })
})
