// The recently used reactions (TODO #165), most recent first, kept per
// device in localStorage (an emoji list names no contact), and the menu's
// React row built from them. Small, so the menu loads it at once; the
// picker and its data come later (emoji.ts, EmojiPicker.svelte).
import { QUICK_EMOJI } from './apply';
import { validEmoji } from './body';
import { reactionForm } from './reactionform';

/** What localStorage offers (tests pass a Map-backed one). */
export type RecentStorage = Pick<Storage, 'getItem' | 'setItem'>;
/** The localStorage key of the recently used reactions (per device, no contact named). */
export const RECENT_KEY = 'kez-recent-reactions';
/** How many recent reactions are kept. */
export const MAX_RECENT = 16;

function browserStorage(): RecentStorage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // a sandboxed frame throws on the mere access
  }
}

/** The recently used reactions, most recent first (at most MAX_RECENT valid, distinct emoji in reactionForm; [] when unreadable). */
export function readRecent(storage: RecentStorage | null = browserStorage()): string[] {
  try {
    const v: unknown = JSON.parse(storage?.getItem(RECENT_KEY) ?? '[]');
    if (!Array.isArray(v)) return [];
    const out: string[] = [];
    for (const e of v) if (typeof e === 'string' && e !== '' && validEmoji(e) && !out.includes(reactionForm(e)) && out.length < MAX_RECENT) out.push(reactionForm(e));
    return out;
  } catch {
    return [];
  }
}

/** Put `emoji` first in the recent list (kept to MAX_RECENT); returns the new list. Storage errors only forget. */
export function pushRecent(emoji: string, storage: RecentStorage | null = browserStorage()): string[] {
  const prev = readRecent(storage);
  if (!emoji || !validEmoji(emoji)) return prev;
  emoji = reactionForm(emoji);
  const next = [emoji, ...prev.filter((e) => e !== emoji)].slice(0, MAX_RECENT);
  try {
    storage?.setItem(RECENT_KEY, JSON.stringify(next));
  } catch {
    /* quota or private mode: the list is not kept */
  }
  return next;
}

/** The React row's six emoji: the recent ones first, then the defaults (QUICK_EMOJI) not among them. */
export function quickRow(recent: readonly string[], size = QUICK_EMOJI.length): string[] {
  const row: string[] = [];
  for (const e of [...recent, ...QUICK_EMOJI]) if (!row.includes(e) && row.length < size) row.push(e);
  return row;
}
