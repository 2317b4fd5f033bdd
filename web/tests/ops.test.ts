// Message operations (SPEC §8.5): the apply rules on a thread (author-only
// edit/delete, latest-wins reactions and edits, deleted is final), the
// bounded wait for late targets, and the whole path between two ChatStores
// and a second device of the sender (self-copies), on one FakeServer.
import { describe, expect, it } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { seal } from '../src/lib/envelope';
import { memoryKV, type KV } from '../src/lib/kv';
import { applyOp, DELETED_TEXT, opSentAt, ORIGINAL_MISSING, quoteOf, reactionChips, type OpMeta } from '../src/lib/ops/apply';
import { opBody, parseOpBody } from '../src/lib/ops/body';
import { MAX_PENDING, PENDING_MS, PendingOps } from '../src/lib/ops/ops';
import type { ChatMessage } from '../src/lib/records';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
import { FakeServer } from './helpers';

const A = 'ed25519:' + 'a'.repeat(64);
const B = 'ed25519:' + 'b'.repeat(64);
const T = 'targetmessage000000001';
const meta = (over: Partial<OpMeta> = {}): OpMeta => ({ id: 'op00000000000000000001', sent_at: '2026-05-25T03:00:00Z', by: B, own: false, ...over });
const msg = (over: Partial<ChatMessage> = {}): ChatMessage => ({ id: T, dir: 'in', body: 'hello', sent_at: '2026-05-25T02:00:00Z', status: 'received', ...over });

describe('applyOp (SPEC §8.5)', () => {
  it('applies an edit only from the author: the peer on its own message, never on ours', () => {
    const theirs = [msg()];
    expect(applyOp(theirs, { kind: 'edit', target: T, text: 'fixed' }, meta()).result).toBe('applied');
    expect(theirs[0]).toMatchObject({ body: 'fixed', edit: { at: '2026-05-25T03:00:00Z' } });
    const ours = [msg({ dir: 'out', status: 'sent' })];
    expect(applyOp(ours, { kind: 'edit', target: T, text: 'forged' }, meta()).result).toBe('ignored');
    expect(applyOp(ours, { kind: 'delete', target: T }, meta()).result).toBe('ignored');
    expect(ours[0].body).toBe('hello');
    // Our own op (a self-copy) edits ours, not theirs.
    expect(applyOp(ours, { kind: 'edit', target: T, text: 'mine' }, meta({ by: A, own: true })).result).toBe('applied');
    expect(applyOp([msg()], { kind: 'edit', target: T, text: 'x' }, meta({ by: A, own: true })).result).toBe('ignored');
  });

  it('keeps the latest edit whatever the order they arrive in, and never edits a file', () => {
    const t = [msg()];
    applyOp(t, { kind: 'edit', target: T, text: 'second' }, meta({ sent_at: '2026-05-25T03:00:02Z' }));
    expect(applyOp(t, { kind: 'edit', target: T, text: 'first' }, meta({ sent_at: '2026-05-25T03:00:01Z' })).result).toBe('ignored');
    expect(t[0].body).toBe('second');
    const file = [msg({ attachment: { name: 'a.txt', mime: 'text/plain', size: 1, sha256: '0'.repeat(64), mode: 'inline', done: 1, state: 'ready' } })];
    expect(applyOp(file, { kind: 'edit', target: T, text: 'x' }, meta()).result).toBe('ignored');
  });

  it('replaces and removes reactions per sender, latest wins, ties by id', () => {
    const t = [msg()];
    applyOp(t, { kind: 'reaction', target: T, emoji: '👍' }, meta({ by: A, own: true }));
    applyOp(t, { kind: 'reaction', target: T, emoji: '👍' }, meta());
    expect(reactionChips(t[0], A)).toEqual([{ emoji: '👍', count: 2, mine: true }]);
    applyOp(t, { kind: 'reaction', target: T, emoji: '❤️' }, meta({ sent_at: '2026-05-25T03:00:01Z' }));
    expect(reactionChips(t[0], A)).toEqual([
      { emoji: '👍', count: 1, mine: true },
      { emoji: '❤️', count: 1, mine: false },
    ]);
    // Same second, smaller id: older.
    expect(applyOp(t, { kind: 'reaction', target: T, emoji: '😂' }, meta({ sent_at: '2026-05-25T03:00:01Z', id: 'op00000000000000000000' })).result).toBe('ignored');
    applyOp(t, { kind: 'reaction', target: T, emoji: '' }, meta({ sent_at: '2026-05-25T03:00:02Z' }));
    expect(reactionChips(t[0], A)).toEqual([{ emoji: '👍', count: 1, mine: true }]);
    // A late, older reaction does not come back after the removal.
    expect(applyOp(t, { kind: 'reaction', target: T, emoji: '😮' }, meta({ sent_at: '2026-05-25T03:00:01Z', id: 'op99999999999999999999' })).result).toBe('ignored');
  });

  it('delete wipes body, attachment, edit and reactions, and is final', () => {
    const t = [msg({ reply_to: 'x'.repeat(22), reactions: [{ by: A, emoji: '👍', at: 'a', id: 'b' }], attachment: { name: 'a.txt', mime: 'text/plain', size: 1, sha256: '0'.repeat(64), mode: 'inline', done: 1, state: 'ready' } })];
    const out = applyOp(t, { kind: 'delete', target: T }, meta());
    expect(out).toMatchObject({ result: 'applied', wipe: true });
    expect(t[0]).toEqual({ id: T, dir: 'in', body: '', sent_at: '2026-05-25T02:00:00Z', status: 'received', deleted: true });
    expect(applyOp(t, { kind: 'edit', target: T, text: 'back' }, meta({ sent_at: '2026-05-25T04:00:00Z' })).result).toBe('ignored');
    expect(applyOp(t, { kind: 'reaction', target: T, emoji: '👍' }, meta()).result).toBe('ignored');
    expect(quoteOf(t, T).text).toBe(DELETED_TEXT);
  });

  it('leaves an op whose target is not here pending, and quotes what it has', () => {
    expect(applyOp([], { kind: 'reaction', target: T, emoji: '👍' }, meta()).result).toBe('pending');
    expect(quoteOf([], T)).toEqual({ text: ORIGINAL_MISSING, found: false });
    expect(quoteOf([msg({ body: 'a\n b' })], T)).toMatchObject({ text: 'a b', found: true });
  });
});

