import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { ForgeFields } from '../src/debug/forge.ts'
import { forgePushXml } from '../src/debug/forge.ts'
import { RETENTION_MS } from '../src/receive/retention.ts'
import { MAX_RECEIVED_KEYS } from '../src/user/lifecycle.ts'
import { MAX_RECENT_PUSHES } from '../src/user/profile.ts'
import { migrate, SCHEMA_VERSION } from '../src/user/schema.ts'
import type { UserState } from '../src/user/state.ts'
import { dedupKey } from '../src/wechat/dedup-key.ts'
import type { PushKind } from '../src/wechat/push.ts'
import { parsePush } from '../src/wechat/push.ts'
import { parseXmlRoot } from '../src/wechat/xml.ts'
import { forgedPush, unanswered } from './helpers/pushes.ts'
import { rowCounts } from './helpers/stored.ts'
import { openid } from './helpers/wechat.ts'

function userOf(id: string) {
  return env.USERS.getByName(id)
}

async function apply(id: string, kind: PushKind, fields: ForgeFields = {}) {
  const push = forgedPush(kind, { openid: id, ...fields })
  return (await userOf(id).receive(unanswered(await dedupKey(push, env.WECHAT_TOKEN), push)))
    .outcome
}

function userRows(id: string) {
  return rowCounts(id, ['profile', 'received', 'session', 'tombstone'])
}

describe('UserState', () => {
  it('applies a push once: a redelivery is a no-op', async () => {
    const id = openid('once')
    const push = forgedPush('click', { openid: id, createTime: 1000 })
    const key = await dedupKey(push, env.WECHAT_TOKEN)
    expect(await userOf(id).receive(unanswered(key, push))).toEqual({ outcome: 'received' })
    expect(await userOf(id).receive(unanswered(key, push))).toEqual({ outcome: 'duplicate' })
    expect(await userOf(id).snapshot()).toMatchObject({
      eventCount: 1,
      lastMenuKey: 'V1001_TODAY_MUSIC',
    })
  })

  it('holds the admin view of a user', async () => {
    const id = openid('view')
    await apply(id, 'subscribe', { scene: 'poster', createTime: 100 })
    await apply(id, 'location_report', {
      createTime: 101,
      latitude: 31.2,
      longitude: 121.5,
      precision: 30,
    })
    await apply(id, 'click', { createTime: 102, menuKey: 'NEWS' })
    expect(await userOf(id).snapshot()).toEqual({
      openid: id,
      subscribed: true,
      subscribedAt: 100,
      scene: 'poster',
      location: { latitude: 31.2, longitude: 121.5, precision: 30, at: 101 },
      lastMenuKey: 'NEWS',
      eventCount: 3,
      session: { keys: [], bytes: 0 },
      consents: [],
      notifications: [],
    })
  })

  it('counts two different events of one user in one second as two', async () => {
    const id = openid('same-second')
    await apply(id, 'subscribe', { scene: 'a', createTime: 500 })
    await apply(id, 'location_report', { createTime: 500 })
    expect(await userOf(id).snapshot()).toMatchObject({ eventCount: 2 })
  })

  it('never moves a field back in time', async () => {
    const id = openid('order')
    await apply(id, 'location_report', { createTime: 12, latitude: 12, longitude: 12 })
    await apply(id, 'location_report', { createTime: 10, latitude: 10, longitude: 10 })
    await apply(id, 'click', { createTime: 20, menuKey: 'NEW' })
    await apply(id, 'click', { createTime: 19, menuKey: 'OLD' })
    await apply(id, 'scan', { createTime: 30, scene: 'new' })
    await apply(id, 'subscribe', { createTime: 29, scene: 'old' })
    expect(await userOf(id).snapshot()).toMatchObject({
      location: { latitude: 12, longitude: 12, at: 12 },
      lastMenuKey: 'NEW',
      scene: 'new',
      eventCount: 6,
    })
  })

  it('keeps a bounded log of recent pushes, newest first, without content', async () => {
    const id = openid('recent')
    for (let i = 0; i < MAX_RECENT_PUSHES + 5; i++) {
      await apply(id, 'text', { createTime: 1000 + i, content: `secret ${i}` })
    }
    const recent = await userOf(id).recent()
    expect(recent).toHaveLength(MAX_RECENT_PUSHES)
    expect(recent[0]).toMatchObject({ kind: 'text', createTime: 1000 + MAX_RECENT_PUSHES + 4 })
    expect(JSON.stringify(recent)).not.toContain('secret')
  })
})

