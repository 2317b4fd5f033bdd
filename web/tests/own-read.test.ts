// The own devices' `read` (SPEC §8.6 "Own devices", TODO #174): it goes to
// the own handle over the server only, never as a nostr 24244 to the own
// addr, which the peer (who knows that addr) could watch to learn when we
// read with receipts off.
import { describe, expect, it } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import type { EnvelopeV2 } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { KIND_EPHEMERAL } from '../src/lib/nostr/events';
import { addr } from '../src/lib/nostr/keys';
import type { Api } from '../src/lib/records';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
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
  return { ap, bp, alice, bob, ephemeral, live };
}

async function until(what: string, cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('the own devices’ read never goes to a relay (SPEC §8.6)', () => {
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
