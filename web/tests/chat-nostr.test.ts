// ChatStore over the nostr transport (SPEC §12) on fake relays: a message
// sent by both transports is shown once, acks work over nostr, the server
// being down doesn't stop delivery, and `nostr` never calls the server.
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, defaultTransport, firstSuccess, isRelayUrl, type Me } from '../src/lib/chat.svelte';
import { checkedRelays, crossServerNote } from '../src/lib/transports';
import { memoryKV } from '../src/lib/kv';
import type { Api } from '../src/lib/records';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
import { FakeEventSource, FakeServer } from './helpers';
import { FakeRelays } from './nostr-fake';

const RELAYS = ['wss://relay.a', 'wss://relay.b'];

/** An Api whose every call counts, and fails as a network error while `down`. */
function counted(api: Api) {
  const calls: string[] = [];
  const state = { down: false };
  const wrapped = Object.fromEntries(
    Object.entries(api).map(([name, fn]) => [
      name,
      (...args: unknown[]) => {
        calls.push(name);
        if (state.down && name !== 'streamUrl') return Promise.reject(new ApiError(0, 'network', 'network error'));
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
    ]),
  ) as unknown as Api;
  return { api: wrapped, calls, state };
}

function setup() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const net = new FakeRelays(RELAYS);
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const a = counted(server.api());
  const b = counted(server.api());
  const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;
  const opts = { EventSource, advertisedRelays: RELAYS, nostrPool: () => net.pool(), nostrStateEveryMs: 0, ackDelayMs: 0, pollMs: 3_600_000 };
  const alice = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: a.api, ...opts });
  const bob = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), api: b.api, ...opts });
  return { server, net, ap, bp, alice, bob, a, b };
}

/** Live on both transports (the server's stream is a FakeEventSource; its inbox is pulled by hand). */
function listen(...stores: ChatStore[]) {
  for (const s of stores) s.connect();
}

describe('transport choice', () => {
  it('defaults to both when relays are advertised, else server; validates relay URLs', async () => {
    expect(defaultTransport(RELAYS)).toBe('both');
    expect(defaultTransport([])).toBe('server');
    expect(isRelayUrl('wss://relay.example')).toBe(true);
    expect(isRelayUrl('ws://127.0.0.1:7777')).toBe(true);
    expect(isRelayUrl('https://relay.example')).toBe(false);
    expect(isRelayUrl('wss://u:p@relay.example')).toBe(false);
    expect(isRelayUrl('relay.example')).toBe(false);
    const { alice } = setup();
    await alice.load();
    expect(alice.transport).toBe('both');
    expect(alice.relays).toEqual(RELAYS);
    await alice.configure('nostr', ['wss://relay.c']);
    await expect(alice.configure('nostr', ['http://x'])).rejects.toThrow(/relay/);
  });

  it('persists the choice per identity', async () => {
    const kv = memoryKV();
    const server = new FakeServer();
    const p = server.add('alice', aliceSeed);
    const me: Me = { seed: aliceSeed, handle: 'alice', primary: p, server: 'kez.test' };
    const s1 = new ChatStore({ kv, me, api: server.api(), advertisedRelays: RELAYS });
    await s1.load();
    await s1.configure('nostr', ['wss://relay.c']);
    const s2 = new ChatStore({ kv, me, api: server.api(), advertisedRelays: RELAYS });
    await s2.load();
    expect([s2.transport, s2.relays]).toEqual(['nostr', ['wss://relay.c']]);
  });

  it('follows the advertised relays unless the user changed the list (review r11 #5)', async () => {
    const kv = memoryKV();
    const server = new FakeServer();
    const p = server.add('alice', aliceSeed);
    const me: Me = { seed: aliceSeed, handle: 'alice', primary: p, server: 'kez.test' };
    const s1 = new ChatStore({ kv, me, api: server.api(), advertisedRelays: RELAYS });
    await s1.load();
    // Only the transport changed (the list as advertised, in another order and spelling).
    await s1.configure('nostr', [RELAYS[1] + '/', RELAYS[0]]);
    const moved = ['wss://relay.new'];
    const s2 = new ChatStore({ kv, me, api: server.api(), advertisedRelays: moved });
    await s2.load();
    expect([s2.transport, s2.relays]).toEqual(['nostr', moved]);
    // A list of the user's own stays.
    await s2.configure('nostr', [...moved, 'wss://relay.mine']);
    const s3 = new ChatStore({ kv, me, api: server.api(), advertisedRelays: RELAYS });
    await s3.load();
    expect(s3.relays).toEqual([...moved, 'wss://relay.mine']);
  });

  it('a peer on another server over nostr gets a note: delivery needs a shared relay (review r11 #6)', () => {
    const note = crossServerNote('dave@other.example', 'kez.test', 'nostr', RELAYS);
    expect(note).toMatch(/^dave is on other\.example\. .*\(relay\.a, relay\.b\).*Settings → Delivery/);
    expect(crossServerNote('dave@other.example', 'kez.test', 'both', RELAYS)).toMatch(/only if their app reads one of your relays/);
    expect(crossServerNote('dave@other.example', 'kez.test', 'server', RELAYS)).toBeNull();
    expect(crossServerNote('dave@KEZ.test', 'kez.test', 'nostr', RELAYS)).toBeNull();
    expect(crossServerNote(undefined, 'kez.test', 'nostr', RELAYS)).toBeNull();
  });

  it('firstSuccess: the first to succeed, else the first error', async () => {
    expect(await firstSuccess([Promise.reject(new Error('x')), Promise.resolve(2)])).toBe(2);
    await expect(firstSuccess([Promise.reject(new Error('server')), Promise.reject(new Error('relay'))])).rejects.toThrow('server');
  });
});