describe('what must not create storage', () => {
  it('reads, and writes to tables it does not have, leave a user never seen without storage', async () => {
    const id = openid('untouched')
    const user = userOf(id)
    // Every call an admin read, a job or a send can make before the user's first push.
    expect(await user.snapshot()).toBeNull()
    expect(await user.recent()).toEqual([])
    expect(await user.readSession()).toEqual({})
    expect(await user.reserveSends('job', 0, 1)).toBe('purged')
    await user.confirmSend('job', 0)
    await user.releaseSends('job', [0])
    await user.closeWindows()
    await user.releaseJob('job')
    expect(await user.finishJob('job', 'claimant')).toBe('purged')
    const tables = await runInDurableObject(user, (_, state) =>
      state.storage.sql
        .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
        .toArray()
        .map((row) => row.name)
        .filter((name) => !name.startsWith('_cf')),
    )
    expect(tables).toEqual([])
  })
})

describe('the received-key table stays bounded', () => {
  it(`keeps at most ${MAX_RECEIVED_KEYS} keys once the daily alarm has run`, async () => {
    const id = openid('bounded')
    const user = userOf(id)
    await runInDurableObject(user, async (instance: UserState) => {
      const push = parsePush(
        parseXmlRoot(forgePushXml('location_report', { openid: id, createTime: 1 })),
      )
      for (let i = 0; i < MAX_RECEIVED_KEYS + 10; i++)
        await instance.receive(unanswered(`k${i}`, push))
    })
    expect(await runDurableObjectAlarm(user)).toBe(true)
    expect((await userRows(id)).received).toBe(MAX_RECEIVED_KEYS)
    expect(await user.snapshot()).toMatchObject({ eventCount: MAX_RECEIVED_KEYS + 10 })
  })

  it('stays bounded on write too: a flood from one OpenID between two alarms', async () => {
    const id = openid('flood')
    const user = userOf(id)
    await runInDurableObject(user, async (instance: UserState) => {
      const push = parsePush(
        parseXmlRoot(forgePushXml('location_report', { openid: id, createTime: 1 })),
      )
      for (let i = 0; i < MAX_RECEIVED_KEYS + 200; i++)
        await instance.receive(unanswered(`k${i}`, push))
    })
    // No alarm has run: the trim every hundred pushes kept the table near its bound.
    expect((await userRows(id)).received).toBeLessThanOrEqual(MAX_RECEIVED_KEYS + 100)
    expect(await user.snapshot()).toMatchObject({ eventCount: MAX_RECEIVED_KEYS + 200 })
  })

  it('forgets keys past their retention when the alarm runs', async () => {
    const id = openid('expiry')
    await apply(id, 'click', { createTime: 1 })
    await apply(id, 'click', { createTime: 2 })
    await runInDurableObject(userOf(id), (_: UserState, state) => {
      state.storage.sql.exec(
        'UPDATE received SET received_at = received_at - ? WHERE create_time = 1',
        RETENTION_MS + 1,
      )
    })
    expect(await runDurableObjectAlarm(userOf(id))).toBe(true)
    expect(await userRows(id)).toMatchObject({ received: 1, profile: 1 })
    // The alarm is set again for the key that is left.
    expect(
      await runInDurableObject(userOf(id), (_: UserState, state) => state.storage.getAlarm()),
    ).not.toBeNull()
  })
})

