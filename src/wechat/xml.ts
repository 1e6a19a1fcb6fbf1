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
  // The ordered form skips the library's own conversion to objects, which costs as much as the
  // parse; toElement below does the little conversion pushes need, about twice as fast.
  preserveOrder: true,
  // The deepest push is <xml><SendPicsInfo><PicList><item><PicMd5Sum>.
  maxNestedTags: 8,
})

/** The parser's ordered form: each node is `{ tag: children }` or `{ '#text': text }`. */
type OrderedNode = Record<string, OrderedNode[] | string>

/**
 * An element from its ordered children: text alone becomes a string (text and CDATA joined in
 * document order); child elements become properties, a repeated tag an array. Text between
 * child elements is layout and is dropped.
 */
function toElement(children: OrderedNode[]): XmlElement | string {
  let text = ''
  let element: XmlElement | undefined
  for (const child of children) {
    for (const tag in child) {
      const value = child[tag]
      if (typeof value === 'string') {
        text += value
        continue
      }
      if (value === undefined) continue
      element ??= {}
      const node = toElement(value)
      const existing = element[tag]
      if (existing === undefined) element[tag] = node
      else if (Array.isArray(existing)) existing.push(node)
      else element[tag] = [existing, node]
    }
  }
  return element ?? text
}

const DECLARATION = /^<!(DOCTYPE|ENTITY)/i
const MAYBE_DECLARATION = /<!(?:DOCTYPE|ENTITY)/i

/** Markup whose content is not markup: skipped whole, as an XML tokenizer reads it. */
const OPAQUE: readonly [open: string, close: string][] = [
  ['<!--', '-->'],
  ['<![CDATA[', ']]>'],
  ['<?', '?>'],
]

/**
 * Whether the markup declares a DOCTYPE or entities anywhere an XML parser would read it as a
 * declaration. The body is read as a tokenizer reads it: comments, processing instructions and
 * CDATA sections are skipped whole, so `<!DOCTYPE html>` inside CDATA is a follower's text, and
 * a DOCTYPE between two comments (`<!-- <![CDATA[ --><!DOCTYPE …><!-- ]]> -->`) is a DOCTYPE.
 * Any such section left open counts as a declaration: nothing hides behind it.
 */
export function declaresEntities(body: string): boolean {
  // Most bodies hold no such word at all, and then no reading of them can find a declaration.
  if (!MAYBE_DECLARATION.test(body)) return false
  let at = body.indexOf('<')
  while (at !== -1) {
    const opaque = OPAQUE.find(([open]) => body.startsWith(open, at))
    if (opaque) {
      const end = body.indexOf(opaque[1], at + opaque[0].length)
      if (end === -1) return true
      at = end + opaque[1].length
    } else {
      if (DECLARATION.test(body.slice(at, at + 9))) return true
      at += 1
    }
    at = body.indexOf('<', at)
  }
  return false
}

/**
 * Parses a body into the children of its single `<xml>` root.
 * Throws a {@link MalformedPushError} (400) for anything else.
 *
 * @example
 * parseXmlRoot('<xml><MsgType><![CDATA[text]]></MsgType></xml>') // { MsgType: 'text' }
 */
export function parseXmlRoot(body: string): XmlElement {
  if (declaresEntities(body)) throw new MalformedPushError('DOCTYPE is not allowed')
  let document: unknown
  try {
    document = parser.parse(body)
  } catch {
    throw new MalformedPushError('body is not well-formed XML')
  }
  const roots = Array.isArray(document) ? (document as OrderedNode[]) : []
  const [root] = roots
  const children = root?.xml
  if (roots.length !== 1 || !Array.isArray(children)) {
    throw new MalformedPushError('expected a single <xml> root element')
  }
  const element = toElement(children)
  return typeof element === 'string' ? {} : element
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
