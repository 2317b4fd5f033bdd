// The reaction picker's data, search and recent list (emoji.ts, recent.ts, TODO #165).
import { describe, expect, it } from 'vitest';
import { QUICK_EMOJI, reactionChips } from '../src/lib/ops/apply';
import { validEmoji } from '../src/lib/ops/body';
import { EMOJI_GROUPS, fromEmojibase, loadEmoji, reactionForm, searchEmoji, type EmojiEntry } from '../src/lib/ops/emoji';
import { MAX_RECENT, RECENT_KEY, pushRecent, quickRow, readRecent, type RecentStorage } from '../src/lib/ops/recent';
import { sameReaction } from '../src/lib/ops/reactionform';
import { placeMenu, visibleView } from '../src/lib/ops/place';
import type { Reaction } from '../src/lib/records';

function mapStorage(): RecentStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v) };
}

describe('the offered emoji', () => {
  it('every one passes validEmoji, distinct, in every tab, with a name', async () => {
    const list = await loadEmoji();
    expect(list.length).toBeGreaterThan(1800);
    const bad = list.filter((e) => !validEmoji(e.emoji) || e.emoji === '');
    expect(bad.map((e) => `${e.emoji} ${e.name}`)).toEqual([]);
    expect(new Set(list.map((e) => e.emoji)).size).toBe(list.length);
    for (const g of EMOJI_GROUPS) expect(list.some((e) => e.group === g.id), g.name).toBe(true);
    expect(list.every((e) => e.name.length > 0)).toBe(true);
    // No skin-tone swatch or lone regional indicator offered as a reaction.
    expect(list.some((e) => e.emoji === '🏻' || e.emoji === '🇦')).toBe(false);
  });

  it('the data chunk is trimmed at build time (vite.config.ts emojiData)', async () => {
    const raw: object[] = (await import('emojibase-data/en/compact.json')).default;
    expect(raw.length).toBe((await loadEmoji()).length);
    expect(raw.some((e) => 'skins' in e || 'hexcode' in e || 'emoticon' in e)).toBe(false);
  });

  it('the quick defaults are among them, in the same form (one emoji, one chip)', async () => {
    const all = new Set((await loadEmoji()).map((e) => e.emoji));
    for (const q of QUICK_EMOJI) expect(all.has(q), q).toBe(true);
  });

  it('reactionForm drops VS16 only after a default-emoji code point', () => {
    expect(reactionForm('👍\uFE0F')).toBe('👍');
    expect(reactionForm('😐\uFE0F')).toBe('😐');
    expect(reactionForm('❤️')).toBe('❤️');
    expect(reactionForm('☺️')).toBe('☺️');
    expect(reactionForm('🏳️‍🌈')).toBe('🏳️‍🌈');
    expect(reactionForm('#️⃣')).toBe('#️⃣');
  });

  it('fromEmojibase leaves out ungrouped and component entries, sorts by order', () => {
    const out = fromEmojibase([
      { unicode: '😃', label: 'b', group: 0, order: 2 },
      { unicode: '🇦', label: 'regional indicator A' },
      { unicode: '🏻', label: 'light skin tone', group: 2, order: 0 },
      { unicode: '😀', label: 'a', group: 0, order: 1, tags: ['Grin'] },
    ]);
    expect(out).toEqual([
      { emoji: '😀', name: 'a', group: 0, tags: ['grin'], words: ['a'] },
      { emoji: '😃', name: 'b', group: 0, tags: [], words: ['b'] },
    ]);
  });
});

