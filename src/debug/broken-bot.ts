/**
 * What `npm run dev` serves while the bot cannot be built (a keyed menu button without a
 * `.menu()` handler, two `later()` routes with one name: a RouterDefinitionError): every
 * request is answered 503 naming the error, a page for a browser, so that the dev server keeps
 * running and reloads the bot once it is fixed. Production refuses to start instead
 * (src/index.ts builds the app when its module loads).
 */

import type { Env } from '../env.ts'

/** The error's class and message, as the developer needs them: `RouterDefinitionError: …`. */
function described(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

/** The error's words in HTML: a message may quote the bot's own strings. */
function escapeHtml(text: string): string {
  const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }
  return text.replace(/[&<>"]/g, (char) => entities[char] ?? char)
}

/** A page for a browser, so that the console's tab says what is wrong rather than "503". */
function page(cause: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wechat-edge · the bot cannot run</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#191919}pre{background:#fde2e1;color:#a8201a;padding:.8rem;border-radius:6px;white-space:pre-wrap}</style>
</head><body>
<h1>The bot cannot run as written</h1>
<pre>${escapeHtml(cause)}</pre>
<p>Building the Worker around <code>src/default-bot.ts</code> failed, so every request is answered
503 with this reason. Fix the bot and save: the dev server reloads it and this page goes away.
A deployed Worker would refuse to start with the same error.</p>
</body></html>`
}

/**
 * @example
 * const worker = import('../default-bot.ts').then(build).catch(brokenBotWorker)
 */
export function brokenBotWorker(error: unknown) {
  const cause = described(error)
  console.error(
    `✘ The bot cannot run as written: ${cause}. Every request is answered 503 until it is fixed.`,
  )
  return {
    fetch(request: Request): Response {
      const browser = request.headers.get('Accept')?.includes('text/html') === true
      return browser
        ? new Response(page(cause), {
            status: 503,
            headers: { 'Content-Type': 'text/html; charset=utf-8' },
          })
        : new Response(`the bot cannot run as written: ${cause}\n`, { status: 503 })
    },
    queue(batch: MessageBatch, _env: Env): void {
      // Kept for the fixed bot: the Queue delivers them again once the dev server reloads it.
      batch.retryAll({ delaySeconds: 10 })
    },
  }
}
