// The own devices' `read` (SPEC §8.6 "Own devices", TODO #174): it goes to
// the own handle over the server only, never as a nostr 24244 to the own
// addr, which the peer (who knows that addr) could watch to learn when we
// read with receipts off. The devices that get it match it against the ids
// behind their unread counts, without opening threads, and skip their own
// echo.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { openEnvelope, type EnvelopeV2 } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { KIND_EPHEMERAL } from '../src/lib/nostr/events';
import { Transports } from '../src/lib/transports';
import type { TransportHost } from '../src/lib/transporthost';
import { addr } from '../src/lib/nostr/keys';
import type { Api } from '../src/lib/records';
import { aliceSeed, bobSeed, carolSeed, pull, settle } from './chat-fixture';
import { newMessageId } from '../src/lib/bytes';
import { FakeEventSource, FakeServer } from './helpers';
import { FakeRelays } from './nostr-fake';

const RELAYS = ['wss://relay.a'];

/** alice (server + relays, ephemeral posts recorded) with one message from bob, unread. */
async function setup() {
  FakeEventSource.all = [];
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const net = new FakeRelays(RELAYS);
  const ephemeral: { to: string; id: string; envelope: EnvelopeV2 }[] = [];
  const api: Api = { ...server.api(), postEphemeral: async (to, id, envelope) => void ephemeral.push({ to, id, envelope }) };
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;
  const opts = { api, EventSource, advertisedRelays: RELAYS, nostrPool: () => net.pool(), nostrStateEveryMs: 0, ackDelayMs: 0, pollMs: 3_600_000, selfCopies: false };
  const alice = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), ...opts });
  const bob = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), ...opts });
  for (const s of [alice, bob]) await s.load();
  await bob.configure('server', []);
  await bob.startChat('alice');
  await bob.send(ap, 'hi');
  await pull(alice, server, 'alice');
  expect(alice.conversation(bp)!.unread).toBe(1);
  /** The 24244 events published to `primary`'s addr. */
  const live = (primary: string) => [...net.stored.values()].flat().filter((e) => e.kind === KIND_EPHEMERAL && e.tags.some((t) => t[0] === 'q' && t[1] === addr(primary)));
  return { ap, bp, alice, bob, server, ephemeral, live };
}

