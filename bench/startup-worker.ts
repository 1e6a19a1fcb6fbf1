/**
 * A Worker that reads the configuration `n` times per request, each time from a fresh copy of
 * its env (readConfig keeps one Config per env object, so a copy is a first read, as a fresh
 * isolate's first request makes), with `WECHAT_ACCOUNTS` set to the binding `accounts` names:
 * one account or fifty. Timed from outside as the pipeline Worker is: (T(n) − T(0)) / n.
 */

import { readConfig } from '../src/config.ts'
import type { Env } from '../src/env.ts'

export default {
  async fetch(request: Request, env: Env & Record<string, string>): Promise<Response> {
    const url = new URL(request.url)
    const accounts = env[url.searchParams.get('accounts') ?? ''] ?? ''
    const n = Number(url.searchParams.get('n') ?? '0')
    let served = 0
    for (let i = 0; i < n; i++) {
      served += readConfig({ ...env, WECHAT_ACCOUNTS: accounts }).accounts.size
    }
    return new Response(String(served))
  },
}
