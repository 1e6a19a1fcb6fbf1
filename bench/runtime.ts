/**
 * The runtime the Worker is deployed with, read by wrangler's own config reader from
 * wrangler.toml, so that every Miniflare the bench starts runs the Worker as deployed.
 */

import { unstable_readConfig } from 'wrangler'

const config = unstable_readConfig({
  config: new URL('../wrangler.toml', import.meta.url).pathname,
})

if (!config.compatibility_date) throw new Error('no compatibility_date in wrangler.toml')

export const RUNTIME = {
  compatibilityDate: config.compatibility_date,
  compatibilityFlags: config.compatibility_flags,
  /** wrangler.toml's `[alias]`: the stand-ins the deployed build uses, for builds of our own. */
  alias: config.alias ?? {},
}
