// The reaction picker's data (TODO #165): every emoji of emojibase-data's
// English compact set (trimmed to the fields read here at build time, see
// vite.config.ts), loaded with import() when the picker first opens: a chunk
// of its own, which the service worker precaches at install (downloaded, not
// parsed) but the first render never waits for; no network beyond this
// origin. And the search over names and keywords. Every offered emoji passes
// validEmoji (SPEC §8.5, tests/emoji.test.ts). The recent reactions are in
// recent.ts, the sending form in reactionform.ts.
import { reactionForm } from './reactionform';

export { reactionForm };

/** One emoji the picker offers. */
export interface EmojiEntry {
  /** What a reaction sends: fully qualified, no VS16 after a default-emoji code point. */
  emoji: string;
  /** Its CLDR short name ("thumbs up"). */
  name: string;
  /** Its group (EMOJI_GROUPS id). */
  group: number;
  /** CLDR keywords, lower case (’ written '). */
  tags: readonly string[];
  /** The name's words, lower case (’ written '), split as a query is (searchEmoji). */
  words: readonly string[];
}

/** The fields of an emojibase-data compact entry the picker reads. */
export interface CompactEmojiLike {
  unicode: string;
  label: string;
  group?: number;
  order?: number;
  tags?: readonly string[];
}

/** The picker's tabs, in emojibase's group numbers (2, skin tones and hair parts, is left out). */
export const EMOJI_GROUPS: readonly { id: number; name: string; icon: string }[] = [
  { id: 0, name: 'Smileys & emotion', icon: '😀' },
  { id: 1, name: 'People & hands', icon: '👋' },
  { id: 3, name: 'Animals & nature', icon: '🐻' },
  { id: 4, name: 'Food & drink', icon: '🍔' },
  { id: 5, name: 'Travel & places', icon: '🚗' },
  { id: 6, name: 'Activities', icon: '⚽' },
  { id: 7, name: 'Objects', icon: '💡' },
  { id: 8, name: 'Symbols', icon: '🔣' },
  { id: 9, name: 'Flags', icon: '🏁' },
];
const OFFERED_GROUPS = new Set(EMOJI_GROUPS.map((g) => g.id));

/** emojibase-data entries → what the picker offers: grouped ones, skin-tone variants left out, in Unicode's order. */
export function fromEmojibase(data: readonly CompactEmojiLike[]): EmojiEntry[] {
  return data
    .filter((e) => e.group !== undefined && OFFERED_GROUPS.has(e.group))
    .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
    .map((e) => ({ emoji: reactionForm(e.unicode), name: e.label, group: e.group!, tags: (e.tags ?? []).map(fold), words: searchWords(e.label) }));
}

/** Lower case, with the typographic apostrophe (’) written as ' (names hold "man’s shoe"). */
function fold(s: string): string {
  return s.toLowerCase().replace(/’/g, "'");
}

/** The words of a name or a query: split on white space, ':', ',' and '-' ("flag: France", "thumbs-up"). */
export function searchWords(s: string): string[] {
  return fold(s).split(/[\s:,-]+/).filter(Boolean);
}

let loading: Promise<EmojiEntry[]> | null = null;
/** The offered emoji, loaded once (a separate chunk). */
export function loadEmoji(): Promise<EmojiEntry[]> {
  loading ??= import('emojibase-data/en/compact.json').then((m) => fromEmojibase(m.default)).catch((err: unknown) => {
    loading = null; // a failed chunk load may be retried on the next open
    throw err;
  });
  return loading;
}

/**
 * The entries matching `query` (every word of it starts a word of the name
 * or a keyword), best first: the name itself, then names starting with the
 * query, then a name word, then keywords only; Unicode order within each.
 */
export function searchEmoji(list: readonly EmojiEntry[], query: string, limit = 96): EmojiEntry[] {
  const terms = searchWords(query);
  if (!terms.length) return [];
  const q = terms.join(' ');
  const scored: { e: EmojiEntry; rank: number; i: number }[] = [];
  list.forEach((e, i) => {
    const inName = (t: string) => e.words.some((w) => w.startsWith(t));
    const inTags = (t: string) => e.tags.some((k) => k.startsWith(t));
    if (!terms.every((t) => inName(t) || inTags(t))) return;
    const name = e.words.join(' ');
    const rank = name === q ? 0 : name.startsWith(q) ? 1 : terms.every(inName) ? 2 : 3;
    scored.push({ e, rank, i });
  });
  return scored
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .slice(0, limit)
    .map((s) => s.e);
}