describe('search', () => {
  it('by name and keyword, best match first', async () => {
    const list = await loadEmoji();
    expect(searchEmoji(list, 'fire')[0]?.emoji).toBe('🔥');
    expect(searchEmoji(list, 'thumbs').map((e) => e.emoji).slice(0, 2)).toEqual(['👍', '👎']);
    expect(searchEmoji(list, '  Thumbs   UP ')[0]?.emoji).toBe('👍');
    expect(searchEmoji(list, 'heart').map((e) => e.emoji)).toContain('❤️');
    // A keyword only (🔥's tags hold "lit").
    expect(searchEmoji(list, 'lit').map((e) => e.emoji)).toContain('🔥');
    expect(searchEmoji(list, 'pizza')[0]?.emoji).toBe('🍕');
  });

  it('splits the query as it splits names (space : , -), with ’ and \' alike', async () => {
    const list = await loadEmoji();
    expect(searchEmoji(list, 'flag: France')[0]?.emoji).toBe('🇫🇷');
    expect(searchEmoji(list, 'Flag:France')[0]?.emoji).toBe('🇫🇷');
    expect(searchEmoji(list, 'flag: f').map((e) => e.emoji)).toContain('🇫🇷');
    expect(searchEmoji(list, 'thumbs-up')[0]?.emoji).toBe('👍');
    expect(searchEmoji(list, "man's shoe")[0]?.emoji).toBe('👞');
    expect(searchEmoji(list, 'man’s shoe')[0]?.emoji).toBe('👞');
    expect(searchEmoji(list, ' :,- ')).toEqual([]);
  });

  it('words must each match the start of a word; nothing or blank finds nothing', () => {
    const list: EmojiEntry[] = fromEmojibase([
      { unicode: '😂', label: 'face with tears of joy', group: 0, order: 1, tags: ['laugh'] },
      { unicode: '😢', label: 'crying face', group: 0, order: 2, tags: ['sad', 'tear'] },
      { unicode: '🙂', label: 'face', group: 0, order: 3 },
    ]);
    expect(searchEmoji(list, 'face').map((e) => e.emoji)).toEqual(['🙂', '😂', '😢']);
    expect(searchEmoji(list, 'tear').map((e) => e.emoji)).toEqual(['😂', '😢']);
    expect(searchEmoji(list, 'ace')).toEqual([]);
    expect(searchEmoji(list, 'joy laugh').map((e) => e.emoji)).toEqual(['😂']);
    expect(searchEmoji(list, '   ')).toEqual([]);
    expect(searchEmoji(list, 'face', 1)).toHaveLength(1);
  });
});

describe('recently used', () => {
  it('most recent first, distinct, at most MAX_RECENT, persisted under RECENT_KEY', () => {
    const s = mapStorage();
    expect(readRecent(s)).toEqual([]);
    pushRecent('👍', s);
    pushRecent('🔥', s);
    expect(pushRecent('👍', s)).toEqual(['👍', '🔥']);
    expect(readRecent(s)).toEqual(['👍', '🔥']);
    expect([...s.map.keys()]).toEqual([RECENT_KEY]);
    // Kept in the sending form: "👍\uFE0F" is the 👍 already there.
    expect(pushRecent('👍\uFE0F', s)).toEqual(['👍', '🔥']);
    const many = ['😀', '😃', '😄', '😁', '😆', '😅', '🤣', '😂', '🙂', '🙃', '🫠', '😉', '😊', '😇', '🥰', '😍', '🤩', '😘'];
    for (const e of many) pushRecent(e, s);
    const r = readRecent(s);
    expect(r).toHaveLength(MAX_RECENT);
    expect(r[0]).toBe('😘');
    expect(r).not.toContain('👍');
  });

  it('refuses a removal, a word or an invalid emoji; ignores tampered storage', () => {
    const s = mapStorage();
    pushRecent('', s);
    pushRecent('LOL', s);
    expect(readRecent(s)).toEqual([]);
    s.map.set(RECENT_KEY, JSON.stringify(['🔥', 'SCAM.COM', 7, '🔥', '👍']));
    expect(readRecent(s)).toEqual(['🔥', '👍']);
    s.map.set(RECENT_KEY, '{not json');
    expect(readRecent(s)).toEqual([]);
    s.map.set(RECENT_KEY, JSON.stringify(Array.from({ length: 40 }, () => '🔥').concat(Array(30).fill('👍'))));
    expect(readRecent(s)).toEqual(['🔥', '👍']);
  });

  it('storage that throws or is missing: no exception, nothing kept', () => {
    const broken: RecentStorage = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      },
    };
    expect(readRecent(broken)).toEqual([]);
    expect(pushRecent('🔥', broken)).toEqual(['🔥']);
    expect(readRecent(null)).toEqual([]);
  });

  it('the quick row: six, recent ones first, then the defaults', () => {
    expect(quickRow([])).toEqual([...QUICK_EMOJI]);
    expect(quickRow(['🔥', '❤️'])).toEqual(['🔥', '❤️', '👍', '😂', '😮', '😢']);
    const many = ['😀', '😃', '😄', '😁', '😆', '😅', '🤣'];
    expect(quickRow(many)).toEqual(many.slice(0, 6));
  });
});

