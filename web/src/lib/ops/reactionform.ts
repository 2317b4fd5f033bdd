// The form a reaction is sent and compared in (SPEC §8.5 "emoji"). A module
// of its own, with no imports, so the main chunk (the chips, the menu's
// quick row) uses it without pulling in the emoji data (emoji.ts).

/**
 * The form a reaction is sent in: VS16 (U+FE0F) dropped after a code point
 * that shows as emoji by default (emojibase and many keyboards write "👍️"
 * where the quick row and other clients send "👍"), kept where it is needed
 * ("❤️", "☺️"). Receivers compare reactions in this form, so one emoji is one
 * chip whichever form it arrived in.
 */
export function reactionForm(s: string): string {
  return s.replace(/(\p{Emoji_Presentation})\uFE0F/gu, '$1');
}

/** Whether two reactions are the same emoji (both non-empty, equal in reactionForm). */
export function sameReaction(a: string, b: string): boolean {
  return a !== '' && b !== '' && reactionForm(a) === reactionForm(b);
}
