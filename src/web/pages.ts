/**
 * The pages a browser sees when a sign-in cannot land on the website: short, plain, never an
 * errcode of WeChat's (no 40163), a code, a state or a ticket; a link back when the website is
 * known. And the page an administrator authorizes the third-party platform from.
 */

const HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy':
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
}

/** What happened, in words a user can act on. */
export const PAGES = {
  notStarted:
    'This sign-in was not started in this browser, or it has expired. Go back to the website and sign in again.',
  used: 'This sign-in is complete already: its link works once. Go back to the website; sign in again if it asks.',
  refused: 'WeChat no longer accepts this sign-in link. Go back to the website and sign in again.',
  unavailable: 'WeChat could not be reached just now. Reload this page to try again.',
} as const

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
}

/**
 * A page saying `message`, with a link to `back` (the website's origin) when known.
 *
 * @example
 * return clearPage(400, PAGES.used, 'https://shop.example.com')
 */
export function clearPage(
  status: 200 | 400 | 503,
  message: string,
  back: string | null = null,
  title = 'Sign-in',
): Response {
  const link = back ? `<p><a href="${escapeHtml(back)}">Back to ${escapeHtml(back)}</a></p>` : ''
  const heading = escapeHtml(title)
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${heading}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}</style></head><body><h1>${heading}</h1><p id="message">${escapeHtml(message)}</p>${link}</body></html>`
  return new Response(body, { status, headers: HEADERS })
}

/**
 * The page an administrator authorizes the third-party platform from: WeChat's two pages,
 * linked from the platform's own domain, whose origin (and only it) goes as the Referer.
 *
 * @example
 * return authorizationPage(links.desktop, links.mobile)
 */
export function authorizationPage(desktop: string, mobile: string): Response {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Authorize</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}a{display:block;margin:1rem 0}</style></head><body><h1>Authorize your Service Account</h1><p>Sign in as the account's administrator and choose what it allows.</p><a id="desktop" href="${escapeHtml(desktop)}">On a computer: scan with the administrator's WeChat</a><a id="mobile" href="${escapeHtml(mobile)}">In WeChat on a phone</a></body></html>`
  return new Response(body, {
    status: 200,
    headers: { ...HEADERS, 'Referrer-Policy': 'origin' },
  })
}
