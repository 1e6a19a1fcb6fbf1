/**
 * The words a user sends to act on the assistant rather than ask it: the reset word, and on
 * passive-only accounts the fetch word. Checked once, when the bot makes its assistant, so
 * that a bad one is a start-up error and not a conversation quietly reset by a blank message;
 * trimmed as the handler trims the text it compares them with. Pure.
 */

/**
 * A word is short: the user types it, and the fetch word is quoted in the hint that follows
 * every part of a passive reply, whose bytes come out of WeChat's 2,048.
 */
export const MAX_WORD_CHARS = 20

export interface AssistantWords {
  readonly resetWord: string
  readonly fetchWord: string
}

/**
 * The bot's words, trimmed, or the defaults (`/reset`, `?`). Throws a TypeError naming the
 * option for one that is empty, over {@link MAX_WORD_CHARS} characters, or the other's.
 *
 * @example
 * const { resetWord, fetchWord } = assistantWords({ resetWord: '/forget' })
 */
export function assistantWords(options: Partial<AssistantWords>): AssistantWords {
  const resetWord = checked('resetWord', options.resetWord ?? '/reset')
  const fetchWord = checked('fetchWord', options.fetchWord ?? '?')
  // Else the reset would take the fetch word on a passive-only account: no answer fetched.
  if (resetWord === fetchWord) {
    throw new TypeError(`assistant(): resetWord and fetchWord must differ (both “${resetWord}”)`)
  }
  return { resetWord, fetchWord }
}

function checked(name: keyof AssistantWords, word: string): string {
  const trimmed = word.trim()
  if (trimmed === '') throw new TypeError(`assistant(): ${name} must not be empty`)
  // Characters as the user sees them (code points), not UTF-16 units.
  const chars = [...trimmed].length
  if (chars > MAX_WORD_CHARS) {
    throw new TypeError(
      `assistant(): ${name} must be at most ${MAX_WORD_CHARS} characters (it has ${chars})`,
    )
  }
  return trimmed
}