describe('both transports', () => {
  it('a message arriving by both is shown once; the ack marks it delivered', async () => {
    const { server, alice, bob, ap, bp } = setup();
    await alice.load();
    await bob.load();
    listen(alice, bob);
    await alice.startChat('bob');
    await alice.send(bp, 'hi bob');
    await settle();
    await settle();
    expect(server.posts.filter((p) => p.notify).length).toBe(1); // by the server too
    await pull(bob, server, 'bob'); // and once more from the server's inbox
    await settle();
    const thread = bob.threads[ap];
    expect(thread.map((m) => m.body)).toEqual(['hi bob']);
    expect(bob.conversation(ap)!.unread).toBe(1);
    await settle();
    await pull(alice, server, 'alice'); // the ack by the server, after the relay's
    await settle();
    expect(alice.threads[bp].map((m) => m.status)).toEqual(['delivered']);
  });

  it('server down: nostr still delivers, and the ack comes back over nostr', async () => {
    const { alice, bob, a, b, ap, bp } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob'); // the one lookup, while the server is up
    listen(alice, bob);
    a.state.down = true;
    b.state.down = true;
    await alice.send(bp, 'still there?');
    for (let i = 0; i < 5; i++) await settle();
    expect(bob.threads[ap].map((m) => m.body)).toEqual(['still there?']);
    const sent = alice.threads[bp][0];
    expect(sent.status).toBe('delivered');
  });

  it('a sent message says which relay took it', async () => {
    const { alice, net, bp } = setup();
    await alice.load();
    await alice.startChat('bob');
    await alice.configure('nostr', RELAYS);
    net.setDown(RELAYS[0], true);
    await alice.send(bp, 'x');
    expect(alice.threads[bp][0]).toMatchObject({ status: 'sent', via: 'relay.b' });
  });
});

describe('the peer’s relay', () => {
  it('is remembered from their last event and a reply is sent via it first', async () => {
    const { alice, bob, net, ap, bp } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.configure('nostr', RELAYS);
    await bob.configure('nostr', RELAYS);
    bob.connect();
    net.setDown(RELAYS[0], true); // alice's message reaches relay.b only
    await alice.send(bp, 'by b');
    for (let i = 0; i < 5; i++) await settle();
    expect(bob.conversation(ap)!.peer_relay).toBe(RELAYS[1]);
    net.setDown(RELAYS[0], false);
    // Both relays take the reply; relay.a answers first, but relay.b is alice's.
    await bob.send(ap, 'reply');
    expect(bob.threads[ap].find((m) => m.dir === 'out')).toMatchObject({ status: 'sent', via: 'relay.b' });
    bob.disconnect();
  });
});

describe('nostr only', () => {
  it('sending to an existing conversation never calls the server', async () => {
    const { alice, bob, a, b, ap, bp, server } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.configure('nostr', RELAYS);
    await bob.configure('nostr', RELAYS);
    alice.connect();
    bob.connect();
    a.calls.length = 0;
    b.calls.length = 0;
    await alice.send(bp, 'nostr only');
    for (let i = 0; i < 5; i++) await settle();
    expect(bob.threads[ap].map((m) => m.body)).toEqual(['nostr only']);
    expect(alice.threads[bp][0].status).toBe('delivered');
    await bob.send(ap, 'reply');
    for (let i = 0; i < 5; i++) await settle();
    expect(alice.threads[bp].map((m) => m.body)).toEqual(['nostr only', 'reply']);
    expect(server.posts).toEqual([]);
    // Bob's first message from alice resolves her handle once (directory), nothing else.
    expect(a.calls.filter((c) => c !== 'lookupPrimary')).toEqual([]);
    expect(b.calls.filter((c) => c !== 'lookupPrimary')).toEqual([]);
    expect(alice.live).toBe('live');
    expect(alice.relaysLive).toBe(2);
    alice.disconnect();
    bob.disconnect();
  });
});

