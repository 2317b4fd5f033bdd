// What reading costs the own mailbox (SPEC §8.6 "Own devices", §7.5): every
// ~1 s batch of reading goes EPHEMERAL to the live own devices, but a STORED
// own `read` goes per conversation only as a fallback, 5 min after the first
// read not yet stored, or at once (with keepalive) when the page is hidden or
// closed. It names every id read there since the last one (the newest 100).
// Leaving or switching threads does not post one (a slow chat would cost a
// post per message). Real ChatStores on the fake server; fake timers.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { openEnvelope, type EnvelopeV2 } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { OWN_READ_STORE_MS } from '../src/lib/ownreads';
import type { Api } from '../src/lib/records';
import { aliceSeed, bobSeed, carolSeed } from './chat-fixture';
import { FakeEventSource, FakeServer } from './helpers';

const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** An EventTarget that counts its listeners per type (what a lock must leave behind: none). */
class Target extends EventTarget {
  readonly count = new Map<string, number>();
  override addEventListener(type: string, l: EventListenerOrEventListenerObject | null, o?: boolean | AddEventListenerOptions): void {
    this.count.set(type, (this.count.get(type) ?? 0) + 1);
    super.addEventListener(type, l, o);
  }
  override removeEventListener(type: string, l: EventListenerOrEventListenerObject | null, o?: boolean | EventListenerOptions): void {
    this.count.set(type, (this.count.get(type) ?? 0) - 1);
    super.removeEventListener(type, l, o);
  }
}

/**
 * A page (document + window stubs, visible) and alice, who has sent bob `n`
 * messages (in bob's mailbox, not yet on bob1); bob1 has the thread with
 * alice open, and one with carol. Then fake timers.
 */
async function world(n = 10) {
  const doc = Object.assign(new Target(), { visibilityState: 'visible' as DocumentVisibilityState });
  const win = new Target();
  vi.stubGlobal('document', doc);
  vi.stubGlobal('window', win);
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
  for (let i = 1; i <= n; i++) await alice.send(bp, `m${i}`);
  const items = server.boxes.get('bob')!.slice();
  const ids = items.map((i) => openEnvelope(bobSeed, i.envelope).id);
  const cp = await bob1.startChat('carol');
  await bob1.startChat('alice');
  await bob1.openThread(ap);
  vi.useFakeTimers();
  /** The own devices' reads posted STORED (to bob's own handle), opened: notify, keepalive and the ids named. */
  const stored = () =>
    server.posts
      .filter((p) => p.to.split('@')[0] === 'bob')
      .map((p) => ({ notify: p.notify, keepalive: p.keepalive, m: openEnvelope(bobSeed, p.envelope) }))
      .filter(({ m }) => m.kind === 'read' && m.from === bp && m.to === bp)
      .map(({ notify, keepalive, m }) => ({ notify, keepalive, ids: m.body.split(',') }));
  const ownEphemeral = () => ephemeral.filter((e) => e.to === 'bob@kez.test');
  const peerEphemeral = () => ephemeral.filter((e) => e.to === 'alice@kez.test');
  /** The messages `from`..`to` arrive one by one on bob1, a second apart (each its own 1 s batch). */
  const read = async (from = 0, to = n) => {
    for (const item of items.slice(from, to)) {
      await bob1.ingest([item]);
      await vi.advanceTimersByTimeAsync(1_000);
    }
  };
  const hide = async () => {
    doc.visibilityState = 'hidden';
    doc.dispatchEvent(new Event('visibilitychange'));
    await vi.advanceTimersByTimeAsync(0);
  };
  const close = async () => {
    vi.useRealTimers();
    for (const s of [alice, bob1]) await s.close();
  };
  return { server, ap, cp, alice, bob1, ids, items, doc, win, stored, ownEphemeral, peerEphemeral, read, hide, close };
}

