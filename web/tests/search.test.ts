// On-device search (issue 13): folding, highlight ranges on the original
// text, the result cap, yielding, and a newer query aborting an older one.
import { describe, expect, it } from 'vitest';
import { fold, matchRanges, MAX_RESULTS, normalizeQuery, search, SearchAborted, snippet, type SearchSource } from '../src/lib/search';
import type { ChatMessage, Conversation } from '../src/lib/records';

const msg = (id: string, body: string, sent_at = `2026-01-01T00:00:${id.padStart(2, '0').slice(-2)}Z`): ChatMessage => ({ id, dir: 'in', body, sent_at, status: 'received' });
const conv = (peer: string, last_at: string): Conversation => ({ peer_primary: peer, peer_handle: null, last_at, last_preview: '', unread: 0 });

function source(threads: Record<string, ChatMessage[]>, convs: Conversation[]): SearchSource & { reads: string[] } {
  const reads: string[] = [];
  return { reads, conversations: () => convs, thread: async (p) => (reads.push(p), threads[p] ?? []) };
}

describe('folding', () => {
  it('ignores case, accents and compatibility forms', () => {
    expect(fold('Café')).toBe('cafe');
    expect(fold('ÉCOLE')).toBe('ecole');
    expect(fold('ﬁne')).toBe('fine');
    expect(fold('Ｆｕｌｌ')).toBe('full');
    expect(fold('Straße')).toBe('straße');
    expect(normalizeQuery('  Crème   Brûlée ')).toBe('creme brulee');
    expect(normalizeQuery('x'.repeat(500))).toHaveLength(200);
  });

  it('maps matches back onto the original text', () => {
    const t = 'Un CAFÉ, deux cafés';
    const r = matchRanges(t, 'cafe');
    expect(r.map(([a, b]) => t.slice(a, b))).toEqual(['CAFÉ', 'café']);
    // A decomposed é (e + U+0301) in the text: the lone mark folds away, the match is "cafe".
    const d = 'cafe\u0301!';
    expect(matchRanges(d, 'cafe').map(([a, b]) => d.slice(a, b))).toEqual(['cafe']);
    // A ligature expands to two folded units but is one original character.
    const l = 'a ﬁle';
    expect(matchRanges(l, 'fi').map(([a, b]) => l.slice(a, b))).toEqual(['ﬁ']);
    // Astral characters keep their surrogate pairs whole.
    const e = '🙂 Hi 🙂 hi';
    expect(matchRanges(e, 'hi').map(([a, b]) => e.slice(a, b))).toEqual(['Hi', 'hi']);
    expect(matchRanges('abc', '')).toEqual([]);
  });

  it('snippets around the first match, pieces only (no markup)', () => {
    const body = `${'x'.repeat(200)} <b>needle</b> ${'y'.repeat(200)}`;
    const pieces = snippet(body, matchRanges(body, 'needle'));
    expect(pieces[0]).toEqual({ text: '…', hit: false });
    expect(pieces.at(-1)).toEqual({ text: '…', hit: false });
    expect(pieces.filter((p) => p.hit).map((p) => p.text)).toEqual(['needle']);
    expect(snippet('short one', [[0, 5]])).toEqual([
      { text: 'short', hit: true },
      { text: ' one', hit: false },
    ]);
    expect(snippet('a\nb', []).map((p) => p.text).join('')).toBe('a b');
  });
});

describe('search', () => {
  it('groups by conversation, newest conversation and message first', async () => {
    const src = source(
      { a: [msg('1', 'hello there'), msg('2', 'nope'), msg('3', 'HELLO again')], b: [msg('4', 'héllo from b')] },
      [conv('a', '2026-01-01T00:00:00Z'), conv('b', '2026-02-01T00:00:00Z')],
    );
    const g = await search(src, 'hello');
    expect(g.map((x) => x.peer)).toEqual(['b', 'a']);
    expect(g[1].hits.map((h) => h.id)).toEqual(['3', '1']);
    expect(await search(src, '')).toEqual([]);
  });

  it('stops at the cap and reads no more threads after it', async () => {
    const many = Array.from({ length: MAX_RESULTS + 50 }, (_, i) => msg(String(i), `match ${i}`));
    const src = source({ a: many, b: [msg('x', 'match b')] }, [conv('a', '2026-02-01T00:00:00Z'), conv('b', '2026-01-01T00:00:00Z')]);
    const g = await search(src, 'match');
    expect(g.flatMap((x) => x.hits)).toHaveLength(MAX_RESULTS);
    expect(src.reads).toEqual(['a']);
    expect((await search(src, 'match', { cap: 3 }))[0].hits).toHaveLength(3);
  });

  it('yields on long histories and gives up when a newer query aborts it', async () => {
    const long = Array.from({ length: 5000 }, (_, i) => msg(String(i), i === 0 ? 'the one' : 'filler'));
    const src = source({ a: long }, [conv('a', '2026-01-01T00:00:00Z')]);
    const ctl = new AbortController();
    const p = search(src, 'the one', { signal: ctl.signal });
    // Aborted after it started: it yields to the event loop, sees it, and throws.
    ctl.abort();
    await expect(p).rejects.toBeInstanceOf(SearchAborted);
    expect((await search(src, 'the one'))[0].hits.map((h) => h.id)).toEqual(['0']);
  });

  it('skips empty bodies and matches file names', async () => {
    const file: ChatMessage = { ...msg('f', 'Holiday.JPG'), attachment: undefined };
    const src = source({ a: [msg('e', ''), file] }, [conv('a', '2026-01-01T00:00:00Z')]);
    expect((await search(src, 'holiday'))[0].hits.map((h) => h.id)).toEqual(['f']);
  });
});