describe('the unfollow purge', () => {
  it('leaves nothing of the user but a tombstone with the unsubscribe time', async () => {
    const id = openid('purge')
    await apply(id, 'subscribe', { scene: 'x', createTime: 100 })
    await apply(id, 'location_report', { createTime: 101 })
    await apply(id, 'text', { createTime: 102 })
    expect(await apply(id, 'unsubscribe', { createTime: 103 })).toBe('purged')
    expect(await userOf(id).snapshot()).toBeNull()
    expect(await userOf(id).recent()).toEqual([])
    expect(await userRows(id)).toEqual({ profile: 0, received: 0, session: 0, tombstone: 1 })
    const tombstone = await runInDurableObject(userOf(id), (_: UserState, state) =>
      state.storage.sql.exec('SELECT * FROM tombstone').toArray(),
    )
    // The time, and when its alarm sweeps the dead letters: nothing else.
    expect(tombstone).toEqual([
      { id: 1, unsubscribed_at: 103, expires_at: expect.any(Number), sweep_at: expect.any(Number) },
    ])
  })

  it('refuses a late push from before the unfollow', async () => {
    const id = openid('late')
    await apply(id, 'subscribe', { createTime: 100 })
    await apply(id, 'unsubscribe', { createTime: 110 })
    expect(await apply(id, 'location_report', { createTime: 105 })).toBe('stale')
    expect(await apply(id, 'text', { createTime: 110 })).toBe('stale')
    expect(await userOf(id).snapshot()).toBeNull()
  })

  it('starts clean on a later follow', async () => {
    const id = openid('refollow')
    await apply(id, 'subscribe', { scene: 'first', createTime: 100 })
    await apply(id, 'click', { createTime: 101, menuKey: 'OLD' })
    await apply(id, 'unsubscribe', { createTime: 110 })
    expect(await apply(id, 'subscribe', { createTime: 120 })).toBe('received')
    expect(await userOf(id).snapshot()).toEqual({
      openid: id,
      subscribed: true,
      subscribedAt: 120,
      scene: null,
      location: null,
      lastMenuKey: null,
      eventCount: 1,
      session: { keys: [], bytes: 0 },
      consents: [],
      notifications: [],
    })
    // The tombstone stays, holding the time only: a push from before the unfollow, delivered
    // late (a Queue retry, a replayed dead letter), still brings nothing back.
    expect((await userRows(id)).tombstone).toBe(1)
    expect(await apply(id, 'click', { createTime: 105, menuKey: 'LATE' })).toBe('stale')
    expect(await userOf(id).snapshot()).toMatchObject({ lastMenuKey: null, eventCount: 1 })
  })

  it('lets the tombstone expire on its own, leaving storage empty', async () => {
    const id = openid('tomb')
    await apply(id, 'subscribe', { createTime: 100 })
    await apply(id, 'unsubscribe', { createTime: 101 })
    await runInDurableObject(userOf(id), (_: UserState, state) => {
      state.storage.sql.exec('UPDATE tombstone SET expires_at = 0')
    })
    expect(await runDurableObjectAlarm(userOf(id))).toBe(true)
    const left = await runInDurableObject(userOf(id), async (_: UserState, state) => ({
      tables: state.storage.sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%'",
        )
        .toArray(),
      alarm: await state.storage.getAlarm(),
    }))
    expect(left).toEqual({ tables: [], alarm: null })
  })

  it('purges on the admin call too, alarms included', async () => {
    const id = openid('admin-purge')
    await apply(id, 'click', { createTime: 100 })
    await userOf(id).purge()
    expect(await userOf(id).snapshot()).toBeNull()
    expect(await userRows(id)).toMatchObject({ profile: 0, received: 0, session: 0 })
  })
})