describe('PendingOps bounds', () => {
  it('keeps at most MAX_PENDING per conversation and drops them after PENDING_MS', () => {
    const p = new PendingOps();
    const w = (n: number, until: number) => ({ op: { kind: 'delete' as const, target: `target${String(n).padStart(16, '0')}` }, meta: meta(), until });
    for (let i = 0; i < MAX_PENDING + 5; i++) p.add(B, w(i, PENDING_MS));
    expect(p.count(B)).toBe(MAX_PENDING);
    expect(p.take(B, w(0, 0).op.target, 0)).toEqual([]); // the oldest went first
    expect(p.take(B, w(10, 0).op.target, 0)).toHaveLength(1);
    expect(p.take(B, w(11, 0).op.target, PENDING_MS + 1)).toEqual([]); // expired
    expect(p.count(B)).toBe(0);
  });
});

function world() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const store = (who: 'alice' | 'bob', files: KV = memoryKV()) =>
    new ChatStore({ kv: memoryKV(), files, me: who === 'alice' ? me(aliceSeed, 'alice', ap) : me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0, stallCheck: false });
  return { server, ap, bp, store };
}

const settleAll = async () => {
  for (let i = 0; i < 6; i++) await settle();
};

describe('message operations between two ChatStores and a second device', () => {
  it('reply, reaction, edit and delete reach the peer and the other device; only replies push and are acked', async () => {
    const w = world();
    const bobFiles = memoryKV();
    const [alice, bob, alice2] = [w.store('alice'), w.store('bob', bobFiles), w.store('alice')];
    for (const s of [alice, bob, alice2]) await s.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'first');
    await alice.files.send(w.bp, 'a.txt', 'text/plain', new TextEncoder().encode('file bytes'));
    await alice.files.idle(w.bp);
    await settleAll();
    await pull(bob, w.server, 'bob');
    const [first, file] = alice.threads[w.bp];
    expect(bobFiles.map.size).toBe(1);
    const posts = w.server.posts.length;

    await alice.send(w.bp, 'a reply', first.id);
    expect(await alice.ops.react(w.bp, first.id, '👍')).toBe(true);
    expect(await alice.ops.edit(w.bp, first.id, 'first, edited')).toBe(true);
    expect(await alice.ops.remove(w.bp, file.id)).toBe(true);
    await settleAll();
    // Each op went to bob and as a self-copy to alice; only the reply may push.
    const opPosts = w.server.posts.slice(posts);
    expect(opPosts.filter((p) => p.to === 'bob@kez.test').map((p) => p.notify)).toEqual([true, false, false, false]);
    expect(opPosts.filter((p) => p.to === 'alice').map((p) => p.notify)).toEqual([false, false, false, false]);
    expect(JSON.stringify(opPosts)).not.toContain('edited');

    const ackedBefore = w.server.boxes.get('alice')?.length ?? 0;
    await pull(bob, w.server, 'bob');
    await settleAll();
    const bt = bob.threads[w.ap];
    expect(bt.find((m) => m.id === first.id)).toMatchObject({ body: 'first, edited', reactions: [{ by: w.ap, emoji: '👍' }] });
    expect(bt.find((m) => m.id === file.id)).toMatchObject({ deleted: true, body: '' });
    expect(bt.find((m) => m.id === file.id)?.attachment).toBeUndefined();
    expect(bobFiles.map.size).toBe(0);
    expect(bt.at(-1)).toMatchObject({ body: 'a reply', reply_to: first.id, dir: 'in' });
    // One receipt: for the reply, not for the silent ops.
    expect((w.server.boxes.get('alice')?.length ?? 0) - ackedBefore).toBe(1);

    // Bob reacts back; alice gets it.
    await bob.ops.react(w.ap, first.id, '❤️');
    await settleAll();
    await pull(alice, w.server, 'alice');
    expect(alice.threads[w.bp][0].reactions?.map((r) => r.emoji).sort()).toEqual(['❤️', '👍']);

    // alice's second device follows from the self-copies.
    await pull(alice2, w.server, 'alice');
    const a2 = alice2.threads[w.bp];
    expect(a2.find((m) => m.id === first.id)).toMatchObject({ body: 'first, edited', dir: 'out' });
    expect(a2.find((m) => m.id === file.id)).toMatchObject({ deleted: true });
    expect(a2.find((m) => m.reply_to === first.id)?.body).toBe('a reply');
  });

  it('drops an edit from someone who is not the author, and applies an op that came before its target', async () => {
    const w = world();
    const [alice, bob] = [w.store('alice'), w.store('bob')];
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'mine');
    const target = alice.threads[w.bp][0];
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const forge = seal(bobSeed, { kind: 'edit', id: 'forgededit00000000000001', from_handle: 'bob@kez.test', to: w.ap, sent_at: now, body: opBody({ kind: 'edit', target: target.id, text: 'forged' }) });
    await alice.ingest([{ seq: 1, envelope: forge.envelope, received_at: now } as never]);
    expect(alice.threads[w.bp][0].body).toBe('mine');

    // Bob gets alice's reaction before the message it is about.
    const early = seal(aliceSeed, { kind: 'reaction', id: 'earlyreaction000000001', from_handle: 'alice@kez.test', to: w.bp, sent_at: now, body: opBody({ kind: 'reaction', target: target.id, emoji: '🙏' }) });
    await pull(bob, w.server, 'bob'); // the text itself is only on the server
    expect(bob.threads[w.ap]).toHaveLength(1);
    const bob2 = w.store('bob');
    await bob2.load();
    await bob2.ingest([{ seq: 1, envelope: early.envelope, received_at: now } as never]);
    expect(bob2.ops.pending.count(w.ap)).toBe(1);
    const { messages } = await w.server.api().pollInbox('bob', 0, w.server.pollAuth('bob', 0));
    await bob2.ingest(messages.map((m, i) => ({ ...m, seq: 2 + i })));
    expect(bob2.threads[w.ap][0].reactions).toMatchObject([{ by: w.ap, emoji: '🙏' }]);
    expect(bob2.ops.pending.count(w.ap)).toBe(0);
    expect(parseOpBody('reaction', early.message.body)).toBeTruthy();
  });
});

