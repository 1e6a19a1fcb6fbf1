/**
 * Long text for customer-service messages: WeChat refuses a text past about 2,048 bytes of
 * UTF-8 (45002; a community-measured figure, WeChat states none), so it goes out in parts. Each
 * part is within the limit, cut between characters (grapheme clusters: an emoji or a letter with
 * its accents stays whole), at a line end where there is one in the part's second half, else at
 * a sentence end, else at a space; joined, the parts are the original. Pure.
 */

/** The default limit, in bytes of UTF-8 (the `TEXT_LIMIT_BYTES` setting overrides it). */
export const TEXT_LIMIT_BYTES = 2048

const encoder = new TextEncoder()
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** Where a cut is best made after this character: a line end, a sentence end, a space. */
function cutRank(character: string, next: string | undefined): number {
  if (character === '\n' || character === '\r\n') return 3
  const spaceFollows = next === undefined || /^\s/.test(next)
  if (/^[。！？；…]$/.test(character) || (/^[.!?;]$/.test(character) && spaceFollows)) return 2
  if (/^\s$/.test(character)) return 1
  return 0
}

/**
 * @example
 * splitText('a'.repeat(5000), 2048) // three parts: 2048, 2048 and 904 bytes
 */
export function splitText(text: string, limitBytes = TEXT_LIMIT_BYTES): string[] {
  if (encoder.encode(text).length <= limitBytes) return [text]
  const characters = [...graphemes.segment(text)].flatMap(({ segment }) =>
    // A single character past the limit (it takes hundreds of combining marks) is cut by code point.
    encoder.encode(segment).length > limitBytes ? [...segment] : [segment],
  )
  const sizes = characters.map((character) => encoder.encode(character).length)
  const parts: string[] = []
  let start = 0
  while (start < characters.length) {
    let end = start
    let bytes = 0
    while (end < characters.length && bytes + (sizes[end] ?? 0) <= limitBytes) {
      bytes += sizes[end] ?? 0
      end++
    }
    if (end < characters.length) end = bestCut(characters, sizes, start, end, limitBytes)
    parts.push(characters.slice(start, end).join(''))
    start = end
  }
  return parts
}

/** The best place to end a part that could run to `end`, searched in its second half. */
function bestCut(
  characters: readonly string[],
  sizes: readonly number[],
  start: number,
  end: number,
  limitBytes: number,
): number {
  let best = end
  let bestRank = 0
  let bytes = 0
  for (let i = start; i < end; i++) {
    bytes += sizes[i] ?? 0
    if (bytes < limitBytes / 2) continue
    const rank = cutRank(characters[i] ?? '', characters[i + 1])
    if (rank >= bestRank && rank > 0) {
      best = i + 1
      bestRank = rank
    }
  }
  return best
}
