// Pending ops survive a reload (TODO #161, SPEC §8.5 "Pending"): an op that
// came before its target is kept in a sealed, bounded record and applied
// when the target arrives after the reload (its id is in the replay guard,
// so it is never delivered again).
import { describe, expect, it } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { seal, type MessageKind } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { opBody } from '../src/lib/ops/body';
import { MAX_PENDING_BYTES, MAX_PENDING_TOTAL, MAX_STRANGER_PENDING, MAX_STRANGER_PENDING_BYTES, PENDING_MS, PendingOps } from '../src/lib/ops/pending';
import { sealedKV } from '../src/lib/sealedkv';
import { sealHistory, type HistoryDoc } from '../src/lib/history/exportfile';
import { primaryFromSeed } from '../src/lib/identity';
import { aliceSeed, bobSeed } from './chat-fixture';
import { FakeServer } from './helpers';

// Real primaries: the record's entries are checked at load (isValidPrimary).
const A = primaryFromSeed(aliceSeed);
const B = primaryFromSeed(bobSeed);
const meta = { id: 'op00000000000000000001', sent_at: '2026-05-25T03:00:00Z', by: B, own: false };
const target = (n: number) => `target${String(n).padStart(16, '0')}`;

describe('a pending op across a reload', () => {
  it('is kept sealed and applied when its target comes after the reload', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
    const raw = memoryKV();
    const bob = () => new ChatStore({ kv: sealedKV(raw, bobSeed), me: me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const text = seal(aliceSeed, { kind: 'text', id: 'latetarget000000000001', from_handle: 'alice@kez.test', to: bp, sent_at: now, body: 'hello' });
    const react = seal(aliceSeed, { kind: 'reaction', id: 'earlyreaction000000001', from_handle: 'alice@kez.test', to: bp, sent_at: now, body: opBody({ kind: 'reaction', target: text.message.id, emoji: '🙏' }) });

    const before = bob();
    await before.load();
    await before.startChat('alice'); // a contact (a stranger's ops wait in memory only)
    await before.ingest([{ seq: 1, id: react.message.id, envelope: react.envelope, received_at: now }]);
    expect(before.ops.pending.count(ap)).toBe(1);
    await before.close();
    // Sealed like every chat record (SPEC §8.2): no emoji or id in clear.
    const stored = raw.map.get(`chat:${bp}:pending_ops`);
    expect(stored).toMatchObject({ kez_sealed: 1 });
    expect(JSON.stringify(stored)).not.toContain(text.message.id);

    const after = bob();
    await after.load();
    expect(after.ops.pending.count(ap)).toBe(1);
    // The op itself is never delivered again (the replay guard has it); only the target comes.
    await after.ingest([{ seq: 2, id: text.message.id, envelope: text.envelope, received_at: now }]);
    expect(after.threads[ap][0].reactions).toMatchObject([{ by: ap, emoji: '🙏' }]);
    expect(after.ops.pending.count(ap)).toBe(0);
    await after.close();
    expect(raw.map.has(`chat:${bp}:pending_ops`)).toBe(false);
  });
});

describe('a pending op whose target comes by another route (review i13 #11)', () => {
  async function early() {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const me: Me = { seed: bobSeed, handle: 'bob', primary: bp, server: 'kez.test' };
    const kv = sealedKV(memoryKV(), bobSeed);
    const bob = () => new ChatStore({ kv, me, api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const targetId = 'latetarget000000000001';
    const react = seal(aliceSeed, { kind: 'reaction', id: 'earlyreaction000000001', from_handle: 'alice@kez.test', to: bp, sent_at: now, body: opBody({ kind: 'reaction', target: targetId, emoji: '🙏' }) });
    const first = bob();
    await first.load();
    await first.startChat('alice');
    await first.ingest([{ seq: 1, id: react.message.id, envelope: react.envelope, received_at: now }]);
    expect(first.ops.pending.count(ap)).toBe(1);
    const target = { id: targetId, dir: 'in' as const, body: 'hello', sent_at: now, status: 'received' as const };
    return { ap, bp, kv, bob, first, target };
  }

  it('a history import brings the target: the op applies', async () => {
    const { ap, bp, first, target } = await early();
    const doc: HistoryDoc = { type: 'kez.chat.history', version: 2, primary: bp, exported_at: target.sent_at, conversations: [{ peer_primary: ap, peer_handle: 'alice@kez.test', messages: [target] }] };
    expect((await first.history.import(sealHistory(bobSeed, doc))).added).toBe(1);
    expect(first.threads[ap][0].reactions).toMatchObject([{ by: ap, emoji: '🙏' }]);
    expect(first.ops.pending.count(ap)).toBe(0);
    await first.close();
  });

  it('the target was stored but the record not yet (a crash): the op applies at load', async () => {
    const { ap, bp, kv, bob, first, target } = await early();
    await first.close();
    await kv.set(`chat:${bp}:msgs:${ap}`, [target]);
    const again = bob();
    await again.load();
    expect(again.ops.pending.count(ap)).toBe(0);
    await again.openThread(ap);
    expect(again.threads[ap][0].reactions).toMatchObject([{ by: ap, emoji: '🙏' }]);
    await again.close();
  });
});

describe('the pending_ops record is written once per inbox batch (review i13 #4)', () => {
  it('five early ops in one batch: one write, then one when their targets come', async () => {
    const server = new FakeServer('kez.test');
    const bp = server.add('bob', bobSeed);
    server.add('alice', aliceSeed);
    const raw = memoryKV();
    const key = `chat:${bp}:pending_ops`;
    let writes = 0;
    for (const name of ['set', 'del'] as const) {
      const fn = raw[name].bind(raw) as (...a: unknown[]) => Promise<void>;
      (raw as unknown as Record<string, unknown>)[name] = (k: string, ...rest: unknown[]) => {
        if (k === key) writes++;
        return fn(k, ...rest);
      };
    }
    const me: Me = { seed: bobSeed, handle: 'bob', primary: bp, server: 'kez.test' };
    const bob = new ChatStore({ kv: sealedKV(raw, bobSeed), me, api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    await bob.load();
    await bob.startChat('alice'); // a contact: its ops are kept on disk
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const mk = (kind: MessageKind, n: number, body: string) => seal(aliceSeed, { kind, id: `${kind.slice(0, 4)}${String(n).padStart(18, '0')}`, from_handle: 'alice@kez.test', to: bp, sent_at: now, body });
    const texts = [1, 2, 3, 4, 5].map((n) => mk('text', n, `t${n}`));
    const reacts = texts.map((t, n) => mk('reaction', n, opBody({ kind: 'reaction', target: t.message.id, emoji: '👍' })));
    const items = (list: typeof texts, from: number) => list.map((x, i) => ({ seq: from + i, id: x.message.id, envelope: x.envelope, received_at: now }));
    writes = 0;
    await bob.ingest(items(reacts, 1));
    expect(bob.ops.pending.count(A)).toBe(5);
    expect(writes).toBe(1);
    await bob.ingest(items(texts, 10));
    expect(bob.ops.pending.count(A)).toBe(0);
    expect(writes).toBe(2);
    expect(raw.map.has(key)).toBe(false);
    await bob.close();
  });
});

describe('the pending_ops record', () => {
  it('leaves out expired and damaged entries at load', async () => {
    const kv = memoryKV();
    const p = new PendingOps(kv, 'k');
    p.add(A, { op: { kind: 'delete', target: target(1) }, meta, until: 1000 + PENDING_MS });
    p.add(B, { op: { kind: 'reaction', target: target(2), emoji: '👍' }, meta, until: 5000 + PENDING_MS });
    await p.save();
    const rec = (await kv.get<{ v: number; ops: Record<string, unknown>[] }>('k'))!;
    expect(rec.v).toBe(1);
    rec.ops.push({ ...rec.ops[1], body: '{"emoji":"LOL","target":"x","type":"kez-reaction-v1"}' });
    rec.ops.push({ ...rec.ops[1], peer: 'bob' });
    // Damaged meta: the id, the time and the author are checked as the envelope had them.
    rec.ops.push({ ...rec.ops[1], id: 'short' }, { ...rec.ops[1], sent_at: '2026-05-25 03:00:00' }, { ...rec.ops[1], by: 'ed25519:xyz' });
    await kv.set('k', rec);

    const q = new PendingOps(kv, 'k');
    await q.load(2000 + PENDING_MS);
    const early = new PendingOps(kv, 'k');
    await early.load(0);
    expect([early.count(A), early.count(B)]).toEqual([1, 1]);
    expect(q.count(A)).toBe(0); // past its time
    expect(q.count(B)).toBe(1); // the five damaged copies were left out
    await q.save();
    expect((await kv.get<{ ops: unknown[] }>('k'))!.ops).toHaveLength(1);
    expect(q.take(B, target(2), 2000 + PENDING_MS)).toMatchObject([{ op: { emoji: '👍' } }]);
  });

  it('is bounded in count and bytes, the oldest dropped first', async () => {
    const p = new PendingOps(memoryKV(), 'k');
    const peer = (n: number) => 'ed25519:' + n.toString(16).padStart(64, '0');
    // Spread over many conversations so the per-conversation bound is not the one that acts.
    for (let i = 0; i < MAX_PENDING_TOTAL + 10; i++) p.add(peer(i % 90), { op: { kind: 'delete', target: target(i) }, meta, until: PENDING_MS });
    let total = 0;
    for (let i = 0; i < 90; i++) total += p.count(peer(i));
    expect(total).toBe(MAX_PENDING_TOTAL);
    expect(p.take(peer(0), target(0), 0)).toEqual([]); // the oldest went
    expect(p.take(peer(10), target(10), 0)).toHaveLength(1);

    const big = 'x'.repeat(60_000);
    const q = new PendingOps(memoryKV(), 'k');
    const edits = Math.ceil(MAX_PENDING_BYTES / 60_000) + 3;
    for (let i = 0; i < edits; i++) q.add(A, { op: { kind: 'edit', target: target(i), text: big }, meta, until: PENDING_MS });
    expect(q.count(A)).toBeLessThan(edits);
    expect(q.count(A) * 60_000).toBeLessThanOrEqual(MAX_PENDING_BYTES);
    expect(q.take(A, target(0), 0)).toEqual([]);
    expect(q.take(A, target(edits - 1), 0)).toHaveLength(1);
  });

  it('strangers have a quota of their own, in memory only; a flooding contact loses its own oldest first (review i13 #5)', async () => {
    const kv = memoryKV();
    const p = new PendingOps(kv, 'k');
    const peer = (n: number) => 'ed25519:' + n.toString(16).padStart(64, '0');
    p.add(A, { op: { kind: 'delete', target: target(0) }, meta, until: PENDING_MS });
    // Strangers: large edits, then many small ops, from many keys.
    const big = 'x'.repeat(60_000);
    for (let i = 1; i <= 20; i++) p.add(peer(i), { op: { kind: 'edit', target: target(i), text: big }, meta, until: PENDING_MS }, true);
    for (let i = 21; i <= MAX_PENDING_TOTAL + 50; i++) p.add(peer(i % 300), { op: { kind: 'delete', target: target(i) }, meta, until: PENDING_MS }, true);
    let strangers = 0;
    for (let i = 0; i < 300; i++) strangers += p.count(peer(i));
    expect(strangers).toBe(MAX_STRANGER_PENDING);
    expect(MAX_STRANGER_PENDING_BYTES).toBeLessThan(MAX_PENDING_BYTES);
    await p.save();
    // The contact's op is still there, and the only one on disk.
    expect((await kv.get<{ ops: { peer: string }[] }>('k'))!.ops.map((o) => o.peer)).toEqual([A]);
    // Contacts filling the count: the oldest op of the conversation holding the most goes, not A's one op.
    for (let c = 1; c <= MAX_PENDING_TOTAL / 200; c++) for (let i = 0; i < 200; i++) p.add(peer(1000 + c), { op: { kind: 'delete', target: target(c * 1000 + i) }, meta, until: PENDING_MS });
    expect(p.take(A, target(0), 0)).toHaveLength(1);
    expect(p.take(peer(1001), target(1000), 0)).toEqual([]);
    expect(p.take(peer(1001), target(1001), 0)).toHaveLength(1);
  });
});