describe('quick changes (SPEC §8.5 stamping)', () => {
  it('stamps an op 1 s after the sender’s own latest one of its kind when that is not earlier', () => {
    const now = new Date('2026-05-25T03:00:00Z');
    const m = { reactions: [{ by: A, emoji: '👍', at: '2026-05-25T03:00:00Z', id: 'x' }], edit: { at: '2026-05-25T03:00:04Z', id: 'y' } } as never;
    expect(opSentAt(now, m, 'reaction', A).toISOString()).toBe('2026-05-25T03:00:01.000Z');
    expect(opSentAt(now, m, 'reaction', 'someone else').toISOString()).toBe('2026-05-25T03:00:00.000Z');
    expect(opSentAt(now, m, 'edit', A).toISOString()).toBe('2026-05-25T03:00:05.000Z');
    expect(opSentAt(now, m, 'delete', A)).toBe(now);
    expect(opSentAt(new Date('2026-05-25T03:00:09Z'), m, 'reaction', A).toISOString()).toBe('2026-05-25T03:00:09.000Z');
    expect(opSentAt(now, undefined, 'reaction', A)).toBe(now);
    const ahead = { reactions: [{ by: A, emoji: '👍', at: '2026-05-25T03:05:00Z', id: 'x' }] } as never;
    expect(opSentAt(now, ahead, 'reaction', A).toISOString()).toBe('2026-05-25T03:01:00.000Z');
  });

  it('keeps the last of several reactions changed within one second, on both sides', async () => {
    const w = world();
    const [alice, bob] = [w.store('alice'), w.store('bob')];
    for (const s of [alice, bob]) await s.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'react to me');
    await settleAll();
    await pull(bob, w.server, 'bob');
    const id = alice.threads[w.bp][0].id;
    // Ten quick changes: with a random tiebreak each pair would keep the
    // later one only half the time.
    const emoji = ['👍', '❤️', '😂', '😮', '😢', '🙏', '🔥', '🎉', '👀', '✅'];
    for (const e of emoji) expect(await alice.ops.react(w.bp, id, e)).toBe(true);
    await settleAll();
    await pull(bob, w.server, 'bob');
    await settleAll();
    expect(alice.threads[w.bp][0].reactions?.map((r) => r.emoji)).toEqual(['✅']);
    expect(bob.threads[w.ap].find((m) => m.id === id)?.reactions?.map((r) => r.emoji)).toEqual(['✅']);
  });
});
