import { describe, expect, it } from 'vitest'
import { splitText } from '../../src/wechat/split-text.ts'

const bytes = (text: string) => new TextEncoder().encode(text).length

describe('splitText', () => {
  it('leaves a text within the limit whole', () => {
    expect(splitText('hello', 2048)).toEqual(['hello'])
    expect(splitText('é'.repeat(1024), 2048)).toEqual(['é'.repeat(1024)])
  })

  it.each([
    ['ascii', 'a'.repeat(5000)],
    ['Chinese, 3 bytes a character', '中'.repeat(2000)],
    ['emoji with modifiers, one character of many code points', '👩🏽‍💻'.repeat(400)],
    ['accents as combining marks', 'e\u0301'.repeat(1500)],
    ['lines and sentences', 'One sentence. Another one! A third?\n'.repeat(200)],
  ])('cuts %s within the limit, between characters, joined the original', (_, text) => {
    const parts = splitText(text, 2048)
    expect(parts.length).toBeGreaterThan(1)
    for (const part of parts) expect(bytes(part)).toBeLessThanOrEqual(2048)
    expect(parts.join('')).toBe(text)
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' })
    const whole = [...segmenter.segment(text)].map((s) => s.segment)
    let at = 0
    for (const part of parts.slice(0, -1)) {
      at += part.length
      // Each cut falls on a character boundary of the original.
      expect(whole.reduce((sum, c) => (sum < at ? sum + c.length : sum), 0)).toBe(at)
    }
  })

  it('prefers a line end, then a sentence end, then a space, in the part’s second half', () => {
    const line = `${'x'.repeat(1500)}\n${'y'.repeat(400)}. ${'z'.repeat(300)}`
    expect(splitText(line, 2048)[0]).toBe(`${'x'.repeat(1500)}\n`)
    const sentence = `${'x'.repeat(1500)}. ${'y'.repeat(400)} ${'z'.repeat(300)}`
    expect(splitText(sentence, 2048)[0]).toBe(`${'x'.repeat(1500)}.`)
    const spaced = `${'x'.repeat(1500)} ${'y'.repeat(700)}`
    expect(splitText(spaced, 2048)[0]).toBe(`${'x'.repeat(1500)} `)
    const chinese = `${'字'.repeat(500)}。${'字'.repeat(500)}`
    expect(splitText(chinese, 2048)[0]).toBe(`${'字'.repeat(500)}。`)
  })

  it('does not cut at a line end so early that the part would be tiny', () => {
    const text = `short\n${'x'.repeat(3000)}`
    expect(bytes(splitText(text, 2048)[0] ?? '')).toBe(2048)
  })
})
