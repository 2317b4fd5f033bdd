// An ack processed before the self-copy of the message it confirms (TODO
// #155, SPEC §8.3 "Delivered"): a device of the identity that did not send
// the message remembers the acked id (persisted, bounded) and files the copy
// as delivered when it comes, also after a reload in between.
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, type Api, type Me } from '../src/lib/chat.svelte';
import { newMessageId } from '../src/lib/bytes';
import { ackBody, seal } from '../src/lib/envelope';
import { EARLY_ACK_MAX_AGE_MS, EarlyAcks, MAX_EARLY_ACKS, MAX_EARLY_ACKS_OTHERS, MAX_EARLY_ACKS_PER_PEER } from '../src/lib/history/earlyacks';
import { rfc3339 } from '../src/lib/time';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, bobSeed, pull, settle } from './chat-fixture';
import { FakeServer } from './helpers';

vi.setConfig({ testTimeout: 30_000 });

const settleAll = async () => {
  for (let i = 0; i < 6; i++) await settle();
};

/**
 * alice (her own mailbox offline while `net.offline`: her copies wait until
 * woken, she never sleeps) and bob, on one fake server.
 */
function aliceAndBob(offline: boolean) {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const net = { offline };
  const api: Api = server.api();
  const post = api.postMessage;
  api.postMessage = async (to, ...rest) => {
    if (to === 'alice' && net.offline) throw new ApiError(0, 'network', '');
    return post(to, ...rest);
  };
  const me: Me = { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' };
  const opts = { ackDelayMs: 0, stallCheck: false };
  const alice = new ChatStore({ kv: memoryKV(), me, api, sleep: () => new Promise<void>(() => {}), ...opts });
  const bob = new ChatStore({ kv: memoryKV(), me: { seed: bobSeed, handle: 'bob', primary: bp, server: 'kez.test' }, api: server.api(), ...opts });
  return { server, ap, bp, net, me, opts, alice, bob };
}

describe('an ack before the copy (TODO #155)', () => {
  it('another device of the sender shows the message delivered when its copy comes after the ack, across a reload', async () => {
    // alice's copies cannot go at first (offline to her own mailbox), and wait until woken.
    const { server, ap, bp, net, me, opts, alice, bob } = aliceAndBob(true);
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
    net.offline = false;
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

describe('chunk acks do not push out the early acks (review S3)', () => {
  it('another device keeps the ack of a text across 300 chunk-like acks of the same peer, and files its copy delivered', async () => {
    const { server, ap, bp, net, me, opts, alice, bob } = aliceAndBob(false);
    const a2 = new ChatStore({ kv: memoryKV(), me, api: server.api(), ...opts });
    await Promise.all([alice.load(), bob.load(), a2.load()]);
    await alice.startChat('bob');
    await alice.send(bp, 'hello'); // its copy reaches the second device: bob is a conversation there
    await vi.waitFor(() => expect(server.boxes.get('alice')).toHaveLength(1));
    await pull(a2, server, 'alice');
    await settleAll();
    expect(a2.threads[bp]).toHaveLength(1);

    net.offline = true;
    await alice.send(bp, 'acked before its copy');
    const id = alice.threads[bp][1].id;
    await pull(bob, server, 'bob');
    await settleAll(); // bob's ack of both → alice's mailbox
    // Then bob acks 300 chunk ids of some upload (§13: every chunk is acked), in batches of 100.
    for (let b = 0; b < 3; b++) {
      const ids = Array.from({ length: 100 }, () => newMessageId());
      const ackId = newMessageId();
      const { envelope } = seal(bobSeed, { kind: 'ack', id: ackId, from_handle: 'bob@kez.test', to: ap, sent_at: rfc3339(new Date()), body: ackBody(ids) });
      await server.api().postMessage('alice', ackId, envelope, { notify: false });
    }
    await pull(a2, server, 'alice');
    await settleAll();

    net.offline = false;
    await alice.retryFailed();
    await vi.waitFor(() => expect(server.boxes.get('alice')!.map((m) => m.id)).toContain(id));
    await pull(a2, server, 'alice');
    await settleAll();
    expect(a2.threads[bp].find((m) => m.id === id)?.status).toBe('delivered');
  });
});

describe('EarlyAcks', () => {
  const now = Date.parse('2026-05-25T03:00:00Z');
  const ids = (n: number, p = 'id') => Array.from({ length: n }, (_, i) => `${p}-${i}`);

  it('a contact has a quota of its own: another contact’s and the strangers’ flood never push its entries out', async () => {
    const kv = memoryKV();
    const early = new EarlyAcks(kv, 'k');
    await early.load(now);
    early.add('ed25519:bob', ['bob-text'], true, now);
    early.add('ed25519:carol', ids(MAX_EARLY_ACKS_PER_PEER + 10, 'carol'), true, now);
    early.add('ed25519:mallory', ids(MAX_EARLY_ACKS_OTHERS * 3, 'm'), false, now);
    await early.flush();
    const reloaded = new EarlyAcks(kv, 'k');
    await reloaded.load(now);
    expect(reloaded.has('ed25519:bob', 'bob-text')).toBe(true);
    expect(reloaded.has('ed25519:carol', 'carol-9')).toBe(false); // its own oldest went
    expect(reloaded.has('ed25519:carol', 'carol-10')).toBe(true);
    expect(reloaded.has('ed25519:mallory', `m-${MAX_EARLY_ACKS_OTHERS * 2 - 1}`)).toBe(false);
    expect(reloaded.has('ed25519:mallory', `m-${MAX_EARLY_ACKS_OTHERS * 2}`)).toBe(true);
    expect((kv.map.get('k') as { acks: unknown[] }).acks).toHaveLength(1 + MAX_EARLY_ACKS_PER_PEER + MAX_EARLY_ACKS_OTHERS);
    expect(MAX_EARLY_ACKS).toBeGreaterThanOrEqual(MAX_EARLY_ACKS_PER_PEER + MAX_EARLY_ACKS_OTHERS);
  });

  it('the ids of chunks this device posted are never kept; writes only at flush, and only after a change; old ones go at load', async () => {
    const kv = memoryKV();
    let writes = 0;
    const counted = { ...kv, set: async (k: string, v: unknown) => (writes++, kv.set(k, v)), del: async (k: string) => (writes++, kv.del(k)) };
    const early = new EarlyAcks(counted, 'k');
    early.add('ed25519:bob', ['before-load'], true, now);
    await early.flush();
    expect(writes).toBe(0); // before load() a write would replace the stored record
    await early.load(now);
    await early.flush();
    expect(writes).toBe(1); // the entry added before the load, with the stored ones
    writes = 0;
    for (const id of ids(100, 'chunk')) early.noteOwnChunk(id);
    early.add('ed25519:bob', ids(100, 'chunk'), true, now);
    await early.flush();
    expect(writes).toBe(0);
    for (let b = 0; b < 5; b++) early.add('ed25519:bob', ids(100, `b${b}`), true, now);
    expect(writes).toBe(0);
    await early.flush();
    await early.flush();
    expect(writes).toBe(1);
    early.used('ed25519:bob', 'b0-0');
    expect(early.has('ed25519:bob', 'b0-0')).toBe(false);
    const later = new EarlyAcks(kv, 'k');
    await later.load(now + EARLY_ACK_MAX_AGE_MS + 1);
    expect(later.has('ed25519:bob', 'b1-1')).toBe(false);
  });
});