describe('live indicator and retries (review r11 #1, #9)', () => {
  /** Until `cond()` or 5 s (polled, no fixed sleep). */
  async function until(cond: () => boolean): Promise<boolean> {
    const end = Date.now() + 5_000;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return cond();
  }

  function withStates() {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const net = new FakeRelays(RELAYS);
    const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;
    // States re-read every 10 ms: the relays' recovery is seen without an event.
    const opts = { EventSource, advertisedRelays: RELAYS, nostrPool: () => net.pool(), nostrStateEveryMs: 10, ackDelayMs: 0, pollMs: 3_600_000 };
    const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
    const alice = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: server.api(), ...opts });
    const bob = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), api: server.api(), ...opts });
    return { net, bp, alice, bob };
  }

  it('with both, live once a relay is connected though the server stream is not', async () => {
    const { alice } = withStates();
    await alice.load();
    expect(alice.transport).toBe('both');
    alice.connect();
    // The server's EventSource never opens here: only the relays are up.
    expect(await until(() => alice.relaysLive === 2)).toBe(true);
    expect(await until(() => alice.live === 'live')).toBe(true);
    alice.disconnect();
  });

  it('nostr only: a send failed while the relays were down goes out once one is back', async () => {
    const { net, bp, alice, bob } = withStates();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.configure('nostr', RELAYS);
    await bob.configure('nostr', RELAYS);
    alice.connect();
    bob.connect();
    expect(await until(() => alice.live === 'live')).toBe(true);
    for (const r of RELAYS) net.setDown(r, true);
    expect(await until(() => alice.live !== 'live')).toBe(true);
    // The send queue (issue 13) waits on a transient failure instead of failing:
    // the message stays "sending" (with a waiting note) and goes once a relay is back.
    const sent = alice.send(bp, 'while down').catch(() => undefined);
    expect(await until(() => alice.threads[bp]?.[0]?.status === 'sending')).toBe(true);
    expect(net.stored.get(RELAYS[0])!.some((e) => e.kind === 4243)).toBe(false);
    for (const r of RELAYS) net.setDown(r, false);
    await sent;
    expect(await until(() => alice.threads[bp][0].status === 'sent' || alice.threads[bp][0].status === 'delivered')).toBe(true);
    expect(await until(() => net.stored.get(RELAYS[0])!.some((e) => e.kind === 4243))).toBe(true);
    alice.disconnect();
    bob.disconnect();
  });
});

describe('relay URLs compared in normal form (review r11 #16)', () => {
  it('wss://x and wss://x/ are one relay: deduplicated, and its NIP-11 limit is read', async () => {
    expect(checkedRelays('nostr', ['wss://relay.a', 'wss://relay.a/', 'wss://RELAY.b/'])).toEqual(['wss://relay.a', 'wss://RELAY.b/']);
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const net = new FakeRelays(['wss://relay.a']);
    const asked: string[] = [];
    const fetchRelayInfo = (async (url: string) => {
      asked.push(url);
      return new Response('{"limitation":{"max_message_length":100}}');
    }) as typeof fetch;
    const me: Me = { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' };
    const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;
    const alice = new ChatStore({ kv: memoryKV(), me, api: server.api(), EventSource, advertisedRelays: ['wss://relay.a/'], nostrPool: () => net.pool(), nostrStateEveryMs: 0, fetchRelayInfo });
    await alice.load();
    await alice.configure('nostr', ['wss://relay.a']);
    alice.connect();
    // Once the nostr kit has loaded (import()); once only.
    await vi.waitFor(() => expect(asked).toEqual(['https://relay.a/']));
    alice.disconnect();
  });

  it('plain ws:// only for the advertised relays, which the page may open (review r11 #15)', async () => {
    expect(checkedRelays('nostr', ['ws://127.0.0.1:7777'], ['ws://127.0.0.1:7777/'])).toEqual(['ws://127.0.0.1:7777']);
    expect(() => checkedRelays('nostr', ['ws://relay.mine'], ['ws://127.0.0.1:7777'])).toThrow(/wss:/);
    const { alice } = setup();
    await alice.load();
    await expect(alice.configure('both', [...RELAYS, 'ws://relay.mine'])).rejects.toThrow(/only for your server/);
    expect(alice.relays).toEqual(RELAYS);
  });
});
