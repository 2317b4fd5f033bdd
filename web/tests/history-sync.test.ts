// Sent messages follow the identity (SPEC §8.3): a self-copy of each text or
// file goes to the own mailbox after the original, a second device of the
// identity (same seed, empty storage: restored from the phrase) files it as
// outgoing, the sending device drops it, nobody acks it, and a note to self
// does not double up.
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { snapshotRetryDelay, SNAPSHOT_RETRIES } from '../src/lib/history/snapshotretry';
import { PublishError } from '../src/lib/nostr/firstok';
import { CHUNK_SIZE } from '../src/lib/attachments/body';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { openEnvelope, seal } from '../src/lib/envelope';
import { copyOf, holds, NOT_ON_THIS_DEVICE, outgoingFromOriginal } from '../src/lib/history/ingest';
import { parseSentBody, sentBody, wantsCopy } from '../src/lib/history/selfcopy';
import { checkMessageShape } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
import { FakeServer } from './helpers';
import { FakeRelays } from './nostr-fake';
import { addr } from '../src/lib/nostr/keys';

function world() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const store = (who: 'alice' | 'bob') =>
    new ChatStore({
      kv: memoryKV(),
      files: memoryKV(),
      me: who === 'alice' ? me(aliceSeed, 'alice', ap) : me(bobSeed, 'bob', bp),
      api: server.api(),
      ackDelayMs: 0,
      stallCheck: false,
    });
  return { server, ap, bp, store };
}

const settleAll = async () => {
  for (let i = 0; i < 4; i++) await settle();
};

describe('self-copy body (SPEC §8.3)', () => {
  it('is built from the signed original and read back by the opener', () => {
    const w = world();
    const { message } = seal(aliceSeed, { kind: 'text', id: 'AAAAAAAAAAAAAAAAAAAAAA', from_handle: 'alice@kez.test', to: w.bp, sent_at: '2026-05-25T03:00:00Z', body: 'hi' });
    const body = sentBody(message, 'bob@kez.test');
    const { envelope } = seal(aliceSeed, { kind: 'sent', id: message.id, from_handle: 'alice@kez.test', to: w.ap, sent_at: message.sent_at, body });
    const opened = openEnvelope(aliceSeed, envelope, { now: new Date('2026-05-25T03:01:00Z') });
    expect(parseSentBody(opened, checkMessageShape)).toEqual({ type: 'kez-sent-v1', to: w.bp, to_handle: 'bob@kez.test', message });
    expect(copyOf(opened).message).toEqual(message);
    // Bob cannot open it: it is sealed to alice.
    expect(() => openEnvelope(bobSeed, envelope, { now: new Date('2026-05-25T03:01:00Z') })).toThrow('decrypt_failed');
    expect(outgoingFromOriginal(message)?.entry).toEqual({ id: message.id, dir: 'out', body: 'hi', sent_at: message.sent_at, status: 'sent' });
  });

  it('copies only texts and files, never a note to self', () => {
    expect(wantsCopy('text', 'ed25519:b', 'ed25519:a')).toBe(true);
    expect(wantsCopy('file', 'ed25519:b', 'ed25519:a')).toBe(true);
    for (const k of ['ack', 'chunk', 'need', 'sent']) expect(wantsCopy(k, 'ed25519:b', 'ed25519:a')).toBe(false);
    expect(wantsCopy('text', 'ed25519:a', 'ed25519:a')).toBe(false);
  });

  it('dedupes by id, also an id the message was posted under before', () => {
    const thread = [{ id: 'new-id-000000000000000', dir: 'out' as const, body: 'x', sent_at: 'z', status: 'sent' as const, prev_ids: ['old-id-000000000000000'] }];
    expect(holds(thread, 'new-id-000000000000000')).toBe(true);
    expect(holds(thread, 'old-id-000000000000000')).toBe(true);
    expect(holds(thread, 'another-00000000000000')).toBe(false);
  });
});

