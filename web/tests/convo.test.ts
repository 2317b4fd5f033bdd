// Per-conversation actions (issue 13) through real ChatStores on the fake
// server: a blocked peer's messages are dropped and never acknowledged, a
// muted conversation bumps no unread count, a deleted one is gone with its
// messages and file bytes, a note to self reaches the identity's other
// device, and the search reads the sealed history on the device.
import { describe, expect, it } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { memoryKV } from '../src/lib/kv';
import { sealedKV } from '../src/lib/sealedkv';
import { aliceSeed, bobSeed, carolSeed, pull, settle, setup } from './chat-fixture';
import { BlockList, MAX_BLOCKED } from '../src/lib/blocklist.svelte';
import { primaryFromSeed } from '../src/lib/identity';
import { FakeServer, seedFor } from './helpers';

const settleAll = async () => {
  for (let i = 0; i < 4; i++) await settle();
};

describe('block', () => {
  it('drops what a blocked peer sends: not stored, not shown, no ack posted', async () => {
    const { server, ap, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await bob.startChat('alice');
    await bob.send(ap, 'before the block');
    await pull(alice, server, 'alice');
    await settleAll();
    expect(alice.threads[bp]?.map((m) => m.body)).toEqual(['before the block']);
    const acksBefore = server.posts.filter((p) => p.to === 'bob@kez.test').length;
    expect(acksBefore).toBe(1);

    await alice.convo.setBlocked(bp, true);
    expect(alice.convo.blocked(bp)).toBe(true);
    const unread = alice.conversation(bp)!.unread;
    await bob.send(bp === ap ? bp : ap, 'after the block');
    await pull(alice, server, 'alice');
    await settleAll();
    // Not in the thread, no unread bump, and no ack to bob's mailbox.
    expect(alice.threads[bp].map((m) => m.body)).toEqual(['before the block']);
    expect(alice.conversation(bp)!.unread).toBe(unread);
    expect(server.posts.filter((p) => p.to === 'bob@kez.test')).toHaveLength(acksBefore);
    await pull(bob, server, 'bob');
    expect(bob.threads[ap].find((m) => m.body === 'after the block')?.status).toBe('sent');

    // Unblocked: new messages come in again (the dropped one stays dropped).
    await alice.convo.setBlocked(bp, false);
    await bob.send(ap, 'unblocked');
    await pull(alice, server, 'alice');
    await settleAll();
    expect(alice.threads[bp].map((m) => m.body)).toEqual(['before the block', 'unblocked']);
  });

  it('keeps the list in one sealed record and reloads it', async () => {
    const { akv, ap, bp, alice, me, server } = setup();
    await alice.load();
    await alice.convo.setBlocked(bp, true);
    await alice.convo.setBlocked(ap, true); // never oneself
    expect(akv.map.get(`chat:${ap}:blocked`)).toEqual([bp]);
    const again = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: server.api(), selfCopies: false });
    await again.load();
    expect(again.convo.blocked(bp)).toBe(true);
    // Sealed at rest: the raw record holds no primary in clear.
    const raw = memoryKV();
    const sealed = sealedKV(raw, aliceSeed);
    const s = new ChatStore({ kv: sealed, me: me(aliceSeed, 'alice', ap), api: server.api(), selfCopies: false });
    await s.load();
    await s.convo.setBlocked(bp, true);
    const rec = raw.map.get(`chat:${ap}:blocked`) as { kez_sealed: number; ct: Uint8Array };
    expect(rec.kez_sealed).toBe(1);
    expect(new TextDecoder().decode(rec.ct)).not.toContain(bp.slice(8, 30));
  });
});

describe('block list record', () => {
  it('keeps only valid primaries, at most MAX_BLOCKED; a block past it is refused', async () => {
    const kv = memoryKV();
    const [a, b, c] = [aliceSeed, bobSeed, carolSeed].map(primaryFromSeed);
    await kv.set('k', [a, 'not a primary', 42, b]);
    const list = new BlockList(kv, 'k');
    await list.load();
    expect(list.list).toEqual([a, b]);
    await list.block(c);
    await list.block(c);
    expect(await kv.get('k')).toEqual([a, b, c]);
    await list.unblock(a);
    expect(list.has(a)).toBe(false);
    await kv.set('k', [a, a, b]);
    await list.load();
    expect(list.list).toEqual([a, b]);
    // The bound: refused, never an old block dropped (review r13 #11).
    const many = Array.from({ length: MAX_BLOCKED }, (_, i) => primaryFromSeed(seedFor(`blocked ${i}`)));
    await kv.set('k', many);
    await list.load();
    expect(await list.block(c)).toBe(false);
    expect(list.list).toEqual(many);
    expect(list.has(c)).toBe(false);
  });
});

