// Regressions from review r13 on message operations (SPEC §8.5): the
// composer refuses what a peer would drop, menus are not offered where they
// must not act, a late target keeps the list right, and a silent op that
// finally fails is kept and can be retried.
import { describe, expect, it } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { memoryKV, type KV } from '../src/lib/kv';
import { seal } from '../src/lib/envelope';
import { DELETED_TEXT } from '../src/lib/ops/apply';
import { MAX_OP_TEXT_BYTES, opBody, parseOpBody, validEmoji, type Op } from '../src/lib/ops/body';
import { actionable, composeRefusal, editable } from '../src/lib/ops/compose';
import { EDGE, placeMenu } from '../src/lib/ops/place';
import { MAX_UNSENT_OPS } from '../src/lib/ops/ops';
import type { ChatMessage } from '../src/lib/records';
import { ApiError } from '../src/lib/api';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
import { FakeServer } from './helpers';

function world() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const store = (who: 'alice' | 'bob', files: KV = memoryKV(), kv: KV = memoryKV(), api = server.api(), now?: () => Date) =>
    new ChatStore({ now, kv, files, me: who === 'alice' ? me(aliceSeed, 'alice', ap) : me(bobSeed, 'bob', bp), api, ackDelayMs: 0, stallCheck: false });
  return { server, ap, bp, store };
}

const settleAll = async () => {
  for (let i = 0; i < 6; i++) await settle();
};
const long = 'long '.repeat(14_000); // 70,000 bytes: a fine text, too long for a reply or edit
const msg = (over: Partial<ChatMessage> = {}): ChatMessage => ({ id: 'm1', dir: 'out', body: 'hi', sent_at: '2026-05-25T02:00:00Z', status: 'sent', ...over });

describe('composer refusals (r13 #3, #4)', () => {
  it('refuses a reply or edit over MAX_OP_TEXT_BYTES with a sentence, never a plain text', () => {
    expect(composeRefusal(long, 'text')).toBeNull();
    expect(composeRefusal(long, 'reply')).toMatch(/^Too long for a reply: 69 KB, at most 64 KB\..*kept/);
    expect(composeRefusal(long, 'edit')).toMatch(/^Too long for an edit/);
    expect(composeRefusal('x'.repeat(MAX_OP_TEXT_BYTES), 'reply')).toBeNull();
    expect(composeRefusal('x'.repeat(MAX_OP_TEXT_BYTES) + '   ', 'edit')).toBeNull(); // trailing space is not sent
    expect(composeRefusal('é'.repeat(MAX_OP_TEXT_BYTES / 2 + 1), 'edit')).not.toBeNull(); // bytes, not characters
  });

  it('does not offer Edit on a message an edit could not carry', () => {
    expect(editable(msg())).toBe(true);
    expect(editable(msg({ body: long }))).toBe(false);
    expect(editable(msg({ dir: 'in' }))).toBe(false);
  });

  it('never posts or files a reply the peer would drop', async () => {
    const w = world();
    const alice = w.store('alice');
    await alice.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'first');
    await settleAll();
    const first = alice.threads[w.bp][0];
    const posts = w.server.posts.length;
    await alice.send(w.bp, long, first.id);
    await settleAll();
    expect(w.server.posts.length).toBe(posts);
    expect(alice.threads[w.bp]).toHaveLength(1);
    // The same text as a plain message goes.
    await alice.send(w.bp, long);
    await settleAll();
    expect(alice.threads[w.bp].at(-1)).toMatchObject({ status: 'sent', body: long.trimEnd() });
  });
});

describe('action menu availability (r13 #8)', () => {
  it('is not offered in a blocked conversation, on deleted or unsent messages', () => {
    expect(actionable(msg(), false)).toBe(true);
    expect(actionable(msg(), true)).toBe(false);
    expect(actionable(msg({ deleted: true }), false)).toBe(false);
    expect(actionable(msg({ status: 'failed' }), false)).toBe(false);
  });

  it('posts no reaction, edit or delete to a blocked peer', async () => {
    const w = world();
    const alice = w.store('alice');
    await alice.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'first');
    await settleAll();
    const id = alice.threads[w.bp][0].id;
    await alice.convo.setBlocked(w.bp, true);
    const posts = w.server.posts.length;
    expect(await alice.ops.react(w.bp, id, '👍')).toBe(false);
    expect(await alice.ops.edit(w.bp, id, 'changed')).toBe(false);
    expect(await alice.ops.remove(w.bp, id)).toBe(false);
    await settleAll();
    expect(w.server.posts.length).toBe(posts);
    expect(alice.threads[w.bp][0]).toMatchObject({ body: 'first' });
    expect(alice.threads[w.bp][0].reactions).toBeUndefined();
  });
});

describe('an op that came before its target (r13 #9)', () => {
  it('shows in the list preview, and a deleted message is not unread', async () => {
    const w = world();
    const alice = w.store('alice');
    await alice.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'one');
    await alice.send(w.bp, 'two');
    await settleAll();
    const [one, two] = alice.threads[w.bp];
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const op = (id: string, o: Op) => seal(aliceSeed, { kind: o.kind, id, from_handle: 'alice@kez.test', to: w.bp, sent_at: now, body: opBody(o) }).envelope;
    const { messages } = await w.server.api().pollInbox('bob', 0, w.server.pollAuth('bob', 0));
    const bob = w.store('bob');
    await bob.load();
    // The edit of "one" and the delete of "two" come first, then the texts.
    await bob.ingest([
      { seq: 1, envelope: op('earlyedit0000000000001', { kind: 'edit', target: one.id, text: 'one, edited' }), received_at: now } as never,
      { seq: 2, envelope: op('earlydelete00000000001', { kind: 'delete', target: two.id }), received_at: now } as never,
    ]);
    await bob.ingest([messages[0]].map((m) => ({ ...m, seq: 3 })));
    expect(bob.conversation(w.ap)).toMatchObject({ last_preview: 'one, edited', unread: 1 });
    await bob.ingest([messages[1]].map((m) => ({ ...m, seq: 4 })));
    expect(bob.threads[w.ap].at(-1)).toMatchObject({ deleted: true });
    expect(bob.conversation(w.ap)).toMatchObject({ last_preview: DELETED_TEXT, unread: 1 });
  });
});

