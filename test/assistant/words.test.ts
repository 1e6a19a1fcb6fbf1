/**
 * The assistant's words (src/assistant/words.ts): `resetWord` and `fetchWord` are refused when
 * the assistant is made, not when a user happens to send one, and are trimmed as the handler
 * trims what the user sends.
 */

import { describe, expect, it } from 'vitest'
import { assistant } from '../../src/assistant/assistant.ts'
import { assistantWords, MAX_WORD_CHARS } from '../../src/assistant/words.ts'

const system = 'Be brief.'

describe('the assistant’s words', () => {
  it('are /reset and ? unless the bot names others', () => {
    expect(assistantWords({})).toEqual({ resetWord: '/reset', fetchWord: '?' })
    expect(assistantWords({ resetWord: '/forget', fetchWord: '/more' })).toEqual({
      resetWord: '/forget',
      fetchWord: '/more',
    })
  })

  it('are trimmed as the text the user sends is, so that “ /forget ” is matched by /forget', () => {
    expect(assistantWords({ resetWord: ' /forget\n', fetchWord: '\t!' })).toEqual({
      resetWord: '/forget',
      fetchWord: '!',
    })
  })

  it.each([
    [{ resetWord: '' }, 'resetWord must not be empty'],
    [{ resetWord: '   ' }, 'resetWord must not be empty'],
    [{ fetchWord: '' }, 'fetchWord must not be empty'],
    [{ resetWord: 'x'.repeat(MAX_WORD_CHARS + 1) }, `resetWord must be at most ${MAX_WORD_CHARS}`],
    [{ fetchWord: '再'.repeat(MAX_WORD_CHARS + 1) }, `fetchWord must be at most ${MAX_WORD_CHARS}`],
    [{ resetWord: '?' }, 'resetWord and fetchWord must differ'],
    [{ resetWord: ' /x ', fetchWord: '/x' }, 'resetWord and fetchWord must differ'],
  ])('refuse %o when the assistant is made: %s', (words, message) => {
    expect(() => assistant({ system, ...words })).toThrow(message)
  })

  it('count characters, not UTF-16 units: a word of emoji at the bound is taken', () => {
    const word = '🙂'.repeat(MAX_WORD_CHARS)
    expect(assistantWords({ resetWord: word }).resetWord).toBe(word)
    expect(() => assistant({ system, resetWord: word })).not.toThrow()
  })
})
