// What reading costs the own mailbox (SPEC §8.6 "Own devices", §7.5): every
// ~1 s batch of reading goes EPHEMERAL to the live own devices, but only ONE
// stored own `read` per conversation per 30 s, naming the newest message read,
// posted 30 s after the first read not yet stored, or at once when the page
// is hidden or the thread is left. A stored one per batch would double a
// heavy user's own posts against the sender share. Real ChatStores on the
// fake server; fake timers for the 1 s batches and the 30 s.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { openEnvelope, type EnvelopeV2 } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { OWN_READ_STORE_MS } from '../src/lib/ownreads';
import type { Api } from '../src/lib/records';
import { aliceSeed, bobSeed, carolSeed, pull } from './chat-fixture';
import { FakeEventSource, FakeServer } from './helpers';

const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/**
 * alice has sent bob 10 messages (in bob's mailbox, not yet on bob1); bob1
 * has the thread with alice open, and one with carol. Then fake timers.
 */
async function world() {
  FakeEventSource.all = [];
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  server.add('carol', carolSeed);
  const ephemeral: { to: string; id: string; envelope: EnvelopeV2 }[] = [];
  const api: Api = { ...server.api(), postEphemeral: async (to, id, envelope) => void ephemeral.push({ to, id, envelope }) };
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const opts = { api, EventSource, ackDelayMs: 0, selfCopies: false };
  const alice = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), ...opts });
  const bob1 = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), ...opts });
  for (const s of [alice, bob1]) await s.load();
  await alice.startChat('bob');
  for (let i = 1; i <= 10; i++) await alice.send(bp, `m${i}`);
  const items = server.boxes.get('bob')!.slice();
  const ids = items.map((i) => openEnvelope(bobSeed, i.envelope).id);
  const cp = await bob1.startChat('carol');
  await bob1.startChat('alice');
  await bob1.openThread(ap);
  vi.useFakeTimers();
  /** The own devices' reads posted STORED (to bob's own handle), opened: notify and the ids named. */
  const stored = () =>
    server.posts
      .filter((p) => p.to.split('@')[0] === 'bob')
      .map((p) => ({ notify: p.notify, m: openEnvelope(bobSeed, p.envelope) }))
      .filter(({ m }) => m.kind === 'read' && m.from === bp && m.to === bp)
      .map(({ notify, m }) => ({ notify, body: m.body }));
  const ownEphemeral = () => ephemeral.filter((e) => e.to === 'bob@kez.test');
  /** The 10 messages arrive one by one on bob1, a second apart (each its own 1 s batch). */
  const readTen = async () => {
    for (const item of items) {
      await bob1.ingest([item]);
      await vi.advanceTimersByTimeAsync(1_000);
    }
  };
  const close = async () => {
    vi.useRealTimers();
    for (const s of [alice, bob1]) await s.close();
  };
  return { server, ap, cp, bob1, ids, stored, ownEphemeral, readTen, close };
}

describe('the stored own read is one per conversation per 30 s, naming the newest (SPEC §8.6)', () => {
  it('10 messages read one by one: 10 ephemeral own reads at once, ONE stored (notify false) naming the newest, 30 s after the first', async () => {
    const { ap, bob1, ids, stored, ownEphemeral, readTen, close } = await world();
    await readTen();
    expect(ownEphemeral()).toHaveLength(10);
    expect(bob1.conversation(ap)!.unread).toBe(0);
    // 10 s in: nothing stored yet.
    expect(stored()).toEqual([]);
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS - 10_000);
    expect(stored()).toEqual([{ notify: false, body: ids[9] }]);
    // Nothing more while nothing new is read.
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS * 2);
    expect(stored()).toHaveLength(1);
    await close();
  });

  it('reading goes on: at most one stored per 30 s, each naming the newest read by then', async () => {
    const { server, bob1, ids, stored, readTen, close } = await world();
    // 5 of them first, then 30 s pass: one stored naming the 5th.
    for (const item of server.boxes.get('bob')!.slice(0, 5)) {
      await bob1.ingest([item]);
      await vi.advanceTimersByTimeAsync(1_000);
    }
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS - 5_000);
    expect(stored().map((s) => s.body)).toEqual([ids[4]]);
    await readTen(); // the first 5 again are duplicates (skipped); 6..10 are read over the next seconds
    expect(stored()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(stored().map((s) => s.body)).toEqual([ids[4], ids[9]]);
    await close();
  });

  it('switching threads or closing the thread stores what was read at once', async () => {
    const { cp, ap, bob1, ids, stored, readTen, close } = await world();
    await readTen();
    expect(stored()).toEqual([]);
    await bob1.openThread(cp);
    await vi.advanceTimersByTimeAsync(0);
    expect(stored()).toEqual([{ notify: false, body: ids[9] }]);
    // Nothing is pending any more: the 30 s bring nothing.
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(stored()).toHaveLength(1);
    await bob1.openThread(ap);
    bob1.closeThread();
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(stored()).toHaveLength(1); // nothing new was read there
    await close();
  });

  it('the page becoming hidden stores what was read at once', async () => {
    const page = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState });
    vi.stubGlobal('document', page);
    const { bob1, ids, stored, ownEphemeral, readTen, close } = await world();
    await readTen();
    expect(ownEphemeral()).toHaveLength(10);
    expect(stored()).toEqual([]);
    page.visibilityState = 'hidden';
    page.dispatchEvent(new Event('visibilitychange'));
    await vi.advanceTimersByTimeAsync(0);
    expect(stored()).toEqual([{ notify: false, body: ids[9] }]);
    expect(bob1.totalUnread).toBe(0);
    await close();
  });

  it('a conversation deleted before the 30 s: its pending stored read is dropped', async () => {
    const { ap, bob1, stored, ownEphemeral, readTen, close } = await world();
    await readTen();
    await bob1.convo.delete(ap);
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(ownEphemeral()).toHaveLength(10);
    expect(stored()).toEqual([]);
    await close();
  });
});
