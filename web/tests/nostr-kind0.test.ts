// One owner of the kind 0 (SPEC §12 "Relay hygiene", §14.6): the first-unlock
// announcement never replaces a profile kind 0 with the minimal one, on a
// relay set change nor on a restored device (fresh KV, same seed).
import { describe, expect, it } from 'vitest';
import type { Event } from 'nostr-tools/pure';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, settle } from './chat-fixture';
import { FakeEventSource, FakeServer } from './helpers';
import { FakeRelays } from './nostr-fake';

const A = 'wss://relay.a';
const B = 'wss://relay.b';

/** The kind 0 a relay would keep (replaceable: newest created_at, then lowest id). */
function kept(net: FakeRelays, relay: string): Event | undefined {
  const zeros = net.stored.get(relay)!.filter((e) => e.kind === 0);
  return zeros.sort((x, y) => y.created_at - x.created_at || (x.id < y.id ? -1 : 1))[0];
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await settle();
  expect(cond()).toBe(true);
}

describe('the announcement and the profile kind 0', () => {
  it('a relay change and a restored device republish the profile, never the minimal kind 0 over it', async () => {
    const server = new FakeServer('kez.test');
    const primary = server.add('alice', aliceSeed);
    const net = new FakeRelays([A, B]);
    let clock = Date.parse('2026-05-01T10:00:00Z');
    const me: Me = { seed: aliceSeed, handle: 'alice', primary, server: 'kez.test' };
    const opts = {
      EventSource: FakeEventSource as unknown as typeof globalThis.EventSource,
      advertisedRelays: [A],
      nostrPool: () => net.pool(),
      nostrStateEveryMs: 0,
      pollMs: 3_600_000,
      now: () => new Date(clock),
    };
    const alice = new ChatStore({ kv: memoryKV(), me, api: server.api(), ...opts });
    await alice.load();
    await alice.configure('nostr', [A]);
    alice.connect();
    await until(() => kept(net, A) !== undefined);
    expect(JSON.parse(kept(net, A)!.content)).toEqual({ name: 'alice@kez.test' });
    clock += 60_000;
    await alice.publishMetadata({ name: 'alice@kez.test', kez_profile: { kez: 'profile' } });
    const profile = kept(net, A)!;
    expect(JSON.parse(profile.content).kez_profile).toBeTruthy();

    // A new relay set: announced again, later than the profile; the profile stays (and reaches B).
    clock += 60_000;
    await alice.configure('nostr', [A, B]);
    alice.connect();
    await until(() => kept(net, B) !== undefined);
    expect(kept(net, A)!.id).toBe(profile.id);
    expect(kept(net, B)!.id).toBe(profile.id);
    alice.disconnect();

    // A restored device: nothing in its KV, the relays have the profile.
    clock += 60_000;
    const restored = new ChatStore({ kv: memoryKV(), me: { ...me, seed: aliceSeed.slice() }, api: server.api(), ...opts });
    await restored.load();
    await restored.configure('nostr', [A]);
    const before = net.stored.get(A)!.length;
    restored.connect();
    await until(() => net.stored.get(A)!.slice(before).some((e) => e.kind === 0));
    expect(kept(net, A)!.id).toBe(profile.id);
    restored.disconnect();
  });
});