/** A current object's tables as version 1 had them: what later migrations added, taken out. */
function asVersion1(sql: SqlStorage) {
  for (const column of [
    'follow_scene',
    'message_window_at',
    'message_window_used',
    'event_window_at',
    'event_window_used',
  ]) {
    sql.exec(`ALTER TABLE profile DROP COLUMN ${column}`)
  }
  sql.exec(
    'CREATE TABLE windows (kind TEXT PRIMARY KEY, opened_at INTEGER NOT NULL, used INTEGER NOT NULL) WITHOUT ROWID',
  )
  // Migration 4's notifications: the consents and the outbox's notification columns.
  sql.exec('DROP TABLE consents')
  for (const column of ['channel', 'template_id', 'msg_id', 'outcome']) {
    sql.exec(`ALTER TABLE outbox DROP COLUMN ${column}`)
  }
  // The AI assistant's tables (migration 5).
  sql.exec('DROP TABLE assistant_asks')
  sql.exec('DROP TABLE assistant_memory')
}

describe('the versioned schema', () => {
  it('brings an object at version 1 to the follow’s scene and windows in the profile', async () => {
    const id = openid('version1')
    await apply(id, 'text', { createTime: 100 })
    const columns = await runInDurableObject(userOf(id), (_: UserState, state) => {
      const sql = state.storage.sql
      sql.exec(`DROP TABLE schema_version_${SCHEMA_VERSION}`)
      asVersion1(sql)
      sql.exec(`INSERT INTO windows (kind, opened_at, used) VALUES ('message', 1000, 2)`)
      sql.exec('CREATE TABLE schema_version_1 (unused INTEGER)')
      migrate(sql)
      return {
        followScene: sql.exec('SELECT follow_scene FROM profile').one().follow_scene,
        // The window moved into the profile row, its count with it.
        window: sql
          .exec('SELECT message_window_at AS at, message_window_used AS used FROM profile')
          .one(),
        profile: sql.exec('SELECT count(*) AS n FROM profile').one().n,
        version: sql
          .exec<{ name: string }>(
            `SELECT name FROM sqlite_master WHERE name LIKE 'schema_version_%'`,
          )
          .toArray()
          .map((row) => row.name),
      }
    })
    expect(columns).toEqual({
      followScene: null,
      window: { at: 1000, used: 2 },
      profile: 1,
      version: [`schema_version_${SCHEMA_VERSION}`],
    })
  })

  it('brings an object made before versioning up to date, once', async () => {
    const id = openid('legacy')
    await apply(id, 'text', { createTime: 100 })
    const tables = await runInDurableObject(userOf(id), (_: UserState, state) => {
      const sql = state.storage.sql
      // As such an object was: no version row, no jobs table, job claims in the outbox, no
      // scene of the follow, windows in a table of their own.
      sql.exec(`DROP TABLE schema_version_${SCHEMA_VERSION}`)
      asVersion1(sql)
      sql.exec('DROP TABLE jobs')
      sql.exec('DROP TABLE tombstone')
      sql.exec(
        'CREATE TABLE tombstone (id INTEGER PRIMARY KEY CHECK (id = 1), unsubscribed_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)',
      )
      sql.exec(
        `INSERT INTO outbox (job, idx, state, grant_kind, at) VALUES ('later:x', -2, 'claimed', 'm', 0)`,
      )
      migrate(sql)
      migrate(sql)
      return {
        version: sql
          .exec<{ name: string }>(
            `SELECT name FROM sqlite_master WHERE name LIKE 'schema_version_%'`,
          )
          .toArray()
          .map((row) => row.name),
        claimsInOutbox: sql.exec('SELECT 1 FROM outbox WHERE idx < 0').toArray().length,
        jobs: sql.exec('SELECT count(*) AS n FROM jobs').one().n,
        profile: sql.exec('SELECT count(*) AS n FROM profile').one().n,
      }
    })
    expect(tables).toEqual({
      version: [`schema_version_${SCHEMA_VERSION}`],
      claimsInOutbox: 0,
      jobs: 0,
      profile: 1,
    })
  })
})
