// Files between ChatStores on the in-memory server, the edges review r12
// found (SPEC §13): strangers cannot block incoming files (their chunks share
// a small part of the buffer, are acked and dropped over it, pointerless ones
// expire after POINTERLESS_MS), failed chunk receipts are kept, need answers
// are counted across reloads, and a refused file does not stop the others.
import { describe, expect, it, vi } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { memoryKV } from '../src/lib/kv';
import { CHUNK_SIZE, chunkBody, MAX_FILE } from '../src/lib/attachments/body';
import { sendFiles } from '../src/lib/attachments/ui';
import { progressText } from '../src/lib/attachments/meta';
import { resolveObjectURL } from 'node:buffer';
import { assembleFrom, PEER_TRANSFERS, POINTERLESS_MS, STRANGER_TRANSFERS, TOTAL_TRANSFERS } from '../src/lib/attachments/assembler';
import { seal } from '../src/lib/envelope';
import { newMessageId } from '../src/lib/bytes';
import { ApiError, type InboxItem } from '../src/lib/api';
import { aliceSeed, bobSeed } from './chat-fixture';
import { FakeServer, seedFor } from './helpers';

// Each test seals and opens a few MB: on a loaded shared machine that takes longer than vitest's default 5 s.
vi.setConfig({ testTimeout: 30_000 });

let clock = Date.now();
const now = () => new Date(clock);
const file = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + (i >> 9)) % 256);

function store(server: FakeServer, seed: Uint8Array, handle: string, primary: string, kv = memoryKV()) {
  const me: Me = { seed, handle, primary, server: 'kez.test' };
  return new ChatStore({ kv, files: memoryKV(), me, api: server.api(), ackDelayMs: 0, now, stallCheck: false });
}

/** A chunk of a file the sender never announces (no pointer), sealed by `seed`. */
function strayChunk(seed: Uint8Array, handle: string, to: string, n: number): InboxItem {
  const id = newMessageId();
  const fileId = newMessageId().slice(0, 21) + 'A';
  const sent_at = now().toISOString().slice(0, 19) + 'Z';
  const body = chunkBody(fileId, file(2 * CHUNK_SIZE), 0);
  const { envelope } = seal(seed, { kind: 'chunk', id, from_handle: `${handle}@kez.test`, to, sent_at, body });
  return { seq: n, id, envelope, received_at: sent_at };
}

describe('chunks from strangers', () => {
  it('take at most STRANGER_TRANSFERS slots; a contact’s file still arrives; over the share they are acked; pointerless ones expire', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const strangers = ['carol', 'dave', 'erin', 'frank'].map((h) => ({ h, seed: seedFor(h), p: server.add(h, seedFor(h)) }));
    const alice = store(server, aliceSeed, 'alice', ap);
    const bob = store(server, bobSeed, 'bob', bp);
    await alice.load();
    await bob.load();
    await bob.startChat('alice');
    await bob.send(ap, 'hi'); // bob has written to alice: she is a contact
    // Enough stray chunks to fill every slot under the old bounds.
    const stray = strangers.flatMap((s) => Array.from({ length: PEER_TRANSFERS }, () => strayChunk(s.seed, s.h, bp, 0)));
    expect(stray.length).toBe(TOTAL_TRANSFERS);
    await bob.ingest(stray.map((m, i) => ({ ...m, seq: bob.lastSeq + i + 1 })));
    expect(bob.files.receiver.transfers.length).toBe(STRANGER_TRANSFERS);

    await alice.startChat('bob');
    await alice.files.send(bp, 'photo.png', 'image/png', file(CHUNK_SIZE + 10));
    await alice.files.idle(bp);
    const items = (server.boxes.get('bob') ?? []).filter((m) => !stray.some((s) => s.id === m.id));
    await bob.ingest(items.map((m, i) => ({ ...m, seq: bob.lastSeq + i + 1 })));
    expect(bob.threads[ap].find((m) => m.attachment)?.attachment?.state).toBe('ready');

    // The refused stray chunks are acked (discarded), so they are not decrypted on every reconnect.
    await bob.files.receiver.flushAcks();
    for (const s of strangers.slice(1)) expect(server.boxes.get(s.h)!.length, s.h).toBeGreaterThan(0);

    clock += POINTERLESS_MS + 1;
    await bob.files.checkStalls();
    expect(bob.files.receiver.transfers).toEqual([]);
  });
});

