/**
 * Part of `npm run check`: the README's table of bindings against wrangler.toml's (read by
 * wrangler itself), so that neither changes without the other. Each row is a binding, its kind
 * and its resource (a queue's name, a Durable Object's class); a binding kind this check does
 * not know fails it, so that a new one gets a row and a place here.
 */

import { readFileSync } from 'node:fs'
import { unstable_readConfig } from 'wrangler'

/** What this check reads of wrangler's config (its published types leave it untyped). */
interface Bindings {
  readonly kv_namespaces: readonly { readonly binding: string }[]
  readonly queues: { readonly producers?: readonly { binding: string; queue: string }[] }
  readonly durable_objects: { readonly bindings: readonly { name: string; class_name: string }[] }
  readonly [kind: string]: unknown
}

const config: Bindings = unstable_readConfig({ config: 'wrangler.toml' })

/** Binding kinds this Worker does not use: declaring one needs a row and a line here. */
const UNLISTED = [
  'r2_buckets',
  'd1_databases',
  'services',
  'vectorize',
  'hyperdrive',
  'analytics_engine_datasets',
  'workflows',
]

const declared = [
  ...config.kv_namespaces.map((kv) => `${kv.binding} | KV namespace | `),
  ...(config.queues.producers ?? []).map((queue) => `${queue.binding} | Queue | ${queue.queue}`),
  ...config.durable_objects.bindings.map((object) => {
    return `${object.name} | Durable Object | ${object.class_name}`
  }),
]

/** The rows of the README's table whose header starts `| binding | kind | resource |`. */
function documented(readme: string): string[] {
  const lines = readme.split('\n')
  const header = lines.findIndex((line) =>
    /^\|\s*binding\s*\|\s*kind\s*\|\s*resource\s*\|/.test(line),
  )
  if (header === -1) return []
  const rows: string[] = []
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break
    const [binding = '', kind = '', resource = ''] = line
      .split('|')
      .slice(1)
      .map((cell) => cell.trim().replaceAll('`', ''))
    rows.push(`${binding} | ${kind} | ${resource}`)
  }
  return rows
}

const problems = UNLISTED.filter((kind) => {
  const bindings = config[kind]
  return Array.isArray(bindings) && bindings.length > 0
}).map((kind) => `wrangler.toml declares ${kind}, which this check does not know yet`)
const inReadme = documented(readFileSync('README.md', 'utf8'))
if (inReadme.length === 0)
  problems.push('README.md has no table headed | binding | kind | resource |')
for (const row of declared.filter((row) => !inReadme.includes(row)))
  problems.push(`missing from README.md: ${row}`)
for (const row of inReadme.filter((row) => !declared.includes(row)))
  problems.push(`in README.md but not in wrangler.toml: ${row}`)

if (problems.length > 0) {
  console.error(`README.md's bindings and wrangler.toml's differ:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log(`README.md names wrangler.toml's ${declared.length} bindings, each as declared`)