describe('action menu placement (r13 #2)', () => {
  const phone = { width: 390, height: 844 };
  const inside = (p: { left: number; top: number }, w: number, h: number, v = phone) =>
    p.left >= EDGE && p.top >= EDGE && p.left + w <= v.width - EDGE && p.top + h <= v.height - EDGE;
  const btn = (left: number, top: number) => ({ left, top, right: left + 24, bottom: top + 24 });

  it('keeps the menu inside a phone viewport beside a long bubble, either side', () => {
    // The review's boxes: own at x = -133…91, incoming at 299…523 (224 px wide).
    const own = placeMenu(btn(67, 600), 224, 220, phone, 'end');
    expect(inside(own, 224, 220)).toBe(true);
    const theirs = placeMenu(btn(299, 600), 224, 220, phone, 'start');
    expect(inside(theirs, 224, 220)).toBe(true);
    expect(theirs.top + 220).toBeLessThanOrEqual(600); // above the button while it fits
  });

  it('opens below near the top, and stays inside when neither side fits', () => {
    const top = placeMenu(btn(200, 60), 224, 220, phone, 'start');
    expect(top.top).toBeGreaterThan(84);
    expect(inside(top, 224, 220)).toBe(true);
    const short = { width: 390, height: 300 };
    const p = placeMenu(btn(100, 140), 224, 220, short, 'end');
    expect(inside(p, 224, 220, short)).toBe(true);
  });

  it('on a wide screen stays next to the button', () => {
    expect(placeMenu(btn(800, 500), 224, 220, { width: 1280, height: 800 }, 'end')).toEqual({ left: 600, top: 276 });
  });
});

describe('a silent op that finally fails (r13 #5, TODO #162)', () => {
  it('is kept on its target, sealed, and Retry posts it to the peer', async () => {
    const w = world();
    const kv = memoryKV();
    const [alice, bob] = [w.store('alice', memoryKV(), kv), w.store('bob')];
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'first');
    await settleAll();
    const id = alice.threads[w.bp][0].id;
    w.server.failNextPost = new ApiError(400, 'bad_request', 'refused'); // final: no automatic retry
    expect(await alice.ops.react(w.bp, id, '👍')).toBe(true);
    await settleAll();
    expect(alice.threads[w.bp][0].unsent_ops).toMatchObject([{ kind: 'reaction' }]);
    // Kept across a reload (in the sealed thread record), never in clear.
    await alice.close();
    const again = w.store('alice', memoryKV(), kv);
    await again.load();
    await again.openThread(w.bp);
    expect(again.threads[w.bp][0].unsent_ops).toHaveLength(1);
    expect(JSON.stringify([...kv.map.values()].map(String))).not.toContain('kez-reaction-v1');

    await again.ops.retry(w.bp, id);
    await settleAll();
    expect(again.threads[w.bp][0].unsent_ops).toBeUndefined();
    await pull(bob, w.server, 'bob');
    await settleAll();
    expect(bob.threads[w.ap][0].reactions).toMatchObject([{ by: w.ap, emoji: '👍' }]);
  });

  it('keeps at most MAX_UNSENT_OPS per message', async () => {
    const w = world();
    const api = w.server.api();
    let t = Date.now();
    const alice = w.store('alice', memoryKV(), memoryKV(), api, () => new Date(t));
    await alice.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'first');
    await settleAll();
    const id = alice.threads[w.bp][0].id;
    api.postMessage = () => Promise.reject(new ApiError(400, 'bad_request', 'refused'));
    for (let i = 0; i < MAX_UNSENT_OPS + 3; i++) {
      t += 1000; // each a later second: latest wins (SPEC §8.5)
      expect(await alice.ops.react(w.bp, id, i % 2 ? '👍' : '❤️')).toBe(true);
      await settleAll();
    }
    expect(alice.threads[w.bp][0].unsent_ops).toHaveLength(MAX_UNSENT_OPS);
  });
});

describe('a reaction is an emoji (r13 #10, SPEC §8.5)', () => {
  it('refuses words, letters and lone components; takes emoji sequences, flags and keycaps', () => {
    for (const ok of ['', '👍', '👍🏽', '❤️', '👨‍👩‍👧', '🇫🇷', '1️⃣', '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}', '©️', '🙏']) expect(validEmoji(ok), ok).toBe(true);
    for (const bad of ['LOL', 'SCAM.COM', 'a', '1', '🇫', '👍ok', '\u200D', '\uFE0F', '中', '👍 ', '\u202E👍', '👍\u200B']) expect(validEmoji(bad), bad).toBe(false);
    const body = (emoji: string) => JSON.stringify({ emoji, target: 'targetmessage000000001', type: 'kez-reaction-v1' });
    expect(parseOpBody('reaction', body('SCAM.COM'))).toBeNull();
    expect(parseOpBody('reaction', body('👍'))).toMatchObject({ kind: 'reaction', emoji: '👍' });
  });
});
