// Besides the ephemeral one, the own devices' `read` is also stored in the
// own mailbox, naming every message read in a conversation since the last
// one (SPEC §8.6 "Own devices", TODO #174/#197), so a device that was closed,
// or restored from the recovery phrase and replaying the mailbox from 0,
// ends with what was read elsewhere read here too. Here it is flushed by
// `pagehide` on a stub window (the 5 min and the page hidden:
// own-read-batch.test.ts). The stored `read` is applied like a live one and nothing else:
// never acked, never in the stored replay list or any IndexedDB record. A
// `read` from the PEER that arrives stored is the same display hint as a
// live one (receipts on), also never acked or kept.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { openEnvelope, seal } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { newMessageId } from '../src/lib/bytes';
import { rfc3339 } from '../src/lib/time';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
import { FakeEventSource, FakeServer } from './helpers';

const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;

async function until(what: string, cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

afterEach(() => void vi.unstubAllGlobals());

/** The page closing (`pagehide` on the stub window): the pending stored own reads go out. */
const pageHide = () => void window.dispatchEvent(new Event('pagehide'));

/** alice and bob on one server (server transport, no relays); bob's devices made on demand, each with its own KV. */
function world() {
  vi.stubGlobal('window', new EventTarget());
  FakeEventSource.all = [];
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const device = (seed: Uint8Array, handle: string, primary: string, kv = memoryKV(), now?: () => Date) => {
    const store = new ChatStore({ kv, me: me(seed, handle, primary), api: server.api(), EventSource, ackDelayMs: 0, selfCopies: false, now });
    return { kv, store };
  };
  /** The ids named by every `ack` in alice's mailbox (bob's delivery receipts). */
  const ackedToAlice = () =>
    server.boxes
      .get('alice')!
      .map((i) => openEnvelope(aliceSeed, i.envelope))
      .filter((m) => m.kind === 'ack')
      .flatMap((m) => m.body.split(','));
  return { server, ap, bp, device, ackedToAlice };
}

describe('a stored own read reaches devices that were not live (SPEC §8.6 "Own devices")', () => {
  it('a restored device replaying [M, own read naming M] over its stream ends with 0 unread; the read is not acked, stored or counted', async () => {
    const { server, ap, bp, device, ackedToAlice } = world();
    const alice = device(aliceSeed, 'alice', ap).store;
    const bob1 = device(bobSeed, 'bob', bp).store;
    for (const s of [alice, bob1]) await s.load();
    await alice.startChat('bob');
    await alice.send(bp, 'M');
    const m = alice.threads[bp][0].id;
    await pull(bob1, server, 'bob');
    bob1.connect();
    await bob1.openThread(ap);
    pageHide();
    await until('the own-devices read', () => server.boxes.get('bob')!.length === 2);
    const [, readItem] = server.boxes.get('bob')!;
    const read = openEnvelope(bobSeed, readItem.envelope);
    expect({ kind: read.kind, from: read.from, to: read.to, body: read.body }).toEqual({ kind: 'read', from: bp, to: bp, body: m });
    expect(server.posts.find((p) => p.id === read.id)!.notify).toBe(false);
    await bob1.close();

    // bob restores on a new device: empty storage, the mailbox replayed from 0 over the stream.
    const { kv, store: bob2 } = device(bobSeed, 'bob', bp);
    await bob2.load();
    bob2.connect();
    const es = FakeEventSource.all.filter((x) => x.url.includes('/v1/inbox/bob/stream')).at(-1)!;
    es.emit('open');
    for (const item of server.boxes.get('bob')!) es.emit('message', { data: JSON.stringify(item) });
    await until('the replay', () => bob2.lastSeq === 2);
    for (let i = 0; i < 10; i++) await settle();
    expect(bob2.conversation(ap)!.unread).toBe(0);
    expect(bob2.totalUnread).toBe(0);
    expect(bob2.conversation(bp)).toBeUndefined();
    // M is acked as delivered, the read is not (by anyone), and no post went to bob's own handle from bob2.
    await until('the receipt for M', () => ackedToAlice().includes(m));
    expect(ackedToAlice()).not.toContain(read.id);
    expect(server.boxes.get('bob')).toHaveLength(2);
    // Nothing of the read is in its storage (M is, so the check can see ids), not even the replay list.
    const stored = JSON.stringify([...kv.map]);
    expect(stored).toContain(m);
    expect(stored).not.toContain(read.id);
    await bob2.close();
    await alice.close();
  });

  it('a closed device that gets only the stored read: [M1, M2, M3, read naming M3] → 0, [M1, M2, M3, read naming M2] → 1', async () => {
    for (const [readUpTo, left] of [[3, 0], [2, 1]] as const) {
      const { server, ap, bp, device } = world();
      const alice = device(aliceSeed, 'alice', ap).store;
      const bob1 = device(bobSeed, 'bob', bp).store;
      // bob2 is loaded, never connected: no stream, so the ephemeral own reads cannot reach it.
      const bob2 = device(bobSeed, 'bob', bp).store;
      for (const s of [alice, bob1, bob2]) await s.load();
      await alice.startChat('bob');
      for (const t of ['M1', 'M2', 'M3']) await alice.send(bp, t);
      const ms = server.boxes.get('bob')!.slice();
      // bob1 has the thread open while the first `readUpTo` arrive, then the page closes: the stored read names them.
      await bob1.startChat('alice');
      await bob1.openThread(ap);
      await bob1.ingest(ms.slice(0, readUpTo));
      pageHide();
      await until('the stored own read', () => server.boxes.get('bob')!.length === 4);
      const read = openEnvelope(bobSeed, server.boxes.get('bob')![3].envelope);
      expect({ kind: read.kind, body: read.body }).toEqual({ kind: 'read', body: alice.threads[bp].slice(0, readUpTo).map((m) => m.id).join(',') });
      await pull(bob2, server, 'bob');
      for (let i = 0; i < 10; i++) await settle();
      expect(bob2.conversation(ap)!.unread).toBe(left);
      for (const s of [alice, bob1, bob2]) await s.close();
    }
  });

  it('a count from before the load, sent_at order unlike arrival order: the stored read names both, the closed device ends at 0', async () => {
    const { server, ap, bp, device } = world();
    let t = Date.now();
    const alice = device(aliceSeed, 'alice', ap, memoryKV(), () => new Date(t)).store;
    const { kv, store: bob1 } = device(bobSeed, 'bob', bp);
    const bob2 = device(bobSeed, 'bob', bp).store; // closed: never connected
    for (const s of [alice, bob1, bob2]) await s.load();
    await alice.startChat('bob');
    await alice.send(bp, 'Ma');
    t -= 60_000; // Mb arrives second but was sent a minute earlier: bob1's thread shows it first
    await alice.send(bp, 'Mb');
    await pull(bob1, server, 'bob');
    expect(bob1.conversation(ap)!.unread).toBe(2);
    await bob1.close();
    // Reloaded: the count predates the load, so opening matches the stored thread (sent_at order).
    const again = device(bobSeed, 'bob', bp, kv).store;
    await again.load();
    await again.openThread(ap);
    pageHide();
    await until('the stored own read', () => server.boxes.get('bob')!.length === 3);
    await pull(bob2, server, 'bob');
    for (let i = 0; i < 10; i++) await settle();
    expect(bob2.conversation(ap)!.unread).toBe(0);
    for (const s of [alice, again, bob2]) await s.close();
  });

  it('a device that applied the live read changes nothing when the stored one comes later (the count never goes up)', async () => {
    const { server, ap, bp, device } = world();
    const alice = device(aliceSeed, 'alice', ap).store;
    const bob2 = device(bobSeed, 'bob', bp).store;
    for (const s of [alice, bob2]) await s.load();
    bob2.connect();
    await alice.startChat('bob');
    for (const t of ['M1', 'M2', 'M3']) await alice.send(bp, t);
    await pull(bob2, server, 'bob');
    expect(bob2.conversation(ap)!.unread).toBe(3);
    const ids = alice.threads[bp].map((m) => m.id);
    /** A `read` from bob's other device naming `body`, as it seals one. */
    const ownRead = (body: string) => {
      const id = newMessageId();
      return { id, envelope: seal(bobSeed, { kind: 'read', id, from_handle: 'bob@kez.test', to: bp, sent_at: rfc3339(new Date()), body }).envelope };
    };
    // The live one (every id of the batch) over bob2's stream.
    const es = FakeEventSource.all.filter((x) => x.url.includes('/v1/inbox/bob/stream')).at(-1)!;
    es.emit('ephemeral', { data: JSON.stringify(ownRead(ids.join(','))) });
    await until('the live read applied', () => bob2.conversation(ap)!.unread === 0);
    await alice.send(bp, 'M4');
    await pull(bob2, server, 'bob');
    expect(bob2.conversation(ap)!.unread).toBe(1);
    // The stored one (M1..M3, read before) comes after M4: nothing changes.
    const stored = ownRead(ids.join(','));
    await server.api().postMessage('bob', stored.id, stored.envelope, { notify: false });
    await pull(bob2, server, 'bob');
    for (let i = 0; i < 10; i++) await settle();
    expect(bob2.lastSeq).toBe(5);
    expect(bob2.conversation(ap)!.unread).toBe(1);
    for (const s of [alice, bob2]) await s.close();
  });

  it('a read from the peer that arrives stored is a display hint (receipts on): marks Read, never acked or kept', async () => {
    const { server, ap, bp, device, ackedToAlice } = world();
    const alice = device(aliceSeed, 'alice', ap).store;
    const { kv, store: bob } = device(bobSeed, 'bob', bp);
    for (const s of [alice, bob]) await s.load();
    await bob.presence.setReadOn(true);
    await bob.startChat('alice');
    await bob.send(ap, 'hi');
    const sent = bob.threads[ap][0].id;
    // alice's client stores the read in bob's mailbox (a stored post, not ephemeral).
    const id = newMessageId();
    const { envelope } = seal(aliceSeed, { kind: 'read', id, from_handle: 'alice@kez.test', to: bp, sent_at: rfc3339(new Date()), body: sent });
    await server.api().postMessage('bob', id, envelope, { notify: false });
    await pull(bob, server, 'bob');
    for (let i = 0; i < 10; i++) await settle();
    expect(bob.threads[ap][0]).toMatchObject({ status: 'delivered', read: true });
    expect(bob.conversation(ap)!.unread).toBe(0);
    expect(server.boxes.get('alice')!.length).toBeGreaterThan(0); // bob's text
    expect(ackedToAlice()).toEqual([]);
    expect(JSON.stringify([...kv.map])).not.toContain(id);
    for (const s of [alice, bob]) await s.close();
  });
});
