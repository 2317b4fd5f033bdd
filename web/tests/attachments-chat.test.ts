// Files between two ChatStores on the in-memory server (SPEC §13): inline
// and chunked, chunks shuffled / before the pointer / duplicated, a missing
// chunk answered by `need`, a wrong hash, a reload in the middle, and
// "delivered" only once the whole file is there.
import { describe, expect, it, vi } from 'vitest';
import { ChatStore, FileTooLargeError, type ChatMessage, type Me } from '../src/lib/chat.svelte';
import { memoryKV } from '../src/lib/kv';
import { CHUNK_SIZE, chunkBody, MAX_FILE, pointerBody, sha256Hex } from '../src/lib/attachments/body';
import { PEER_TRANSFERS, STALL_MS } from '../src/lib/attachments/assembler';
import { seal } from '../src/lib/envelope';
import type { InboxItem } from '../src/lib/api';
import { aliceSeed, bobSeed } from './chat-fixture';
import { FakeServer } from './helpers';

// Each test seals and opens a few MB: on a loaded shared machine that takes longer than vitest's default 5 s.
vi.setConfig({ testTimeout: 30_000 });

let clock = Date.now();
const now = () => new Date(clock);

function world() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const kv = { alice: memoryKV(), bob: memoryKV() };
  const files = { alice: memoryKV(), bob: memoryKV() };
  const store = (who: 'alice' | 'bob') =>
    new ChatStore({
      kv: kv[who],
      files: files[who],
      me: who === 'alice' ? me(aliceSeed, 'alice', ap) : me(bobSeed, 'bob', bp),
      api: server.api(),
      ackDelayMs: 0,
      now,
      stallCheck: false,
    });
  return { server, ap, bp, store, kv };
}

