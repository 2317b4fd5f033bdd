// Files over transport `both` (SPEC §13, §12) on fake relays: every chunk
// goes both ways, the receiver assembles the file once (the second copy of
// each message is dropped by its id), and it shows delivered.
import { describe, expect, it, vi } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { memoryKV } from '../src/lib/kv';
import { CHUNK_SIZE } from '../src/lib/attachments/body';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
import { FakeEventSource, FakeServer } from './helpers';
import { FakeRelays } from './nostr-fake';
import { addr } from '../src/lib/nostr/keys';
import { buildKezEvent, eventKindFor } from '../src/lib/nostr/events';
import type { MessageKind } from '../src/lib/envelope';

const RELAYS = ['wss://relay.a'];

describe('files over both transports', () => {
  it('each chunk by the server and the relay; assembled once, delivered', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const net = new FakeRelays(RELAYS);
    const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
    const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;
    const opts = { EventSource, advertisedRelays: RELAYS, nostrPool: () => net.pool(), nostrStateEveryMs: 0, ackDelayMs: 0, pollMs: 3_600_000, stallCheck: false };
    const alice = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: server.api(), ...opts });
    const bob = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), api: server.api(), ...opts });
    await alice.load();
    await bob.load();
    alice.connect();
    bob.connect();
    await alice.startChat('bob');
    const bytes = new Uint8Array(2 * CHUNK_SIZE + 9).map((_, i) => i % 253);
    await alice.files.send(bp, 'both.bin', 'application/octet-stream', bytes);
    await alice.files.idle(bp);
    // Pointer + 3 chunks to the server (only the pointer pushes) and as 4 events to the relay:
    // the pointer as 4243 (may push), the chunks as 4244 (silent, SPEC §12), like notify false.
    expect(server.posts.filter((p) => p.to !== 'alice').map((p) => p.notify)).toEqual([true, false, false, false]);
    // The server took them first; the relay's copies follow once the nostr kit (loaded with import()) is there.
    const toBob = () => net.stored.get(RELAYS[0])!.filter((e) => e.kind !== 0 && e.tags[0][1] === addr(bp));
    await vi.waitFor(() => expect(toBob().map((e) => e.kind)).toEqual([4243, 4244, 4244, 4244]));
    // The pointer's self-copy (SPEC §8.3), silent; chunks are not copied.
    expect(server.posts.filter((p) => p.to === 'alice').map((p) => p.notify)).toEqual([false]);
    for (let i = 0; i < 5; i++) await settle();
    await pull(bob, server, 'bob'); // the same four again, from the server
    await settle();
    const files = bob.threads[ap].filter((m) => m.attachment);
    expect(files).toHaveLength(1);
    expect(files[0].attachment?.state).toBe('ready');
    expect(await bob.files.bytes(ap, files[0])).toEqual(bytes);
    for (let i = 0; i < 5; i++) await settle();
    await pull(alice, server, 'alice');
    await settle();
    expect(alice.threads[bp].find((m) => m.attachment)?.status).toBe('delivered');
    alice.disconnect();
    bob.disconnect();
  });
});

describe('event kind of a sealed kind (SPEC §12 "Kinds")', () => {
  it('4243 only for what may notify; acks, chunks and needs are silent 4244', () => {
    expect(['text', 'file', 'ack', 'chunk', 'need'].map((k) => eventKindFor(k as MessageKind))).toEqual([4243, 4243, 4244, 4244, 4244]);
    expect(() => buildKezEvent(4245, {}, 'a'.repeat(64), 1)).toThrow(/kind/);
  });
});
