// Deleting a conversation drops what still waits for that peer (TODO #188):
// a message, an op and a self-copy in the send queue are never posted (a
// copy already on its way does not bring the thread back: selfcopy-queue.test.ts),
// and an incoming file's buffered chunks go at once (later chunks are only
// acked); an outgoing file posts no chunk after the delete started.
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { PostCancelledError, type Api, type ChatAccess, type Outgoing } from '../src/lib/records';
import { MAX_FORGOTTEN_PEERS, Outbox } from '../src/lib/outbox';
import { MessageOps } from '../src/lib/ops/ops';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { CHUNK_SIZE } from '../src/lib/attachments/body';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, bobSeed, noWait, pull, settle } from './chat-fixture';
import { FakeServer } from './helpers';

vi.setConfig({ testTimeout: 30_000 });

const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
const settleAll = async () => {
  for (let i = 0; i < 6; i++) await settle();
};

/** Resolves once `cond()` holds (checked each macrotask, at most `tries` times). */
async function until(cond: () => boolean, tries = 200): Promise<void> {
  for (let i = 0; i < tries && !cond(); i++) await settle();
  expect(cond()).toBe(true);
}

describe('deleting a conversation', () => {
  it('drops the queued message, op and self-copy (held by a 429 pause); nothing brings the thread back', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    // The first self-copy (SPEC §8.3) is refused with a 429: the send queue pauses for its Retry-After
    // (the per-IP bucket is shared), and that pause (the queue's sleep) lasts until `open`.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const api: Api = server.api();
    const post = api.postMessage;
    let copiesWaiting = 0;
    api.postMessage = async (to, ...rest) => {
      if (to === 'alice' && copiesWaiting++ === 0) throw new ApiError(429, 'rate_limited', '', 5);
      return post(to, ...rest);
    };
    const alice = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api, ackDelayMs: 0, sleep: () => gate, stallCheck: false });
    await alice.load();
    await alice.startChat('bob');

    await alice.send(bp, 'one');
    const one = alice.threads[bp][0];
    expect(one.status).toBe('sent');
    await until(() => copiesWaiting === 1);
    const two = alice.send(bp, 'two');
    expect(await alice.ops.react(bp, one.id, '👍')).toBe(true);
    await alice.convo.delete(bp);
    open();
    await two;
    await settleAll();

    // Only 'one' (posted before the delete) reached bob; 'two' and the reaction were never sealed.
    expect(server.posts.filter((p) => p.to === 'bob@kez.test').map((p) => p.id)).toEqual([one.id]);
    // The copy of 'one' was still queued (history/copyqueue.ts): dropped with the conversation, never posted.
    expect(server.boxes.get('alice')!.map((m) => m.id)).toEqual([]);
    expect(copiesWaiting).toBe(1);
    await pull(alice, server, 'alice');
    expect(alice.conversation(bp)).toBeUndefined();
    expect(alice.threads[bp]).toBeUndefined();

    // A new message afterwards goes out as usual.
    await alice.startChat('bob');
    await alice.send(bp, 'three');
    expect(server.posts.filter((p) => p.to === 'bob@kez.test')).toHaveLength(2);
  });

  it('drops an incoming file’s buffered chunks at once; later chunks are only acked', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const bobFiles = memoryKV();
    const alice = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    const bob = new ChatStore({ kv: memoryKV(), files: bobFiles, me: me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.files.send(bp, 'big.bin', 'application/octet-stream', new Uint8Array(4 * CHUNK_SIZE).fill(7));
    await alice.files.idle(bp);
    const items = server.boxes.get('bob')!;
    expect(items).toHaveLength(5); // the pointer and four chunks

    await bob.ingest(items.slice(0, 3));
    const chunkKeys = () => [...bobFiles.map.keys()].filter((k) => k.includes(':chunk:'));
    expect(bob.files.receiver.transfers).toHaveLength(1);
    expect(chunkKeys()).toHaveLength(2);

    await bob.convo.delete(ap);
    expect(bob.files.receiver.transfers).toHaveLength(0);
    expect(chunkKeys()).toHaveLength(0);

    await bob.ingest(items.slice(3));
    expect(bob.files.receiver.transfers).toHaveLength(0);
    expect(chunkKeys()).toHaveLength(0);
    expect(bob.conversation(ap)).toBeUndefined();
  });
});