/** What is in `handle`'s box after `since`, by seq. */
const box = (server: FakeServer, handle: string, since = 0): InboxItem[] => (server.boxes.get(handle) ?? []).filter((m) => m.seq > since);
/** Ingest `items` as if they arrived in this order (seqs renumbered above the store's). */
async function deliver(store: ChatStore, items: InboxItem[]) {
  const base = store.lastSeq;
  await store.ingest(items.map((m, i) => ({ ...m, seq: base + i + 1 })));
}
const settle = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const file = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + (i >> 9)) % 256);
const shuffle = <T>(xs: T[]) => xs.map((x) => [Math.sin(xs.indexOf(x) * 99) , x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
const fileMsg = (s: ChatStore, peer: string, dir: 'in' | 'out'): ChatMessage | undefined => s.threads[peer]?.find((m) => m.dir === dir && m.attachment);

async function sendAndCollect(w: ReturnType<typeof world>, alice: ChatStore, bytes: Uint8Array, name = 'photo.png', mime = 'image/png') {
  await alice.load();
  await alice.startChat('bob');
  await alice.files.send(w.bp, name, mime, bytes);
  await alice.files.idle(w.bp);
  return box(w.server, 'bob');
}

describe('files between two chat stores', () => {
  it('inline: one message that pushes, stored, acked, delivered', async () => {
    const w = world();
    const alice = w.store('alice');
    const bob = w.store('bob');
    const bytes = file(5000);
    const items = await sendAndCollect(w, alice, bytes, 'note.txt', 'text/plain');
    expect(items).toHaveLength(1);
    expect(w.server.posts[0].notify).toBe(true);
    expect(fileMsg(alice, w.bp, 'out')).toMatchObject({ status: 'sent', body: 'note.txt', attachment: { mode: 'inline', state: 'ready' } });
    await bob.load();
    await deliver(bob, items);
    const m = fileMsg(bob, w.ap, 'in')!;
    expect(m.attachment).toMatchObject({ state: 'ready', name: 'note.txt', size: 5000 });
    expect(await bob.files.bytes(w.ap, m)).toEqual(bytes);
    expect(bob.conversation(w.ap)?.last_preview).toBe('📎 note.txt');
    // Sending a file makes bob a contact of alice (a profile wrap, SPEC §14.3); receiving one does not.
    expect(alice.conversation(w.bp)?.wrote).toBe(true);
    expect(bob.conversation(w.ap)?.wrote).toBeUndefined();
    await settle(5);
    await deliver(alice, box(w.server, 'alice'));
    expect(fileMsg(alice, w.bp, 'out')?.status).toBe('delivered');
  });

  it('chunked: pointer pushes, chunks do not; shuffled, chunks first, duplicated: assembled once, then delivered', async () => {
    const w = world();
    const alice = w.store('alice');
    const bob = w.store('bob');
    const bytes = file(3 * CHUNK_SIZE + 17);
    const items = await sendAndCollect(w, alice, bytes);
    expect(items).toHaveLength(5);
    expect(w.server.posts.filter((p) => p.to !== 'alice').map((p) => p.notify)).toEqual([true, false, false, false, false]);
    // The pointer's self-copy (SPEC §8.3) to alice's own mailbox, silent; chunks are not copied.
    expect(w.server.posts.filter((p) => p.to === 'alice').map((p) => p.notify)).toEqual([false]);
    const [pointer, ...chunks] = items;
    await bob.load();
    // Two chunks before the pointer, in reverse, one of them twice; then the pointer, then the rest shuffled.
    await deliver(bob, [chunks[3], chunks[1], chunks[3]]);
    expect(fileMsg(bob, w.ap, 'in')).toBeUndefined();
    await deliver(bob, [pointer]);
    expect(fileMsg(bob, w.ap, 'in')?.attachment).toMatchObject({ state: 'receiving', done: 2, chunks: 4 });
    await settle(5);
    // Not acked while incomplete: nothing from bob names the pointer yet.
    await deliver(alice, box(w.server, 'alice'));
    expect(fileMsg(alice, w.bp, 'out')?.status).toBe('sent');
    await deliver(bob, shuffle([chunks[0], chunks[2]]));
    const m = fileMsg(bob, w.ap, 'in')!;
    expect(m.attachment).toMatchObject({ state: 'ready', done: 4 });
    expect(await bob.files.bytes(w.ap, m)).toEqual(bytes);
    expect(bob.threads[w.ap].filter((x) => x.attachment)).toHaveLength(1);
    await settle(5);
    await deliver(alice, box(w.server, 'alice'));
    expect(fileMsg(alice, w.bp, 'out')?.status).toBe('delivered');
  });

  it('a reload in the middle: the sealed buffer survives and the transfer completes', async () => {
    const w = world();
    const alice = w.store('alice');
    const bytes = file(4 * CHUNK_SIZE);
    const items = await sendAndCollect(w, alice, bytes);
    const bob1 = w.store('bob');
    await bob1.load();
    await bob1.ingest(items.slice(0, 3));
    expect(fileMsg(bob1, w.ap, 'in')?.attachment).toMatchObject({ state: 'receiving', done: 2 });
    await bob1.close();
    const bob2 = w.store('bob');
    await bob2.load();
    await bob2.openThread(w.ap);
    expect(fileMsg(bob2, w.ap, 'in')?.attachment).toMatchObject({ state: 'receiving', done: 2 });
    await bob2.ingest(items);
    const m = fileMsg(bob2, w.ap, 'in')!;
    expect(m.attachment?.state).toBe('ready');
    expect(await bob2.files.bytes(w.ap, m)).toEqual(bytes);
  });

  it('a missing chunk: stalled → failed → ask again → the sender re-sends it → ready', async () => {
    const w = world();
    const alice = w.store('alice');
    const bob = w.store('bob');
    const bytes = file(3 * CHUNK_SIZE);
    const items = await sendAndCollect(w, alice, bytes);
    await bob.load();
    await deliver(bob, [items[0], items[1], items[3]]);
    await bob.files.checkStalls();
    expect(fileMsg(bob, w.ap, 'in')?.attachment?.state).toBe('receiving');
    clock += STALL_MS + 1000;
    await bob.files.checkStalls();
    expect(fileMsg(bob, w.ap, 'in')?.attachment).toMatchObject({ state: 'failed', note: 'Stopped at 2/3.' });
    await bob.files.askAgain(w.ap, items[0].id);
    expect(fileMsg(bob, w.ap, 'in')?.attachment?.state).toBe('receiving');
    const need = w.server.posts.at(-1)!;
    expect(need.notify).toBe(false);
    const aliceSince = alice.lastSeq;
    await deliver(alice, box(w.server, 'alice', aliceSince));
    await alice.files.idle(w.bp);
    const resent = box(w.server, 'bob', items.at(-1)!.seq);
    expect(resent).toHaveLength(1);
    expect(fileMsg(alice, w.bp, 'out')).toMatchObject({ status: 'sent', attachment: { state: 'ready', resent: 1 } });
    await deliver(bob, resent);
    const m = fileMsg(bob, w.ap, 'in')!;
    expect(m.attachment?.state).toBe('ready');
    expect(await bob.files.bytes(w.ap, m)).toEqual(bytes);
  });

  it('a wrong hash: the file shows damaged, is not stored and not acked', async () => {
    const w = world();
    const alice = w.store('alice');
    const bob = w.store('bob');
    const bytes = file(2 * CHUNK_SIZE);
    const items = await sendAndCollect(w, alice, bytes);
    const [, ...chunks] = items;
    const out = fileMsg(alice, w.bp, 'out')!.attachment!;
    const wrong = pointerBody(out.file_id!, 'photo.png', 'image/png', bytes.length, await sha256Hex(new Uint8Array(3)));
    const sentAt = now().toISOString().slice(0, 19) + 'Z';
    const { envelope } = seal(aliceSeed, { kind: 'file', id: 'Zm9yZ2VkUG9pbnRlcjAwMQ', from_handle: 'alice@kez.test', to: w.bp, sent_at: sentAt, body: wrong });
    await bob.load();
    await deliver(bob, [{ seq: 0, id: 'Zm9yZ2VkUG9pbnRlcjAwMQ', envelope, received_at: sentAt }, ...chunks]);
    const m = fileMsg(bob, w.ap, 'in')!;
    expect(m.attachment).toMatchObject({ state: 'failed', note: 'The file arrived damaged.' });
    expect(await bob.files.bytes(w.ap, m)).toBeNull();
    await settle(5);
    const acks = box(w.server, 'alice');
    await deliver(alice, acks);
    // Only chunk receipts went out: the (forged) pointer was never acked.
    expect(m.acked).toBe(false);
  });

  it('over 10 MiB is refused before anything is stored or sent', async () => {
    const w = world();
    const alice = w.store('alice');
    await alice.load();
    await alice.startChat('bob');
    await expect(alice.files.send(w.bp, 'big.bin', 'application/octet-stream', new Uint8Array(MAX_FILE + 1))).rejects.toThrow(FileTooLargeError);
    expect(w.server.posts).toHaveLength(0);
    expect(alice.threads[w.bp] ?? []).toHaveLength(0);
  });

  it('a 429 waits Retry-After, visibly, and goes on; nothing is dropped', async () => {
    const w = world();
    const alice = w.store('alice');
    const { ApiError } = await import('../src/lib/api');
    await alice.load();
    await alice.startChat('bob');
    w.server.failNextPost = new ApiError(429, 'rate_limited', '', 1);
    await alice.files.send(w.bp, 'x.bin', 'application/octet-stream', file(2 * CHUNK_SIZE + 1));
    for (let i = 0; i < 200 && fileMsg(alice, w.bp, 'out')?.attachment?.state !== 'waiting'; i++) await settle(5);
    expect(fileMsg(alice, w.bp, 'out')?.attachment).toMatchObject({ state: 'waiting', note: 'Waiting (sending too fast)…' });
    await alice.files.idle(w.bp);
    expect(fileMsg(alice, w.bp, 'out')).toMatchObject({ status: 'sent', attachment: { state: 'ready', done: 3 } });
    expect(box(w.server, 'bob')).toHaveLength(4);
  });

  it('a final error stops with Retry, which continues where it stopped', async () => {
    const w = world();
    const alice = w.store('alice');
    const { ApiError } = await import('../src/lib/api');
    await alice.load();
    await alice.startChat('bob');
    w.server.failNextPost = new ApiError(413, 'payload_too_large', '');
    await alice.files.send(w.bp, 'x.bin', 'application/octet-stream', file(2 * CHUNK_SIZE + 1));
    await alice.files.idle(w.bp);
    expect(fileMsg(alice, w.bp, 'out')).toMatchObject({ status: 'failed', attachment: { state: 'failed' } });
    await alice.retry(w.bp, fileMsg(alice, w.bp, 'out')!.id);
    expect(fileMsg(alice, w.bp, 'out')).toMatchObject({ status: 'sent', attachment: { state: 'ready', done: 3 } });
    expect(box(w.server, 'bob')).toHaveLength(4);
  });

  it('a chunk re-sent after its file completed starts no new transfer', async () => {
    const w = world();
    const alice = w.store('alice');
    const bob = w.store('bob');
    const bytes = file(2 * CHUNK_SIZE + 3);
    const items = await sendAndCollect(w, alice, bytes);
    await bob.load();
    await deliver(bob, items);
    expect(fileMsg(bob, w.ap, 'in')?.attachment?.state).toBe('ready');
    const fileId = fileMsg(alice, w.bp, 'out')!.attachment!.file_id!;
    const sentAt = now().toISOString().slice(0, 19) + 'Z';
    const id = 'bGF0ZUNodW5rUmVzZW50MDE';
    const { envelope } = seal(aliceSeed, { kind: 'chunk', id, from_handle: 'alice@kez.test', to: w.bp, sent_at: sentAt, body: chunkBody(fileId, bytes, 1) });
    await deliver(bob, [{ seq: 0, id, envelope, received_at: sentAt }]);
    expect(await w.kv.bob.get(`chat:${w.bp}:xfers`)).toEqual([]);
    expect(fileMsg(bob, w.ap, 'in')?.attachment?.state).toBe('ready');
  });

  it('a file deleted for everyone while its chunks arrive: the transfer stops, later chunks are only acked, no bytes are kept (TODO #164)', async () => {
    const w = world();
    const alice = w.store('alice');
    const bob = w.store('bob');
    const bytes = file(3 * CHUNK_SIZE + 5);
    const items = await sendAndCollect(w, alice, bytes);
    const [pointer, ...chunks] = items;
    await bob.load();
    await deliver(bob, [pointer, chunks[0]]);
    expect(fileMsg(bob, w.ap, 'in')?.attachment).toMatchObject({ state: 'receiving', done: 1 });
    const sent = fileMsg(alice, w.bp, 'out')!;
    expect(await alice.ops.remove(w.bp, sent.id)).toBe(true);
    await alice.files.idle(w.bp);
    await settle(5);
    const del = box(w.server, 'bob', items[items.length - 1].seq);
    expect(del).toHaveLength(1);
    await deliver(bob, del);
    expect(bob.files.receiver.transfers).toEqual([]);
    await deliver(bob, chunks.slice(1));
    expect(bob.files.receiver.transfers).toEqual([]);
    const m = bob.threads[w.ap].find((x) => x.id === pointer.id);
    expect(m?.deleted).toBe(true);
    expect(await bob.files.bytes(w.ap, { ...m!, dir: 'in' })).toBeNull();
  });

  it('pointers over the transfer bound show failed; "Ask again" starts one once there is room', async () => {
    const w = world();
    const alice = w.store('alice');
    const bob = w.store('bob');
    await alice.load();
    await alice.startChat('bob');
    for (let i = 0; i <= PEER_TRANSFERS; i++) await alice.files.send(w.bp, `f${i}.bin`, 'application/octet-stream', file(CHUNK_SIZE + 1 + i));
    await alice.files.idle(w.bp);
    const items = box(w.server, 'bob');
    await bob.load();
    // Only the pointers (every third item: pointer, chunk, chunk).
    await deliver(bob, items.filter((_, i) => i % 3 === 0));
    const states = bob.threads[w.ap].map((m) => m.attachment?.state);
    expect(states).toEqual([...Array(PEER_TRANSFERS).fill('receiving'), 'failed']);
    const last = bob.threads[w.ap][PEER_TRANSFERS];
    expect(last.attachment?.note).toBe('Too many files arriving at once.');
    await deliver(bob, items.slice(1, 3));
    expect(bob.threads[w.ap][0].attachment?.state).toBe('ready');
    const posts = w.server.posts.length;
    await bob.files.askAgain(w.ap, last.id);
    expect(w.server.posts.length).toBe(posts + 1);
    expect(bob.threads[w.ap][PEER_TRANSFERS].attachment?.state).toBe('receiving');
  });
});