describe('chunk receipts', () => {
  it('a batch whose post fails is kept and goes with the next flush (review r12 #14)', async () => {
    const server = new FakeServer('kez.test');
    server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const bob = store(server, bobSeed, 'bob', bp);
    await bob.load();
    await bob.ingest([strayChunk(aliceSeed, 'alice', bp, 1)]);
    const before = server.boxes.get('alice')!.length;
    server.failNextPost = new ApiError(503, 'unavailable', '');
    await bob.files.receiver.flushAcks();
    expect(server.boxes.get('alice')!.length).toBe(before);
    await bob.files.receiver.flushAcks();
    expect(server.boxes.get('alice')!.length).toBe(before + 1);
  });
});

describe('answering a need', () => {
  it('the count of answers is saved before the chunks go, so MAX_RESENDS survives a reload (review r12 #16)', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const akv = memoryKV();
    const alice = store(server, aliceSeed, 'alice', ap, akv);
    const bob = store(server, bobSeed, 'bob', bp);
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.files.send(bp, 'photo.png', 'image/png', file(2 * CHUNK_SIZE + 10));
    await alice.files.idle(bp);
    const [pointer, chunk0] = server.boxes.get('bob')!;
    await bob.ingest([pointer, chunk0].map((m, i) => ({ ...m, seq: i + 1 })));
    await bob.files.askAgain(ap, bob.threads[ap].find((m) => m.attachment)!.id);
    const need = server.boxes.get('alice')!.at(-1)!;
    server.failNextPost = new ApiError(503, 'unavailable', ''); // the re-sent chunk waits before a retry
    await alice.ingest([{ ...need, seq: alice.lastSeq + 1 }]);
    const saved = (await akv.get<{ attachment?: { resent?: number } }[]>(`chat:${ap}:msgs:${bp}`))!;
    expect(saved.find((m) => m.attachment)?.attachment?.resent).toBe(1);
    await alice.close();
  });
});

describe('several files at once', () => {
  it('a refused file does not stop the others; every refusal is listed (review r12 #20)', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const alice = store(server, aliceSeed, 'alice', ap);
    await alice.load();
    await alice.startChat('bob');
    const picked = [
      new File(['one'], 'one.txt', { type: 'text/plain' }),
      new File([], 'empty.txt', { type: 'text/plain' }),
      new File([new Uint8Array(MAX_FILE + 1)], 'big.bin'),
      new File(['two'], 'two.txt', { type: 'text/plain' }),
    ];
    const said = await sendFiles(alice, bp, picked);
    await alice.files.idle(bp);
    expect(alice.threads[bp].filter((m) => m.attachment).map((m) => m.body)).toEqual(['one.txt', 'two.txt']);
    expect(said?.split('\n')).toEqual([expect.stringMatching(/^empty\.txt: That file is empty/), expect.stringMatching(/^big\.bin: That file is 10\.0 MB/)]);
    await alice.close();
  });
});

describe('memory (review r12 #15)', () => {
  it('object URLs are shared while shown and revoked when the last bubble lets go', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const alice = store(server, aliceSeed, 'alice', ap);
    await alice.load();
    await alice.startChat('bob');
    await alice.files.send(bp, 'a.png', 'image/png', file(100));
    const m = alice.threads[bp].find((x) => x.attachment)!;
    const u1 = await alice.files.url(bp, m);
    const u2 = await alice.files.url(bp, m);
    expect(u1).toBe(u2);
    alice.files.release(bp, m);
    expect(resolveObjectURL(u1!)).toBeDefined();
    alice.files.release(bp, m);
    await Promise.resolve();
    expect(resolveObjectURL(u1!)).toBeUndefined();
    await alice.close();
  });

  it('a file is assembled reading one chunk at a time into one buffer', async () => {
    const bytes = file(2 * CHUNK_SIZE + 5);
    let reading = 0;
    let most = 0;
    const built = await assembleFrom(bytes.length, async (i) => {
      most = Math.max(most, ++reading);
      await Promise.resolve();
      reading--;
      return bytes.slice(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
    });
    expect(built).toEqual({ ok: true, bytes });
    expect(most).toBe(1);
    expect(await assembleFrom(bytes.length, async (i) => (i === 1 ? undefined : new Uint8Array(CHUNK_SIZE)))).toEqual({ ok: false, reason: 'missing' });
  });
});

describe('offline (review r12 #19)', () => {
  it('a moving file says it is paused while offline', () => {
    const a = { name: 'a', mime: 'image/png', size: 1, sha256: '', mode: 'pointer', chunks: 71, done: 53 } as const;
    expect(progressText({ ...a, state: 'receiving' }, 'in')).toBe('Receiving 53/71…');
    expect(progressText({ ...a, state: 'receiving' }, 'in', true)).toBe('Paused – offline (53/71)');
    expect(progressText({ ...a, state: 'sending' }, 'out', true)).toBe('Paused – offline (53/71)');
    expect(progressText({ ...a, state: 'ready' }, 'in', true)).toBeNull();
  });
});
