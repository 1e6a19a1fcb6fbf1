/**
 * Stands in for the `@nodable/entities` package in the deployed build (wrangler.toml
 * `[alias]`). fast-xml-parser imports it for its default entity decoder and the HTML entity
 * tables; wechat-edge always gives the parser its own decoder (src/wechat/xml.ts), so neither
 * is reached. Should that ever change, building the default decoder throws, and no push parses.
 */

export const XML = {}
export const COMMON_HTML = {}
export const CURRENCY = {}
export const ENTITY_ACTION = { ALLOW: 'allow', BLOCK: 'block' }

export class EntityDecoder {
  constructor() {
    throw new Error('fast-xml-parser must be given the decoder of src/wechat/xml.ts')
  }
}
