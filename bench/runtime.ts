/**
 * The runtime the Worker is deployed with, read by wrangler's own config reader from
 * wrangler.toml, so that every Miniflare the bench starts runs the Worker as deployed.
 */

import { build } from 'esbuild'
import { Miniflare } from 'miniflare'
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

/**
 * A bench Worker (an entry module of bench/ that times our modules from inside workerd),
 * bundled as workerd runs it and started under the deployed runtime.
 *
 * @example
 * const mf = await benchWorker(new URL('./pipeline-worker.ts', import.meta.url))
 */
export async function benchWorker(
  entry: URL,
  options: { compatibilityDate?: string; bindings?: Record<string, string> } = {},
): Promise<Miniflare> {
  const bundle = await build({
    entryPoints: [entry.pathname],
    bundle: true,
    format: 'esm',
    minify: true,
    write: false,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    // The log's request ids (node:async_hooks) are workerd's own, under the deployed flags.
    external: ['node:*'],
  })
  return new Miniflare({
    modules: true,
    script: bundle.outputFiles[0]?.text ?? '',
    compatibilityDate: options.compatibilityDate ?? RUNTIME.compatibilityDate,
    compatibilityFlags: RUNTIME.compatibilityFlags,
    ...(options.bindings && { bindings: options.bindings }),
  })
}
