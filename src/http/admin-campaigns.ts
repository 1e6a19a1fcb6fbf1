/**
 * The admin API's campaigns and menu (behind the same admin token, mounted by admin.ts): scene
 * QR codes and their counts, and the custom menu the bot declares.
 *
 * - `POST /admin/qrcodes` `{ scene, expireSeconds? }` → 201 `{ scene, ticket, url, image, expiresAt }`
 * - `GET /admin/qrcodes` → what was made; `GET /admin/qrcodes/:scene/stats` → counts per day
 * - `POST /admin/menu` publishes the declared menu; `GET /admin/menu` → WeChat's and ours
 */

import type { Context } from 'hono'
import { Hono } from 'hono/tiny'
import type { Bots } from '../bot/bots.ts'
import { logProblem } from '../log.ts'
import { talkerFor } from '../talk/talk.ts'
import { WechatApiError } from '../wechat/api.ts'
import { LOGIN_SCENE_PREFIX, qrCodeProblem, SCENE_PATTERN } from '../wechat/qrcode.ts'
import type { AccountScoped } from './account-scope.ts'
import { refusalAnswer } from './api-failure.ts'
import { readJsonObject } from './body.ts'

/** The account's campaigns object. */
function campaignsOf(c: Context<AccountScoped>) {
  return c.var.objects.campaigns(c.var.account.talkBack?.appId ?? null)
}

/** WeChat's refusal, logged (never the token: an error names failure and errcode only). */
function refused(error: unknown, what: string) {
  if (!(error instanceof WechatApiError)) throw error
  logProblem(`${what}_failed`, { failure: error.failure, code: error.code })
  return refusalAnswer(error)
}

export function campaignAdmin(bots: Bots) {
  return new Hono<AccountScoped>()
    .post('/qrcodes', async (c) => {
      const wechat = talkerFor(c.env, c.var.account)
      if (!wechat) return c.text('QR codes need the account’s AppID', 503)
      const { scene, expireSeconds } = await readJsonObject(
        c.req.raw,
        1024,
        '{"scene": "…", "expireSeconds": …}',
      )
      if (typeof scene !== 'string') return c.text('scene must be a string', 400)
      if (expireSeconds !== undefined && typeof expireSeconds !== 'number') {
        return c.text('expireSeconds must be a number', 400)
      }
      if (scene.startsWith(LOGIN_SCENE_PREFIX)) {
        return c.text(`scenes starting ${LOGIN_SCENE_PREFIX} are scan to log in's`, 400)
      }
      const request = { scene, ...(expireSeconds !== undefined && { expireSeconds }) }
      const problem = qrCodeProblem(request)
      if (problem) return c.text(problem, 400)
      try {
        const code = await wechat.createQrCode(request)
        const createdAt = Date.now()
        const expiresAt = code.expireSeconds === null ? null : createdAt + code.expireSeconds * 1000
        const made = { scene, ticket: code.ticket, url: code.url, image: code.image, expiresAt }
        await campaignsOf(c).keepQrCode({ ...made, createdAt })
        return c.json(made, 201)
      } catch (error) {
        const { body, status } = refused(error, 'qrcode')
        return c.json(body, status)
      }
    })
    .get('/qrcodes', async (c) => c.json({ qrcodes: await campaignsOf(c).qrCodes() }))
    .get('/qrcodes/:scene/stats', async (c) => {
      const scene = c.req.param('scene')
      if (!SCENE_PATTERN.test(scene)) return c.text('malformed scene', 400)
      return c.json(await campaignsOf(c).stats(scene))
    })
    .post('/menu', async (c) => {
      const wechat = talkerFor(c.env, c.var.account)
      if (!wechat) return c.text('the menu needs the account’s AppID', 503)
      const declaredMenu = bots(c.var.account.id).declaredMenu
      if (!declaredMenu) return c.text('the bot declares no menu (Router.withMenu)', 409)
      try {
        await wechat.createMenu(declaredMenu)
        return c.json({ published: true, menu: declaredMenu })
      } catch (error) {
        const { body, status } = refused(error, 'menu')
        return c.json(body, status)
      }
    })
    .get('/menu', async (c) => {
      const wechat = talkerFor(c.env, c.var.account)
      if (!wechat) return c.text('the menu needs the account’s AppID', 503)
      const declaredMenu = bots(c.var.account.id).declaredMenu
      try {
        return c.json({ declared: declaredMenu, current: await wechat.currentMenu() })
      } catch (error) {
        const { body, status } = refused(error, 'menu')
        return c.json(body, status)
      }
    })
}
