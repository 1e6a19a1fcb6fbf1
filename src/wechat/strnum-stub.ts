/**
 * Stands in for the `strnum` package in the deployed build (wrangler.toml `[alias]`).
 * fast-xml-parser imports it to turn values into numbers, which it does only with
 * `parseTagValue` or for attributes; src/wechat/xml.ts keeps values as strings and ignores
 * attributes, so it is never reached. Should it be, the value stays the string it was.
 */

export default function toNumber(value: string): string {
  return value
}
