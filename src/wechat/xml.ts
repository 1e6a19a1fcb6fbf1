/**
 * The one XML parser, set up for untrusted input: no DOCTYPE (so no entity expansion and no
 * external entities), values kept as strings, attributes ignored, nesting bounded.
 */

import { XMLParser } from 'fast-xml-parser'
import { MalformedPushError } from './errors.ts'

/** A parsed element: text, a nested element, or a repeated tag's values. */
export type XmlNode = string | XmlElement | XmlNode[]
export interface XmlElement {
  [tag: string]: XmlNode
}

const PREDEFINED: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
}

function decodeReference(reference: string, body: string): string {
  if (body[0] !== '#') return PREDEFINED[body] ?? reference
  const code =
    body[1] === 'x' ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10)
  const isXmlChar =
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  return isXmlChar ? String.fromCodePoint(code) : reference
}

/**
 * XML's own references in text (CDATA is never decoded): the five predefined entities and
 * character references. With DOCTYPE refused there are no others, so this replaces the
 * parser's general entity machinery, which costs more than the rest of a parse.
 */
const xmlReferences = {
  decode: (text: string) =>
    text.includes('&')
      ? text.replace(/&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, decodeReference)
      : text,
  setExternalEntities() {},
  addInputEntities() {},
  reset() {},
  setXmlVersion() {},
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  entityDecoder: xmlReferences,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Callbacks are not used: building a path string for every tag is wasted work.
  jPath: false,
  // The deepest push is <xml><SendPicsInfo><PicList><item><PicMd5Sum>.
  maxNestedTags: 8,
})

/**
 * Parses a body into the children of its single `<xml>` root.
 * Throws a {@link MalformedPushError} (400) for anything else.
 *
 * @example
 * parseXmlRoot('<xml><MsgType><![CDATA[text]]></MsgType></xml>') // { MsgType: 'text' }
 */
export function parseXmlRoot(body: string): XmlElement {
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) throw new MalformedPushError('DOCTYPE is not allowed')
  let document: unknown
  try {
    document = parser.parse(body)
  } catch {
    throw new MalformedPushError('body is not well-formed XML')
  }
  if (!isElement(document)) throw new MalformedPushError('body is not well-formed XML')
  const roots = Object.keys(document)
  const root = document.xml
  if (roots.length !== 1 || !isElement(root)) {
    throw new MalformedPushError('expected a single <xml> root element')
  }
  return root
}

export function isElement(node: unknown): node is XmlElement {
  return typeof node === 'object' && node !== null && !Array.isArray(node)
}

/**
 * The text of a child that must appear at most once; `undefined` when absent.
 * A repeated or nested child is malformed.
 */
export function textOf(element: XmlElement, tag: string): string | undefined {
  if (!Object.hasOwn(element, tag)) return undefined
  const node = element[tag]
  if (typeof node === 'string') return node
  if (Array.isArray(node)) throw new MalformedPushError(`${tag} appears more than once`)
  // An element holding only whitespace around nothing is empty text to a lenient reader.
  throw new MalformedPushError(`${tag} must be text`)
}