describe('the stored own read: a 5 min fallback, flushed when the page is hidden or closed (SPEC §8.6)', () => {
  it('10 messages read one by one: 10 ephemeral own reads at once, ONE stored (notify false) naming all 10, 5 min after the first', async () => {
    const { ap, bob1, ids, stored, ownEphemeral, read, close } = await world();
    await read();
    expect(ownEphemeral()).toHaveLength(10);
    expect(bob1.conversation(ap)!.unread).toBe(0);
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS - 11_000);
    expect(stored()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stored()).toEqual([{ notify: false, keepalive: false, ids }]);
    // Nothing more while nothing new is read.
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS * 2);
    expect(stored()).toHaveLength(1);
    await close();
  });

  it('reading goes on: each stored one names only what was read since the last', async () => {
    const { ids, stored, read, close } = await world();
    await read(0, 5);
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(stored().map((s) => s.ids)).toEqual([ids.slice(0, 5)]);
    await read(5, 10);
    expect(stored()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(stored().map((s) => s.ids)).toEqual([ids.slice(0, 5), ids.slice(5)]);
    await close();
  });

  it('switching threads or closing the thread stores nothing at once (only the fallback later)', async () => {
    const { cp, ap, bob1, ids, stored, read, close } = await world();
    await read();
    await bob1.openThread(cp);
    await bob1.openThread(ap);
    bob1.closeThread();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(stored()).toEqual([]);
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(stored()).toEqual([{ notify: false, keepalive: false, ids }]);
    await close();
  });

  it('the page becoming hidden stores what was read at once, with keepalive', async () => {
    const { bob1, ids, stored, ownEphemeral, read, hide, close } = await world();
    await read();
    expect(ownEphemeral()).toHaveLength(10);
    expect(stored()).toEqual([]);
    await hide();
    expect(stored()).toEqual([{ notify: false, keepalive: true, ids }]);
    expect(bob1.totalUnread).toBe(0);
    // Nothing is pending any more: the fallback brings nothing.
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(stored()).toHaveLength(1);
    await close();
  });

  it('the page being closed (pagehide, no visibilitychange) stores what was read at once, with keepalive', async () => {
    const { ids, win, stored, read, close } = await world();
    await read(0, 3);
    win.dispatchEvent(new Event('pagehide'));
    expect(stored()).toEqual([{ notify: false, keepalive: true, ids: ids.slice(0, 3) }]);
    await close();
  });

  it('more than 100 read: the stored one names the newest 100', async () => {
    const { bob1, server, ids, stored, hide, close } = await world(103);
    await bob1.ingest(server.boxes.get('bob')!.slice());
    await vi.advanceTimersByTimeAsync(1_000);
    await hide();
    expect(stored()).toEqual([{ notify: false, keepalive: true, ids: ids.slice(3) }]);
    await close();
  });

  it('a conversation deleted before the flush: its pending stored read is dropped (the live ones had gone)', async () => {
    const { ap, bob1, stored, ownEphemeral, read, hide, close } = await world();
    await read();
    await bob1.convo.delete(ap);
    await hide();
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(ownEphemeral()).toHaveLength(10);
    expect(stored()).toEqual([]);
    await close();
  });

  it('a conversation deleted with a live batch pending: neither the own devices nor the peer get that read', async () => {
    const { ap, bob1, items, ownEphemeral, peerEphemeral, read, close } = await world();
    await bob1.presence.setReadOn(true);
    await read(0, 9);
    expect([ownEphemeral().length, peerEphemeral().length]).toEqual([9, 9]);
    await bob1.ingest([items[9]!]);
    await bob1.convo.delete(ap);
    await vi.advanceTimersByTimeAsync(1_000);
    expect([ownEphemeral().length, peerEphemeral().length]).toEqual([9, 9]);
    await close();
  });

  it('locking posts what is pending once, then removes the page listeners (a device restored later shows it read)', async () => {
    const { alice, bob1, ids, doc, win, stored, read, close } = await world();
    expect(win.count.get('pagehide')).toBe(2);
    await read();
    expect(stored()).toEqual([]);
    await bob1.close();
    expect(stored()).toEqual([{ notify: false, keepalive: false, ids }]);
    expect(win.count.get('pagehide')).toBe(1); // alice's
    await alice.close();
    expect(win.count.get('pagehide')).toBe(0);
    expect(doc.count.get('visibilitychange')).toBe(0);
    doc.visibilityState = 'hidden';
    doc.dispatchEvent(new Event('visibilitychange'));
    win.dispatchEvent(new Event('pagehide'));
    await vi.advanceTimersByTimeAsync(OWN_READ_STORE_MS);
    expect(stored()).toHaveLength(1);
    await close();
  });
});
