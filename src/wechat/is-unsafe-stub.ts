/**
 * Stands in for the `is-unsafe` package in the deployed build (wrangler.toml `[alias]`).
 * fast-xml-parser imports it (17 KiB minified, about 6 KiB gzip) only to vet entities declared
 * in a DOCTYPE, inside its default entity decoder. wechat-edge refuses every DOCTYPE before
 * parsing and gives the parser its own decoder, so the check is never reached; should that
 * ever change, this stand-in calls everything unsafe, which blocks the entity.
 */

export const HTML = 'html'
export const XML = 'xml'

export function isUnsafe(): boolean {
  return true
}
