/**
 * Writes every ```ts block of the README into test/readme/ (git-ignored), its imports pointed
 * at src/, so that `npm run typecheck` compiles the README's examples with the project's own
 * strict settings.
 */

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'

const OUT = 'test/readme'
const readme = readFileSync('README.md', 'utf8')
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? '')

rmSync(OUT, { recursive: true, force: true })
mkdirSync(OUT, { recursive: true })
blocks.forEach((code, index) => {
  const pointed = code.replaceAll(/from '\.\/([^']+)'/g, "from '../../src/$1'")
  writeFileSync(
    `${OUT}/example-${index + 1}.ts`,
    `// From README.md, block ${index + 1}.\n${pointed}`,
  )
})
console.log(`${blocks.length} README examples written to ${OUT}/`)
