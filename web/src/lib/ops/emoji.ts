// The reaction picker's data (TODO #165): every emoji of emojibase-data's
// English compact set (trimmed to the fields read here at build time, see
// vite.config.ts), loaded with import() only when the picker opens: its own
// chunk, never in the first load, and no network beyond this origin. And the
// search over names and keywords. Every offered emoji passes validEmoji
// (SPEC §8.5, tests/emoji.test.ts). The recent reactions are in recent.ts.

/** One emoji the picker offers. */
export interface EmojiEntry {
  /** What a reaction sends: fully qualified, no VS16 after a default-emoji code point. */
  emoji: string;
  /** Its CLDR short name ("thumbs up"). */
  name: string;
  /** Its group (EMOJI_GROUPS id). */
  group: number;
  /** CLDR keywords, lower case. */
  tags: readonly string[];
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

/**
 * The form a reaction is sent in: VS16 (U+FE0F) dropped after a code point
 * that shows as emoji by default (emojibase writes "👍️" where the quick row
 * and other clients send "👍"), kept where it is needed ("❤️", "☺️"); so one
 * emoji is one chip, whichever menu it came from.
 */
export function reactionForm(s: string): string {
  return s.replace(/(\p{Emoji_Presentation})\uFE0F/gu, '$1');
}

/** emojibase-data entries → what the picker offers: grouped ones, skin-tone variants left out, in Unicode's order. */
export function fromEmojibase(data: readonly CompactEmojiLike[]): EmojiEntry[] {
  return data
    .filter((e) => e.group !== undefined && OFFERED_GROUPS.has(e.group))
    .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
    .map((e) => ({ emoji: reactionForm(e.unicode), name: e.label, group: e.group!, tags: (e.tags ?? []).map((t) => t.toLowerCase()) }));
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
  const q = query.trim().toLowerCase().replace(/\s+/g, ' ');
  if (!q) return [];
  const terms = q.split(' ');
  const scored: { e: EmojiEntry; rank: number; i: number }[] = [];
  list.forEach((e, i) => {
    const name = e.name.toLowerCase();
    const words = name.split(/[\s:,-]+/).filter(Boolean);
    const inName = (t: string) => words.some((w) => w.startsWith(t));
    const inTags = (t: string) => e.tags.some((k) => k.startsWith(t));
    if (!terms.every((t) => inName(t) || inTags(t))) return;
    const rank = name === q ? 0 : name.startsWith(q) ? 1 : terms.every(inName) ? 2 : 3;
    scored.push({ e, rank, i });
  });
  return scored
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .slice(0, limit)
    .map((s) => s.e);
}
