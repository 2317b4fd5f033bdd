// An ack processed before the self-copy of the message it confirms (TODO
// #155, SPEC §8.3 "Delivered"): a device of the identity that did not send
// the message remembers the acked id (persisted, bounded) and files the copy
// as delivered when it comes, also after a reload in between.
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, type Api, type Me } from '../src/lib/chat.svelte';
import { EarlyAcks, MAX_EARLY_ACKS } from '../src/lib/history/earlyacks';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
import { FakeServer } from './helpers';

vi.setConfig({ testTimeout: 30_000 });

const settleAll = async () => {
  for (let i = 0; i < 6; i++) await settle();
};

describe('an ack before the copy (TODO #155)', () => {
  it('another device of the sender shows the message delivered when its copy comes after the ack, across a reload', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    // alice's copies cannot go at first (offline to her own mailbox), and wait until woken.
    let offline = true;
    const api: Api = server.api();
    const post = api.postMessage;
    api.postMessage = async (to, ...rest) => {
      if (to === 'alice' && offline) throw new ApiError(0, 'network', '');
      return post(to, ...rest);
    };
    const me: Me = { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' };
    const opts = { ackDelayMs: 0, stallCheck: false };
    const alice = new ChatStore({ kv: memoryKV(), me, api, sleep: () => new Promise<void>(() => {}), ...opts });
    const bob = new ChatStore({ kv: memoryKV(), me: { seed: bobSeed, handle: 'bob', primary: bp, server: 'kez.test' }, api: server.api(), ...opts });
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'acked before its copy');
    const id = alice.threads[bp][0].id;
    await pull(bob, server, 'bob');
    await settleAll(); // bob's ack → alice's mailbox, before the copy
    expect(server.boxes.get('alice')).toHaveLength(1);

    // alice's second device reads the ack: no message yet, the id is remembered (sealed KV).
    const kv2 = memoryKV();
    const second = () => new ChatStore({ kv: kv2, me, api: server.api(), ...opts });
    const a2 = second();
    await a2.load();
    await pull(a2, server, 'alice');
    await settleAll();
    expect(a2.threads[bp] ?? []).toEqual([]);
    await a2.close();

    // The copy goes now; the second device, reloaded, files it delivered.
    offline = false;
    await alice.retryFailed();
    await vi.waitFor(() => expect(server.boxes.get('alice')).toHaveLength(2));
    const again = second();
    await again.load();
    await pull(again, server, 'alice');
    await settleAll();
    expect(again.threads[bp].map((m) => [m.id, m.dir, m.status])).toEqual([[id, 'out', 'delivered']]);
    // Used once: the record is gone.
    expect(kv2.map.has(`chat:${ap}:early_acks`)).toBe(false);
  });
});

describe('EarlyAcks', () => {
  it('keeps at most MAX_EARLY_ACKS ids, the oldest forgotten first; per peer; a taken id is gone', async () => {
    const kv = memoryKV();
    const early = new EarlyAcks(kv, 'k');
    const ids = Array.from({ length: MAX_EARLY_ACKS + 10 }, (_, i) => `id-${i}`);
    await early.add('ed25519:bob', ids);
    const reloaded = new EarlyAcks(kv, 'k');
    await reloaded.load();
    expect(await reloaded.take('ed25519:bob', ['id-0'])).toBe(false);
    expect(await reloaded.take('ed25519:carol', ['id-20'])).toBe(false);
    expect(await reloaded.take('ed25519:bob', ['id-20'])).toBe(true);
    expect(await reloaded.take('ed25519:bob', ['id-20'])).toBe(false);
    expect((kv.map.get('k') as { acks: unknown[] }).acks).toHaveLength(MAX_EARLY_ACKS - 1);
  });
});