describe('mute', () => {
  it('counts no unread and leaves the total (badge, title) alone, still acks', async () => {
    const { server, ap, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await bob.startChat('alice');
    await bob.send(ap, 'one');
    await pull(alice, server, 'alice');
    expect(alice.totalUnread).toBe(1);
    await alice.convo.setMuted(bp, true);
    expect(alice.totalUnread).toBe(0);
    await bob.send(ap, 'two');
    await pull(alice, server, 'alice');
    await settleAll();
    expect(alice.conversation(bp)!.unread).toBe(1);
    expect(alice.totalUnread).toBe(0);
    expect(alice.threads[bp].map((m) => m.body)).toEqual(['one', 'two']);
    // Muted is not blocked: bob gets his receipts.
    await pull(bob, server, 'bob');
    expect(bob.threads[ap].map((m) => m.status)).toEqual(['delivered', 'delivered']);
    await alice.convo.setMuted(bp, false);
    expect(alice.conversation(bp)!.muted).toBeUndefined();
    expect(alice.totalUnread).toBe(1);
  });
});

describe('delete a conversation', () => {
  it('removes the thread, its messages and file bytes; a new message starts afresh', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
    const akv = memoryKV();
    const afiles = memoryKV();
    const alice = new ChatStore({ kv: akv, files: afiles, me: me(aliceSeed, 'alice', ap), api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    const bob = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    await alice.load();
    await bob.load();
    await bob.startChat('alice');
    await bob.send(ap, 'secret text');
    await bob.files.send(ap, 'a.bin', 'application/octet-stream', new Uint8Array([1, 2, 3]));
    await bob.files.idle(ap);
    await pull(alice, server, 'alice');
    await settleAll();
    expect(alice.threads[bp]).toHaveLength(2);
    expect([...afiles.map.keys()].some((k) => k.includes(`file:in:${bp}`))).toBe(true);

    await alice.convo.delete(bp);
    expect(alice.conversation(bp)).toBeUndefined();
    expect(alice.threads[bp]).toBeUndefined();
    expect(akv.map.has(`chat:${ap}:msgs:${bp}`)).toBe(false);
    expect([...afiles.map.keys()].some((k) => k.includes(`file:in:${bp}`))).toBe(false);
    expect(JSON.stringify(akv.map.get(`chat:${ap}:convs`))).not.toContain('secret text');

    await bob.send(ap, 'hello again');
    await pull(alice, server, 'alice');
    await settleAll();
    expect(alice.conversation(bp)?.last_preview).toBe('hello again');
    expect(alice.threads[bp].map((m) => m.body)).toEqual(['hello again']);
  });
});

describe('note to self', () => {
  it('is the conversation with one’s own primary; the other device files it as outgoing, nobody acks it', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const me: Me = { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' };
    const phone = new ChatStore({ kv: memoryKV(), me, api: server.api(), ackDelayMs: 0, stallCheck: false });
    const laptop = new ChatStore({ kv: memoryKV(), me, api: server.api(), ackDelayMs: 0, stallCheck: false });
    await phone.load();
    await laptop.load();
    expect(await phone.startChat('alice')).toBe(ap);
    expect(phone.conversation(ap)?.peer_handle).toBe('alice@kez.test');
    await phone.send(ap, 'buy milk');
    await settleAll();
    // One post only: no self-copy of a note to self.
    expect(server.posts.map((p) => p.to)).toEqual(['alice@kez.test']);
    await pull(phone, server, 'alice');
    await pull(laptop, server, 'alice');
    await settleAll();
    expect(phone.threads[ap].map((m) => [m.dir, m.body])).toEqual([['out', 'buy milk']]);
    expect(laptop.threads[ap].map((m) => [m.dir, m.body, m.status])).toEqual([['out', 'buy milk', 'sent']]);
    expect(laptop.conversation(ap)?.unread).toBe(0);
    expect(server.posts).toHaveLength(1);
  });
});

describe('search on the device', () => {
  it('finds old messages in every conversation, folding case and accents, newest first', async () => {
    const { server, ap, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'Le CAFÉ est fermé');
    await bob.startChat('alice');
    await bob.send(ap, 'un cafe?');
    await bob.send(ap, 'nothing here');
    await pull(alice, server, 'alice');
    await settleAll();
    // A thread not in memory is read from the (sealed) KV.
    delete alice.threads[bp];
    const groups = await alice.convo.search('cafe');
    expect(groups).toHaveLength(1);
    expect(groups[0].peer).toBe(bp);
    expect(groups[0].hits.map((h) => h.body)).toEqual(['un cafe?', 'Le CAFÉ est fermé']);
    expect(groups[0].hits[1].ranges).toEqual([[3, 7]]);
    expect(await alice.convo.search('   ')).toEqual([]);
    expect(await alice.convo.search('xyz')).toEqual([]);
  });
});
