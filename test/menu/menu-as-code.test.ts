/**
 * The menu as code: declared with the bot, checked against WeChat's limits and against its
 * handlers (by the compiler, and at start-up), published to the fake WeChat API and read back.
 */

import { exports } from 'cloudflare:workers'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { Router, RouterDefinitionError } from '../../src/bot/router.ts'
import type { Env } from '../../src/env.ts'
import { createApp } from '../../src/http/app.ts'
import { defineMenu, MenuDefinitionError, type MenuKeys } from '../../src/wechat/menu.ts'
import { reply } from '../../src/wechat/reply.ts'
import { menu as testMenu } from '../fixtures/bot.ts'
import { ADMIN_HEADERS } from '../helpers/admin.ts'

const menu = defineMenu([
  { type: 'click', name: 'Today', key: 'TODAY' },
  {
    name: 'More',
    sub_button: [
      { type: 'location_select', name: 'Where', key: 'WHERE' },
      { type: 'view', name: 'Site', url: 'https://example.com' },
    ],
  },
] as const)

describe('defineMenu', () => {
  it('types the keys of keyed buttons, nothing else', () => {
    expectTypeOf<MenuKeys<typeof menu>>().toEqualTypeOf<'TODAY' | 'WHERE'>()
  })

  it.each([
    [[], 'a menu has 1 to 3 buttons, not 0'],
    [
      Array.from({ length: 4 }, (_, i) => ({ type: 'click', name: `B${i}`, key: `K${i}` })),
      'a menu has 1 to 3 buttons, not 4',
    ],
    [
      [
        {
          name: 'Many',
          sub_button: Array.from({ length: 6 }, (_, i) => ({
            type: 'click',
            name: `S${i}`,
            key: `K${i}`,
          })),
        },
      ],
      '1 to 5 sub-buttons',
    ],
    [[{ type: 'click', name: '这是一个很长的名字', key: 'K' }], 'a name is 1 to 16 bytes'],
    [[{ type: 'click', name: 'Key', key: 'k'.repeat(129) }], 'a key is 1 to 128 bytes'],
    [[{ type: 'view', name: 'Bad', url: 'ftp://example.com' }], 'a url is http(s)'],
    [
      [
        { type: 'click', name: 'A', key: 'SAME' },
        { type: 'click', name: 'B', key: 'SAME' },
      ],
      'the key SAME is used twice',
    ],
  ])('refuses what WeChat would refuse: %j', (buttons, reason) => {
    expect(() => defineMenu(buttons as never)).toThrow(MenuDefinitionError)
    expect(() => defineMenu(buttons as never)).toThrow(reason)
  })
})

describe('a bot with a menu', () => {
  it('refuses at start-up a keyed button that no .menu() route handles', () => {
    const bot = new Router<Env>().withMenu(menu).menu('TODAY', () => reply.text('today'))
    expect(() => createApp(bot)).toThrow(RouterDefinitionError)
    expect(() => createApp(bot)).toThrow("the menu's keys WHERE have no .menu() handler")
  })

  it('starts when every keyed button is handled, by name or by pattern', () => {
    const bot = new Router<Env>()
      .withMenu(menu)
      .menu('TODAY', () => reply.text('today'))
      .menu(/^WH/, () => reply.text('where'))
    expect(() => createApp(bot)).not.toThrow()
  })

  it('takes only the menu’s keys in .menu(): another is a compile error', () => {
    const bot = new Router<Env>().withMenu(menu)
    // @ts-expect-error NOT_IN_MENU is none of the menu's keys
    bot.menu('NOT_IN_MENU', () => reply.text('never'))
    expect(bot).toBeInstanceOf(Router)
  })
})

describe('the admin API’s menu', () => {
  const admin = (init: RequestInit = {}) =>
    exports.default.fetch('https://edge.test/admin/menu', { ...init, headers: ADMIN_HEADERS })

  it('publishes the declared menu and reads back what WeChat shows', async () => {
    const published = await admin({ method: 'POST' })
    expect(published.status).toBe(200)
    expect(await published.json()).toEqual({ published: true, menu: testMenu })
    const shown = (await (await admin()).json()) as {
      declared: unknown
      current: { is_menu_open: number; selfmenu_info: { button: { name: string }[] } }
    }
    expect(shown.declared).toEqual(testMenu)
    expect(shown.current.is_menu_open).toBe(1)
    expect(shown.current.selfmenu_info.button.map((button) => button.name)).toEqual(
      testMenu.map((entry) => entry.name),
    )
    expect(shown.current.selfmenu_info.button[1]).toMatchObject({
      sub_button: { list: expect.any(Array) },
    })
  })
})
