/**
 * The custom menu as code: its buttons, checked against WeChat's limits where it is declared,
 * and the keys its keyed buttons carry, as a type, so that a bot's `.menu(key)` handlers are
 * checked against the menu by the compiler. Pure.
 *
 * https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
 * (1 to 3 buttons, each with up to 5 sub-buttons; a button's name at most 16 bytes, a
 * sub-button's 60; a key at most 128 bytes; a URL at most 1,024 bytes.)
 */

import { KEYED_MENU_KIND_LIST } from './push.ts'

/**
 * Buttons whose tap is pushed with their key (a CLICK, a scan, a photo, a location): a tap
 * arrives as the keyed menu event of the button's type.
 */
export const KEYED_BUTTON_TYPES = KEYED_MENU_KIND_LIST

export type KeyedButtonType = (typeof KEYED_BUTTON_TYPES)[number]

export type MenuButton =
  | { readonly type: KeyedButtonType; readonly name: string; readonly key: string }
  | { readonly type: 'view'; readonly name: string; readonly url: string }
  | {
      readonly type: 'miniprogram'
      readonly name: string
      /** Opened where the WeChat client cannot open mini programs. */
      readonly url: string
      readonly appid: string
      readonly pagepath: string
    }
  | {
      readonly type: 'article_id' | 'article_view_limited'
      readonly name: string
      readonly article_id: string
    }

/** A top-level button: one of the above, or a name over up to 5 sub-buttons. */
export type MenuEntry =
  | MenuButton
  | { readonly name: string; readonly sub_button: readonly MenuButton[] }

export type Menu = readonly MenuEntry[]

/** The keys of a menu's keyed buttons, as a union type. */
export type MenuKeys<M extends Menu> = {
  [I in keyof M]: M[I] extends { readonly sub_button: readonly (infer B)[] }
    ? B extends { readonly type: KeyedButtonType; readonly key: infer K extends string }
      ? K
      : never
    : M[I] extends { readonly type: KeyedButtonType; readonly key: infer K extends string }
      ? K
      : never
}[number]

/** A menu WeChat would refuse: thrown where it is declared, at start-up. */
export class MenuDefinitionError extends Error {
  override readonly name = 'MenuDefinitionError'
}

export const MENU_LIMITS = {
  buttons: 3,
  subButtons: 5,
  nameBytes: 16,
  subNameBytes: 60,
  keyBytes: 128,
  urlBytes: 1024,
} as const

const bytes = (text: string) => new TextEncoder().encode(text).length

/** What WeChat would refuse in this menu; empty when it would take it. */
export function menuProblems(menu: Menu): string[] {
  const problems: string[] = []
  if (menu.length < 1 || menu.length > MENU_LIMITS.buttons) {
    problems.push(`a menu has 1 to ${MENU_LIMITS.buttons} buttons, not ${menu.length}`)
  }
  const keys = new Set<string>()
  const checkButton = (button: MenuButton, where: string, nameLimit: number) => {
    if (button.name === '' || bytes(button.name) > nameLimit) {
      problems.push(`${where}: a name is 1 to ${nameLimit} bytes`)
    }
    if ('key' in button) {
      if (!(KEYED_BUTTON_TYPES as readonly string[]).includes(button.type)) {
        problems.push(`${where}: unknown type ${button.type}`)
      }
      if (button.key === '' || bytes(button.key) > MENU_LIMITS.keyBytes) {
        problems.push(`${where}: a key is 1 to ${MENU_LIMITS.keyBytes} bytes`)
      }
      if (keys.has(button.key)) problems.push(`${where}: the key ${button.key} is used twice`)
      keys.add(button.key)
    }
    if ('url' in button && (!/^https?:\/\//.test(button.url) || bytes(button.url) > 1024)) {
      problems.push(`${where}: a url is http(s), at most ${MENU_LIMITS.urlBytes} bytes`)
    }
  }
  menu.forEach((entry, i) => {
    const where = `button ${i + 1} (${entry.name})`
    if (!('sub_button' in entry)) {
      checkButton(entry, where, MENU_LIMITS.nameBytes)
      return
    }
    if (entry.name === '' || bytes(entry.name) > MENU_LIMITS.nameBytes) {
      problems.push(`${where}: a name is 1 to ${MENU_LIMITS.nameBytes} bytes`)
    }
    if (entry.sub_button.length < 1 || entry.sub_button.length > MENU_LIMITS.subButtons) {
      problems.push(`${where}: 1 to ${MENU_LIMITS.subButtons} sub-buttons`)
    }
    entry.sub_button.forEach((button, j) => {
      checkButton(
        button,
        `${where}, sub-button ${j + 1} (${button.name})`,
        MENU_LIMITS.subNameBytes,
      )
    })
  })
  return problems
}

/** Every key the menu's keyed buttons carry. */
export function menuKeys(menu: Menu): string[] {
  return menu.flatMap((entry) =>
    ('sub_button' in entry ? entry.sub_button : [entry]).flatMap((button) =>
      'key' in button ? [button.key] : [],
    ),
  )
}

/**
 * Declares the custom menu, checked against WeChat's limits now (a bad one throws at start-up).
 * Pass it to `Router.withMenu`, and `.menu(key)` handlers are checked against its keys.
 *
 * @example
 * export const menu = defineMenu([
 *   { type: 'click', name: 'Today', key: 'TODAY' },
 *   { name: 'More', sub_button: [{ type: 'view', name: 'Site', url: 'https://example.com' }] },
 * ] as const)
 */
export function defineMenu<const M extends Menu>(menu: M): M {
  const problems = menuProblems(menu)
  if (problems.length > 0) throw new MenuDefinitionError(`menu: ${problems.join('; ')}`)
  return menu
}