describe('one emoji, one chip (SPEC §8.5: compared in reactionForm)', () => {
  const r = (by: string, emoji: string, at: string): Reaction => ({ by, emoji, at, id: `${by}-${at}` });

  it('"👍" and "👍\uFE0F" are one chip with count 2, shown in the sending form', () => {
    const m = { reactions: [r('peer', '👍\uFE0F', '2026-01-01T00:00:01Z'), r('me', '👍', '2026-01-01T00:00:02Z'), r('other', '❤️', '2026-01-01T00:00:03Z')] };
    expect(reactionChips(m, 'me')).toEqual([
      { emoji: '👍', count: 2, mine: true },
      { emoji: '❤️', count: 1, mine: false },
    ]);
    // The user's own reaction from another device in the VS16 form is "mine" in the 👍 chip.
    expect(reactionChips({ reactions: [r('me', '👍\uFE0F', '2026-01-01T00:00:01Z'), r('peer', '👍', '2026-01-01T00:00:02Z')] }, 'me')).toEqual([{ emoji: '👍', count: 2, mine: true }]);
  });

  it('picking 👍 matches the own reaction in either form (the menu takes it back)', () => {
    expect(sameReaction('👍\uFE0F', '👍')).toBe(true);
    expect(sameReaction('👍', '👍\uFE0F')).toBe(true);
    expect(sameReaction('❤️', '❤️')).toBe(true);
    expect(sameReaction('❤️', '❤')).toBe(false);
    expect(sameReaction('', '')).toBe(false);
    expect(sameReaction('👍', '👎')).toBe(false);
  });
});

describe('placement against the visual viewport (the on-screen keyboard)', () => {
  const btn = (top: number) => ({ left: 20, right: 52, top, bottom: top + 32 });

  it('visibleView uses visualViewport when there is one', () => {
    expect(visibleView({ innerWidth: 360, innerHeight: 740, visualViewport: { width: 360, height: 400, offsetTop: 120, offsetLeft: 0 } })).toEqual({ width: 360, height: 400, top: 120, left: 0 });
    expect(visibleView({ innerWidth: 360, innerHeight: 740 })).toEqual({ width: 360, height: 740 });
  });

  it('a 360×740 phone whose keyboard leaves 400 px: the picker stays within them', () => {
    const kb = { width: 360, height: 400 };
    const p = placeMenu(btn(600), 288, 330, kb, 'start');
    expect(p.top).toBeGreaterThanOrEqual(8);
    expect(p.top + 330).toBeLessThanOrEqual(400 - 8);
    // Scrolled down by 200 px inside the layout viewport: the box moves with it.
    const q = placeMenu(btn(600), 288, 330, { ...kb, top: 200 }, 'start');
    expect(q.top).toBeGreaterThanOrEqual(208);
    expect(q.top + 330).toBeLessThanOrEqual(600 - 8);
  });
});