describe('deleting a conversation: files', () => {
  it('a file whose chunks came before its pointer was never shown: its pointer after the delete is a new message', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const alice = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    const bob = new ChatStore({ kv: memoryKV(), files: memoryKV(), me: me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0, stallCheck: false, selfCopies: false });
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'hi');
    await pull(bob, server, 'bob');
    const seen = server.boxes.get('bob')!.length;
    await alice.files.send(bp, 'big.bin', 'application/octet-stream', new Uint8Array(4 * CHUNK_SIZE).fill(7));
    await alice.files.idle(bp);
    const items = server.boxes.get('bob')!.slice(seen);
    expect(items).toHaveLength(5); // the pointer and four chunks

    await bob.ingest(items.slice(1, 3)); // two chunks, no pointer yet (relays and the mailbox allow it)
    expect(bob.files.receiver.transfers).toHaveLength(1);
    await bob.convo.delete(ap);
    expect(bob.files.receiver.transfers).toHaveLength(0);

    // The pointer, then the rest, as a relay may order them (re-numbered past the chunks, as the inbox takes seqs in order).
    const last = items[items.length - 1].seq;
    await bob.ingest([items[0], ...items.slice(3)].map((it, i) => ({ ...it, seq: last + 1 + i })));
    await settleAll();
    expect(bob.conversation(ap)?.unread).toBe(1);
    await bob.openThread(ap);
    expect(bob.threads[ap].map((m) => m.body)).toEqual(['big.bin']);
  });

  it('an outgoing file stops at the delete: no chunk is posted after it (a chunk in flight may land)', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const api: Api = server.api();
    const post = api.postMessage;
    let posts = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    api.postMessage = async (to, ...rest) => {
      if (++posts === 3) await gate; // the second chunk, held in flight
      return post(to, ...rest);
    };
    const alice = new ChatStore({ kv: memoryKV(), files: memoryKV(), me: me(aliceSeed, 'alice', ap), api, ackDelayMs: 0, sleep: noWait, stallCheck: false, selfCopies: false });
    await alice.load();
    await alice.startChat('bob');
    await alice.files.send(bp, 'big.bin', 'application/octet-stream', new Uint8Array(6 * CHUNK_SIZE).fill(7));
    await until(() => posts === 3);
    await alice.convo.delete(bp);
    open();
    await alice.files.idle(bp);
    await settleAll();
    expect(posts).toBe(3);
    expect(server.boxes.get('bob')).toHaveLength(3);
  });

  it('no chunk is sealed once the delete has started (the next chunk waited behind one in flight)', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    // The first chunk's post is held in flight at chunkGate, so the next chunk waits behind it.
    // (Self-copies no longer hold posts back: they have their own queue, history/copyqueue.ts.)
    let openChunk!: () => void;
    const chunkGate = new Promise<void>((r) => (openChunk = r));
    const api: Api = server.api();
    const post = api.postMessage;
    const toBob: string[] = [];
    api.postMessage = async (to, id, ...rest) => {
      if (to !== 'alice') {
        toBob.push(id);
        if (toBob.length === 2) await chunkGate;
      }
      return post(to, id, ...rest);
    };
    // The delete is held while it wipes the file's stored bytes: after the send queue was told, before the thread went.
    const files = memoryKV();
    let openDel!: () => void;
    const delGate = new Promise<void>((r) => (openDel = r));
    let delWaiting = false;
    const del = files.del.bind(files);
    files.del = async (k) => {
      delWaiting = true;
      await delGate;
      return del(k);
    };
    const alice = new ChatStore({ kv: memoryKV(), files, me: me(aliceSeed, 'alice', ap), api, ackDelayMs: 0, sleep: noWait, stallCheck: false });
    await alice.load();
    await alice.startChat('bob');
    await alice.files.send(bp, 'big.bin', 'application/octet-stream', new Uint8Array(3 * CHUNK_SIZE).fill(7));
    await until(() => toBob.length === 2);
    const deleting = alice.convo.delete(bp);
    await until(() => delWaiting);
    openChunk();
    await settleAll();
    openDel();
    await deleting;
    await alice.files.idle(bp);
    await settleAll();
    expect(toBob).toHaveLength(2); // the pointer and the chunk that was in flight
  });
});

