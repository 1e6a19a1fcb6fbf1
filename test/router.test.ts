import { describe, expect, it } from 'vitest'
import { later, Router, RouterDefinitionError } from '../src/bot/router.ts'
import type { Push, PushKind } from '../src/wechat/push.ts'
import { type Reply, reply } from '../src/wechat/reply.ts'
import { forgedPush } from './helpers/pushes.ts'
import { routeContext } from './helpers/route-context.ts'

const context = routeContext()
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

describe('middleware', () => {
  it('runs in onion order around the handler, and sees its reply', async () => {
    const trail: string[] = []
    const seen: (string | undefined)[] = []
    const bot = new Router()
      .use(async (_push, _context, next) => {
        trail.push('outer in')
        seen.push(said(await next()) as string | undefined)
        trail.push('outer out')
      })
      .use(async (_push, _context, next) => {
        trail.push('inner in')
        await next()
        trail.push('inner out')
      })
      .on('text', () => {
        trail.push('handler')
        return reply.text('from the handler')
      })
    expect(said(await bot.route(push('text'), routeContext()))).toBe('from the handler')
    expect(trail).toEqual(['outer in', 'inner in', 'handler', 'inner out', 'outer out'])
    expect(seen).toEqual(['from the handler'])
  })

  it('can short-circuit with a reply, and the handler never runs', async () => {
    let handled = false
    const blocked = new Set(['oBlocked'])
    const bot = new Router()
      .use((push, _context, next) =>
        blocked.has(push.fromUserName) ? reply.text('You are blocked.') : next(),
      )
      .on('text', () => {
        handled = true
        return reply.text('hello')
      })
    expect(said(await bot.route(push('text', { openid: 'oBlocked' }), routeContext()))).toBe(
      'You are blocked.',
    )
    expect(handled).toBe(false)
    expect(said(await bot.route(push('text', { openid: 'oFriend' }), routeContext()))).toBe('hello')
  })

  it('can replace the reply, or silence it with null', async () => {
    const louder = new Router()
      .use(async (_push, _context, next) => {
        const produced = await next()
        return produced?.type === 'text' ? reply.text(produced.content.toUpperCase()) : produced
      })
      .on('text', () => reply.text('quiet'))
    expect(said(await louder.route(push('text'), routeContext()))).toBe('QUIET')
    const silent = new Router()
      .use(async (_push, _context, next) => {
        await next()
        return null
      })
      .on('text', () => reply.text('never seen'))
    expect(await silent.route(push('text'), routeContext())).toBeUndefined()
  })

  it('hands values to later handlers through context.state, and fields to the log line', async () => {
    const context = routeContext()
    const bot = new Router()
      .use((_push, { state, log }, next) => {
        state.role = 'admin'
        log.role = 'admin'
        return next()
      })
      .on('text', (_push, { state }) => reply.text(`role ${String(state.role)}`))
    expect(said(await bot.route(push('text'), context))).toBe('role admin')
    expect(context.log).toEqual({ role: 'admin' })
  })

  it('passes a middleware’s error up, as a handler’s would be', async () => {
    const failing = new Router()
      .use(() => {
        throw new Error('middleware broke')
      })
      .on('text', answer('never'))
    await expect(failing.route(push('text'), routeContext())).rejects.toThrow('middleware broke')
  })
})

describe('predicates and fall-through', () => {
  it('routes by any condition, after text patterns and before kinds', async () => {
    const bot = new Router()
      .text('exact', answer('text exact'))
      .when((p) => p.kind === 'text' && p.content.startsWith('ex'), answer('when ex*'))
      .on('text', answer('kind text'))
    expect(said(await bot.route(push('text', { content: 'exact' }), routeContext()))).toBe(
      'text exact',
    )
    expect(said(await bot.route(push('text', { content: 'extra' }), routeContext()))).toBe(
      'when ex*',
    )
    expect(said(await bot.route(push('text', { content: 'other' }), routeContext()))).toBe(
      'kind text',
    )
  })

  it('passes the push to the next matching route with context.next()', async () => {
    const bot = new Router()
      .menu('BUY', (_push, { next }) => next())
      .when(
        (p) => p.kind === 'click',
        async (_push, { next }) => {
          const later = await next()
          return reply.text(`when, then ${said(later)}`)
        },
      )
      .on('click', answer('kind click'))
      .fallback(answer('fallback'))
    expect(said(await bot.route(push('click', { menuKey: 'BUY' }), routeContext()))).toBe(
      'when, then kind click',
    )
  })

  it('answers nothing when the last route passes', async () => {
    const bot = new Router().on('text', (_push, { next }) => next())
    expect(await bot.route(push('text'), routeContext())).toBeUndefined()
  })
})