describe('a second device of alice sees both sides', () => {
  it('gets her sent texts as outgoing, in order with bob’s, delivered by bob’s ack; the sender drops its own copy; nothing acks a copy', async () => {
    const w = world();
    const alice = w.store('alice');
    const bob = w.store('bob');
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(w.bp, 'first from alice');
    // The original to bob, then its silent copy to alice's own mailbox.
    await vi.waitFor(() => expect(w.server.posts).toHaveLength(2));
    expect(w.server.posts.map((p) => [p.to, p.notify])).toEqual([
      ['bob@kez.test', true],
      ['alice', false],
    ]);
    expect(w.server.posts[1].id).toBe(w.server.posts[0].id);
    await pull(bob, w.server, 'bob');
    await settleAll(); // bob's ack → alice's mailbox
    await bob.send(w.ap, 'reply from bob');

    // alice's first device: its own copy is dropped, bob's ack and reply applied.
    await pull(alice, w.server, 'alice');
    await settleAll();
    expect(alice.threads[w.bp].map((m) => [m.dir, m.body, m.status])).toEqual([
      ['out', 'first from alice', 'delivered'],
      ['in', 'reply from bob', 'received'],
    ]);

    // A second device (restored from the phrase: same seed, empty storage).
    const alice2 = w.store('alice');
    await alice2.load();
    await pull(alice2, w.server, 'alice');
    await settleAll();
    expect(alice2.conversations.map((c) => [c.peer_primary, c.peer_handle])).toEqual([[w.bp, 'bob@kez.test']]);
    expect(alice2.threads[w.bp].map((m) => [m.dir, m.body, m.status])).toEqual([
      ['out', 'first from alice', 'delivered'],
      ['in', 'reply from bob', 'received'],
    ]);
    expect(alice2.conversations[0].unread).toBe(1); // bob's reply only
    // No post acked alice's copy: only bob's reply was acked (by both of alice's devices, one id).
    const toBob = w.server.posts.filter((p) => p.to === 'bob@kez.test').map((p) => openEnvelope(bobSeed, p.envelope, { seen: () => false }));
    const acked = toBob.filter((m) => m.kind === 'ack').flatMap((m) => m.body.split(','));
    expect(new Set(acked)).toEqual(new Set([bob.threads[w.ap].find((m) => m.dir === 'out')!.id]));
  });

  it('a note to self is one message on the sending device, outgoing on the other, never copied or acked', async () => {
    const w = world();
    const alice = w.store('alice');
    await alice.load();
    await alice.send(w.ap, 'note to me');
    expect(w.server.posts.map((p) => p.to)).toEqual(['alice@kez.test']); // no self-copy
    await pull(alice, w.server, 'alice');
    await settleAll();
    expect(alice.threads[w.ap].map((m) => [m.dir, m.body])).toEqual([['out', 'note to me']]);
    const alice2 = w.store('alice');
    await alice2.load();
    await pull(alice2, w.server, 'alice');
    await settleAll();
    expect(alice2.threads[w.ap].map((m) => [m.dir, m.body, m.status])).toEqual([['out', 'note to me', 'sent']]);
    expect(alice2.conversations[0].unread).toBe(0);
    expect(w.server.posts).toHaveLength(1); // nothing acked
  });

  it('files: an inline file comes with its bytes, a pointer says the file stayed on the sending device', async () => {
    const w = world();
    const alice = w.store('alice');
    await alice.load();
    await alice.startChat('bob');
    const small = new Uint8Array(1000).map((_, i) => i % 251);
    await alice.files.send(w.bp, 'small.bin', 'application/octet-stream', small);
    await alice.files.send(w.bp, 'big.bin', 'application/octet-stream', new Uint8Array(CHUNK_SIZE + 5));
    await alice.files.idle(w.bp);
    // Two copies, none of a chunk.
    await vi.waitFor(() => expect(w.server.posts.filter((p) => p.to === 'alice')).toHaveLength(2));
    expect(w.server.posts.filter((p) => p.to === 'alice')).toHaveLength(2);
    const alice2 = w.store('alice');
    await alice2.load();
    await pull(alice2, w.server, 'alice');
    await settleAll();
    const [a, b] = alice2.threads[w.bp];
    expect(a).toMatchObject({ dir: 'out', body: 'small.bin', attachment: { mode: 'inline', state: 'ready' } });
    expect(await alice2.files.bytes(w.bp, a)).toEqual(small);
    expect(b).toMatchObject({ dir: 'out', body: 'big.bin', attachment: { mode: 'pointer', note: NOT_ON_THIS_DEVICE } });
    expect(alice2.conversations[0].last_preview).toBe('📎 big.bin');
  });
});

describe('settings snapshot pacing (SPEC §8.7; self-copies had it before their queue)', () => {
  it('retries only what may pass, after Retry-After (capped), a bounded number of times', () => {
    expect(snapshotRetryDelay(new ApiError(429, 'rate_limited', '', 7), 0)).toBe(7000);
    expect(snapshotRetryDelay(new ApiError(429, 'rate_limited', '', 3600), 0)).toBe(60_000);
    expect(snapshotRetryDelay(new ApiError(0, 'network', ''), 1)).toBe(4000);
    expect(snapshotRetryDelay(new ApiError(507, 'mailbox_full', ''), 0)).toBe(2000);
    expect(snapshotRetryDelay(new PublishError([]), 2)).toBe(8000);
    expect(snapshotRetryDelay(new ApiError(429, 'rate_limited', '', 1), SNAPSHOT_RETRIES)).toBeNull();
    expect(snapshotRetryDelay(new ApiError(413, 'payload_too_large', ''), 0)).toBeNull();
    expect(snapshotRetryDelay(new Error('bug'), 0)).toBeNull();
  });
  // The copies' own queue (persisted, paced with the messages): selfcopy-queue.test.ts.
});

describe('self-copies over nostr (SPEC §8.3, §12)', () => {
  it('with transport nostr, the copy is a kind 4244 to the own addr, and a second device gets it from the relay', async () => {
    const RELAYS = ['wss://relay.a'];
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const net = new FakeRelays(RELAYS);
    const me: Me = { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' };
    const opts = { advertisedRelays: RELAYS, nostrPool: () => net.pool(), nostrStateEveryMs: 0, ackDelayMs: 0, stallCheck: false };
    const alice = new ChatStore({ kv: memoryKV(), me, api: server.api(), ...opts });
    await alice.load();
    await alice.configure('nostr', RELAYS);
    await alice.startChat('bob');
    await alice.send(bp, 'over the relay');
    const copies = () => net.stored.get(RELAYS[0])!.filter((e) => e.kind === 4244 && e.tags.some(([k, v]) => k === 'q' && v === addr(ap)));
    await vi.waitFor(() => expect(copies()).toHaveLength(1));
    expect(net.stored.get(RELAYS[0])!.filter((e) => e.kind === 4243)).toHaveLength(1); // the original, to bob
    expect(server.posts).toHaveLength(0); // nostr only: the server is not used

    const alice2 = new ChatStore({ kv: memoryKV(), me, api: server.api(), ...opts });
    await alice2.load();
    await alice2.configure('nostr', RELAYS);
    alice2.connect();
    await vi.waitFor(() => expect(alice2.threads[bp]?.map((m) => [m.dir, m.body, m.status])).toEqual([['out', 'over the relay', 'sent']]));
    alice2.disconnect();
  });
});