describe('the send queue remembers a deletion past its bound', () => {
  it('a silent op queued before the delete stays dropped after 1,000 other conversations were deleted', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const posted: string[] = [];
    let waiting = false;
    // The transports' part: wait (a self-copy ahead), then seal only if not cancelled meanwhile.
    const chat = {
      closed: false,
      post: async (_peer: string, m: Outgoing, opts?: { cancelled?: () => boolean }) => {
        waiting = true;
        await gate;
        if (opts?.cancelled?.()) throw new PostCancelledError();
        posted.push(m.id);
        return {};
      },
    } as unknown as ChatAccess;
    const outbox = new Outbox(chat, noWait);
    const peer = (n: number) => 'ed25519:' + n.toString(16).padStart(64, '0');
    const op: Outgoing = { kind: 'reaction', id: 'op-0000000000000000001', sent_at: '2026-05-25T03:00:00Z', body: '{}' };
    const sent = outbox.postSilent(peer(0), op);
    await until(() => waiting);
    outbox.forget(peer(0));
    for (let i = 1; i <= MAX_FORGOTTEN_PEERS; i++) outbox.forget(peer(i));
    open();
    expect(await sent).toBe(true);
    expect(posted).toEqual([]);
    // A post queued now, to a peer never deleted, goes out.
    expect(await outbox.postSilent(peer(5000), { ...op, id: 'op-0000000000000000002' })).toBe(true);
    expect(posted).toEqual(['op-0000000000000000002']);
  });

  it('a reaction decided before the delete is not posted when the delete runs before it is handed to the queue', async () => {
    const posted: string[] = [];
    const outbox = new Outbox({ closed: false, post: async (_p: string, m: Outgoing) => void posted.push(m.id) } as unknown as ChatAccess, noWait);
    const peer = 'ed25519:' + '1'.repeat(64);
    const target = { id: 'target-00000000000001', dir: 'in' as const, body: 'hi', sent_at: '2026-05-25T03:00:00Z', status: 'received' as const };
    const conv = { peer_primary: peer, peer_handle: null, last_at: target.sent_at, last_preview: 'hi', unread: 0, unsent: false };
    // The write queue hands the op's outcome back only after the delete (below) ran.
    let applied = false;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const chat = {
      closed: false,
      now: () => new Date(),
      serial: async <T>(fn: () => Promise<T>) => {
        const out = await fn();
        applied = true;
        await held;
        return out;
      },
      conversation: () => conv,
      thread: async () => [target],
      saveThread: async () => {},
      saveConvs: async () => {},
    } as unknown as ChatAccess;
    const ops = new MessageOps({ chat, own: 'ed25519:' + '2'.repeat(64), postSilent: (p, m, g) => outbox.postSilent(p, m, g), generation: (p) => outbox.generation(p), blocked: () => false, wipeFile: async () => {} });
    const reacting = ops.react(peer, target.id, '👍');
    await until(() => applied);
    outbox.forget(peer); // the conversation is deleted
    release();
    expect(await reacting).toBe(true);
    await settleAll();
    expect(posted).toEqual([]);
  });
});