describe('next() twice', () => {
  it('is refused in middleware, as Hono’s compose refuses it: the rest runs once', async () => {
    let runs = 0
    const bot = new Router()
      .use(async (_push, _context, next) => {
        await next()
        await next()
      })
      .on('text', () => {
        runs++
        return reply.text('once')
      })
    await expect(bot.route(push('text'), context)).rejects.toThrow('next() called multiple times')
    expect(runs).toBe(1)
  })

  it('is refused in a handler’s context.next(): the next route runs once', async () => {
    let runs = 0
    const bot = new Router()
      .text('x', async (_push, { next }) => {
        await next()
        return next()
      })
      .on('text', () => {
        runs++
        return reply.text('once')
      })
    await expect(bot.route(push('text', { content: 'x' }), context)).rejects.toThrow(
      'next() called multiple times',
    )
    expect(runs).toBe(1)
  })
})

describe('deferred routes by name', () => {
  const run = async () => {}
  const deferredName = async (bot: Router, routed: Push) => {
    let name: string | undefined
    await bot.route(routed, {
      ...context,
      defer: (job) => {
        name = job
      },
    })
    return name
  }

  it('name their jobs after the route, or as later() says', async () => {
    const bot = new Router()
      .menu('BUY', later(run))
      .scene('spring', later(run))
      .text(/^ask /, later(run))
      .on('image', later(run))
      .when((p) => p.kind === 'voice', later(run, { name: 'voice-note' }))
      .fallback(later(run))
    expect(await deferredName(bot, push('click', { menuKey: 'BUY' }))).toBe('menu:BUY')
    expect(await deferredName(bot, push('scan', { scene: 'spring' }))).toBe('scene:spring')
    expect(await deferredName(bot, push('text', { content: 'ask me' }))).toBe('text:/^ask /')
    expect(await deferredName(bot, push('image'))).toBe('kind:image')
    expect(await deferredName(bot, push('voice'))).toBe('voice-note')
    expect(await deferredName(bot, push('location'))).toBe('fallback')
  })

  it('find the same handler whatever order a later deploy registers routes in', () => {
    const first = async () => {}
    const second = async () => {}
    const before = new Router().text('a', later(first)).text('b', later(second))
    const after = new Router()
      .text(
        'c',
        later(async () => {}),
      )
      .text('b', later(second))
    expect(before.laterJob('text:b')).toBe(second)
    expect(after.laterJob('text:b')).toBe(second)
    // A route that is gone finds nothing: the job is dead-lettered, never given to another.
    expect(after.laterJob('text:a')).toBeUndefined()
  })

  it('with `now`, answer on the request path, and queue the job only when now defers', async () => {
    const bot = new Router().text(
      /^quote /,
      later(run, {
        now: (routed, { defer, job }) => {
          if (routed.kind === 'text' && routed.content === 'quote cached') {
            return reply.text(`cached, else ${job}`)
          }
          defer()
          return reply.text('on its way')
        },
      }),
    )
    const routed = async (content: string) => {
      let name: string | undefined
      const answer = await bot.route(push('text', { content }), {
        ...context,
        defer: (job) => {
          name = job
        },
      })
      return { answer, name }
    }
    expect(await routed('quote cached')).toEqual({
      answer: reply.text('cached, else text:/^quote /'),
      name: undefined,
    })
    expect(await routed('quote new')).toEqual({
      answer: reply.text('on its way'),
      name: 'text:/^quote /',
    })
    expect(bot.laterJob('text:/^quote /')).toBe(run)
  })

  it('refuse two routes with one name, and a when() route without one, at start-up', () => {
    expect(() => new Router().text('a', later(run)).text('a', later(run))).toThrow(
      RouterDefinitionError,
    )
    expect(() => new Router().when(() => true, later(run))).toThrow(/needs a name/)
  })
})
