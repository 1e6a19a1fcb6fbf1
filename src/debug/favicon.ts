/**
 * The debugging tools' icon, for the console's tab (and the login demo's): without one, a
 * browser asks for /favicon.ico on every load and the dev log shows a 404 each time.
 */

/** A green chat bubble, as SVG (browsers take an SVG icon at any path). */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#07c160"/><path d="M8 9h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-9l-5 4v-4H8a2 2 0 0 1-2-2v-9a2 2 0 0 1 2-2z" fill="#fff"/></svg>'