async function until(what: string, cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

afterEach(() => void vi.unstubAllGlobals());

describe('the own devices’ read never goes to a relay (SPEC §8.6)', () => {
  it('transport both: the STORED own read (flushed by pagehide) goes to the own handle only, notify false, no 24244 to the own addr', async () => {
    const win = new EventTarget();
    vi.stubGlobal('window', win);
    const { ap, bp, alice, server, live } = await setup();
    expect(alice.transport).toBe('both');
    alice.connect();
    await alice.openThread(bp);
    await settle();
    win.dispatchEvent(new Event('pagehide'));
    const own = () => server.posts.filter((p) => p.to.startsWith('alice') && openEnvelope(aliceSeed, p.envelope as EnvelopeV2).from === ap);
    await until('the stored own read', () => own().length > 0);
    await settle();
    expect(own().map((p) => openEnvelope(aliceSeed, p.envelope as EnvelopeV2).kind)).toEqual(['read']);
    // A relay publish (the nostr kit loaded first) would land within this; one does when the stored path is let onto nostr.
    await new Promise((r) => setTimeout(r, 500));
    expect(own().map((p) => ({ notify: p.notify, keepalive: p.keepalive }))).toEqual([{ notify: false, keepalive: true }]);
    expect(live(ap)).toHaveLength(0);
    await alice.close();
  });

  it('postLive refuses to store a read to a peer (only the own one is stored)', async () => {
    const { bp, server } = await setup();
    const before = server.posts.length;
    const host = { deps: { me: { seed: aliceSeed, handle: 'alice', primary: 'not-bob', server: 'kez.test' } }, api: server.api(), closed: () => false, transport: () => 'server', relays: () => [] };
    const t = new Transports(host as unknown as TransportHost);
    const m = { kind: 'read' as const, id: newMessageId(), sent_at: new Date().toISOString(), body: newMessageId() };
    await expect(t.postLive(bp, m, true)).rejects.toThrow(/only the own/);
    expect(server.posts).toHaveLength(before);
  });


  it('transport both, receipts off: posted to the own handle, no 24244 to the own addr', async () => {
    const { ap, bp, alice, ephemeral, live } = await setup();
    expect(alice.transport).toBe('both');
    expect(alice.presence.readOn).toBe(false);
    alice.connect();
    await alice.openThread(bp);
    await until('the own-devices read', () => ephemeral.length > 0);
    await settle();
    expect(ephemeral.map((e) => e.to)).toEqual(['alice@kez.test']);
    expect(live(ap)).toHaveLength(0);
    await alice.close();
  });

  it('transport nostr, receipts on: the read to the peer is published, none to the own addr', async () => {
    const { ap, bp, alice, ephemeral, live } = await setup();
    await alice.configure('nostr', RELAYS);
    await alice.presence.setReadOn(true);
    alice.connect();
    await alice.openThread(bp);
    // The peer's and the own read are flushed together: once the peer's is out, the own one was decided.
    await until('the read to bob', () => live(bp).length > 0);
    await settle();
    expect(live(ap)).toHaveLength(0);
    expect(ephemeral).toHaveLength(0);
    await alice.close();
  });
});

/** alice and carol, and two live devices of bob; ephemeral posts reach every live stream of their handle (SPEC §7.7), the sender's included. */
async function devices() {
  FakeEventSource.all = [];
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const cp = server.add('carol', carolSeed);
  const ephemeral: { to: string; id: string; envelope: EnvelopeV2 }[] = [];
  const api: Api = { ...server.api(), postEphemeral: async (to, id, envelope) => void ephemeral.push({ to, id, envelope }) };
  const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;
  /** Thread records read from each store's KV. */
  const threadReads = new Map<string, number>();
  const kvs = new Map<string, ReturnType<typeof memoryKV>>();
  const store = (seed: Uint8Array, handle: string, primary: string, name = handle) => {
    const kv = kvs.get(name) ?? memoryKV();
    if (kvs.has(name)) return new ChatStore({ kv, me: { seed, handle, primary, server: 'kez.test' }, api, ackDelayMs: 0, EventSource, selfCopies: false });
    kvs.set(name, kv);
    const get = kv.get.bind(kv);
    kv.get = (<T>(k: string) => {
      if (k.includes(':msgs:')) threadReads.set(name, (threadReads.get(name) ?? 0) + 1);
      return get<T>(k);
    }) as typeof kv.get;
    return new ChatStore({ kv, me: { seed, handle, primary, server: 'kez.test' }, api, ackDelayMs: 0, EventSource, selfCopies: false });
  };
  const alice = store(aliceSeed, 'alice', ap);
  const carol = store(carolSeed, 'carol', cp);
  const bob1 = store(bobSeed, 'bob', bp, 'bob1');
  const bob2 = store(bobSeed, 'bob', bp, 'bob2');
  for (const s of [alice, carol, bob1, bob2]) {
    await s.load();
    s.connect();
  }
  const deliver = async () => {
    for (const e of ephemeral.splice(0)) {
      const local = e.to.split('@')[0];
      for (const x of FakeEventSource.all.filter((x) => x.url.includes(`/v1/inbox/${local}/stream`))) x.emit('ephemeral', { data: JSON.stringify({ id: e.id, envelope: e.envelope }) });
    }
    for (let i = 0; i < 10; i++) await settle();
  };
  const box = () => server.boxes.get('bob')!;
  /** bob's two devices reloaded (the same KV): their counts are from before the load. */
  const reload = async (...old: ChatStore[]) => {
    for (const s of old) await s.close();
    FakeEventSource.all = FakeEventSource.all.filter((x) => !x.url.includes('/v1/inbox/bob/stream'));
    const again = [store(bobSeed, 'bob', bp, 'bob1'), store(bobSeed, 'bob', bp, 'bob2')];
    for (const s of again) {
      await s.load();
      s.connect();
    }
    for (let i = 0; i < 10; i++) await settle(); // the load's background work (resend, receipts)
    return again;
  };
  return { server, ap, bp, cp, alice, carol, bob1, bob2, ephemeral, deliver, threadReads, box, reload };
}

describe('the own devices’ read is matched without opening threads (review i13 #6, #15)', () => {
  it('clears the named conversation on the other device, reading each stored thread at most once and keeping none; the reader skips its own echo', async () => {
    const { server, ap, bp, cp, alice, carol, ephemeral, deliver, threadReads, reload, ...d } = await devices();
    await alice.startChat('bob');
    await carol.startChat('bob');
    await alice.send(bp, 'one');
    await alice.send(bp, 'two');
    await carol.send(bp, 'hey');
    for (const b of [d.bob1, d.bob2]) await pull(b, server, 'bob');
    // Each device wrote in both, and loaded once since (its `unsent` flags settled): a load has no reason to read those threads.
    for (const b of [d.bob1, d.bob2]) for (const p of [ap, cp]) await b.send(p, 'ok');
    const [bob1, bob2] = await reload(...(await reload(d.bob1, d.bob2)));
    expect([bob2.conversation(ap)!.unread, bob2.conversation(cp)!.unread]).toEqual([2, 1]);
    threadReads.clear();
    await bob1.openThread(ap);
    await until('the own-devices read', () => ephemeral.length > 0);
    await deliver(); // to bob2, and back to bob1
    expect([bob2.conversation(ap)!.unread, bob2.conversation(cp)!.unread]).toEqual([0, 1]);
    // bob2 looked at the stored threads once (their counts are from before its load), and keeps neither.
    expect(Object.keys(bob2.threads)).toEqual([]);
    expect(threadReads.get('bob2')).toBe(2);
    // bob1 skipped its own echo: only the thread it opened was read.
    expect(Object.keys(bob1.threads)).toEqual([ap]);
    expect(threadReads.get('bob1')).toBe(1);
    expect(bob1.conversation(cp)!.unread).toBe(1);

    // A message read as it arrives: matched on what bob2 counted since its load, no thread read.
    await alice.send(bp, 'three');
    for (const b of [bob1, bob2]) await pull(b, server, 'bob');
    expect(bob2.conversation(ap)!.unread).toBe(1);
    await until('the second own-devices read', () => ephemeral.length > 0);
    threadReads.clear();
    await deliver();
    expect(bob2.conversation(ap)!.unread).toBe(0);
    expect(threadReads.get('bob2')).toBeUndefined();
    for (const s of [alice, carol, bob1, bob2]) await s.close();
  });

  it('a message that arrived deleted (not counted) does not hide the one the read names', async () => {
    const { ap, bp, alice, carol, bob1, bob2, ephemeral, deliver, box } = await devices();
    await alice.startChat('bob');
    await alice.send(bp, 'a');
    await alice.send(bp, 'b');
    const b = alice.threads[bp][1];
    expect(await alice.ops.remove(bp, b.id)).toBe(true);
    await until('the delete', () => box().length === 3);
    const [ia, ib, idel] = box();
    // bob2 gets the delete before its target (relays may order them so): 'b' arrives deleted, uncounted.
    await bob2.ingest([ia, { ...idel, seq: 2 }]);
    await bob2.ingest([{ ...ib, seq: 3 }]);
    expect(bob2.conversation(ap)!.unread).toBe(1);
    // bob1 reads 'a' while 'b' is not there yet.
    await bob1.ingest([ia]);
    await bob1.openThread(ap);
    await until('the own-devices read', () => ephemeral.length > 0);
    await deliver();
    expect(bob2.conversation(ap)!.unread).toBe(0);
    for (const s of [alice, carol, bob1, bob2]) await s.close();
  });
});

