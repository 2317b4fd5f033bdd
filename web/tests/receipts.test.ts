// Delivery receipts: the pure decisions (which ids, in which batches, what
// an ack marks delivered, one run per peer at a time), then through ChatStores.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, type ChatMessage } from '../src/lib/chat.svelte';
import { MAX_ACK_IDS, openEnvelope, seal } from '../src/lib/envelope';
import { memoryKV, type KV } from '../src/lib/kv';
import { ackBatches, coveredBy, deliveredBy, KeyedChain, unackedIds } from '../src/lib/receipts';
import { rfc3339 } from '../src/lib/time';
import { aliceSeed, bobSeed, carolSeed, pull, settle, setup } from './chat-fixture';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('receipt decisions', () => {
  const msg = (id: string, over: Partial<ChatMessage> = {}): ChatMessage => ({
    id,
    dir: 'in',
    body: id,
    sent_at: '2026-05-01T10:00:00Z',
    status: 'received',
    ...over,
  });

  it('acks inbound messages not acked yet, in thread order', () => {
    const thread = [msg('a', { acked: true }), msg('b', { acked: false }), msg('c', { dir: 'out', status: 'sent' }), msg('d')];
    expect(unackedIds(thread)).toEqual(['b', 'd']);
    expect(unackedIds([])).toEqual([]);
  });

  it('cuts ids into batches of at most MAX_ACK_IDS, in order', () => {
    const ids = Array.from({ length: 250 }, (_, i) => `id${i}`);
    const batches = ackBatches(ids);
    expect(MAX_ACK_IDS).toBe(100);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(batches.flat()).toEqual(ids);
    expect(ackBatches(ids.slice(0, 100))).toHaveLength(1);
    expect(ackBatches([])).toEqual([]);
    expect(ackBatches(['a', 'b', 'c'], 2)).toEqual([['a', 'b'], ['c']]);
  });

  it('marks acked only the inbound messages the posted ack named', () => {
    const thread = [msg('a'), msg('b'), msg('a', { dir: 'out', status: 'sent' })];
    expect(coveredBy(thread, ['a'])).toEqual([thread[0]]);
    expect(coveredBy(thread, [])).toEqual([]);
  });

  it('delivers what a peer acks, by current or earlier id, and nothing twice', () => {
    const thread = [
      msg('a', { dir: 'out', status: 'sent' }),
      msg('b', { dir: 'out', status: 'failed', prev_ids: ['old-b'] }),
      msg('c', { dir: 'out', status: 'delivered' }),
      msg('d', { dir: 'in' }),
      msg('e', { dir: 'out', status: 'sending' }),
    ];
    expect(deliveredBy(thread, ['a', 'old-b', 'c', 'd'])).toEqual([thread[0], thread[1]]);
    expect(deliveredBy(thread, ['e'])).toEqual([thread[4]]);
    // A body that isn't a list of ids (ackIds gave null) delivers nothing.
    expect(deliveredBy(thread, null)).toEqual([]);
  });

  it('runs one chain per key: in order, on after a rejection, keys independent, then forgotten', async () => {
    const chain = new KeyedChain();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = chain.run('bob', async () => {
      log.push('bob 1 start');
      await gate;
      log.push('bob 1 end');
      throw new Error('first run failed');
    });
    const second = chain.run('bob', async () => void log.push('bob 2'));
    const other = chain.run('carol', async () => void log.push('carol'));
    await other;
    await new Promise((r) => setTimeout(r, 0));
    expect(log).toEqual(['bob 1 start', 'carol']);
    expect(chain.size).toBe(1);
    release();
    await expect(first).rejects.toThrow('first run failed');
    await second;
    expect(log).toEqual(['bob 1 start', 'carol', 'bob 1 end', 'bob 2']);
    await new Promise((r) => setTimeout(r, 0));
    expect(chain.size).toBe(0);
  });
});

describe('ChatStore receipts', () => {
  it('acks immediately when the thread is open', async () => {
    const { server, ap, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await bob.openThread(ap);
    await alice.startChat('bob');
    await alice.send(bp, 'are you there?');
    await pull(bob, server, 'bob');
    await settle();
    await settle();
    expect(bob.conversations[0].unread).toBe(0);
    await pull(alice, server, 'alice');
    expect(alice.threads[bp][0].status).toBe('delivered');
  });

  it('acks a long backlog in batches of at most 100 ids', async () => {
    const { server, ap, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    for (let i = 0; i < 150; i++) await alice.send(bp, `message ${i}`);
    await pull(bob, server, 'bob');
    expect(bob.conversations[0].unread).toBe(150);
    for (let i = 0; i < 10; i++) await settle();

    const acks = server.boxes.get('alice') ?? [];
    expect(acks).toHaveLength(2);
    const bodies = acks.map((a) => openEnvelope(aliceSeed, a.envelope).body.split(','));
    expect(bodies.map((b) => b.length)).toEqual([100, 50]);
    expect(new Set(bodies.flat())).toEqual(new Set(alice.threads[bp].map((m) => m.id)));
    expect(bob.threads[ap].every((m) => m.acked)).toBe(true);
    await pull(alice, server, 'alice');
    expect(alice.threads[bp].every((m) => m.status === 'delivered')).toBe(true);
    // Hundreds of real seal/open operations: ~2.5 s idle, far more on a busy CI core.
  }, 30_000);

  it('batches the acks of a burst into one post', async () => {
    const { server, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    for (let i = 0; i < 5; i++) await alice.send(bp, `burst ${i}`);
    await pull(bob, server, 'bob');
    for (let i = 0; i < 10; i++) await settle();
    expect(server.boxes.get('alice')).toHaveLength(1);
    await pull(alice, server, 'alice');
    expect(alice.threads[bp].map((m) => m.status)).toEqual(Array(5).fill('delivered'));
  });

  it('retries a receipt that could not be posted when the thread is opened', async () => {
    const { server, ap, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'ping');
    server.failNextPost = new ApiError(429, 'rate_limited', 'slow down');
    await pull(bob, server, 'bob');
    for (let i = 0; i < 5; i++) await settle();
    expect(bob.threads[ap][0].acked).toBe(false);
    expect(server.boxes.get('alice')).toHaveLength(0);

    await bob.openThread(ap);
    for (let i = 0; i < 5; i++) await settle();

    expect(bob.threads[ap][0].acked).toBe(true);
    await pull(alice, server, 'alice');
    expect(alice.threads[bp][0].status).toBe('delivered');
  });

  it('ignores acks not from the conversation peer', async () => {
    const { server, ap, bp, alice } = setup();
    server.add('carol', carolSeed);
    await alice.load();
    await alice.startChat('bob');
    await alice.send(bp, 'secret');
    const id = alice.threads[bp][0].id;
    // carol acks alice's message to bob
    const { envelope } = seal(carolSeed, {
      kind: 'ack',
      id: 'carolackid0000000000000',
      from_handle: 'carol@kez.test',
      to: ap,
      sent_at: rfc3339(),
      body: id,
    });
    await server.api().postMessage('alice', 'carolackid0000000000000', envelope);
    await pull(alice, server, 'alice');
    expect(alice.threads[bp][0].status).toBe('sent');
  });
});

describe('ChatStore acks after a failure', () => {
  it('keeps acking a peer after one ack run failed', async () => {
    const { server, ap, bp, alice, me } = setup();
    await alice.load();
    await alice.startChat('bob');
    // bob's storage refuses the write that records the first ack.
    const inner = memoryKV();
    let failThread = false;
    const kv: KV = {
      ...inner,
      get: (k) => inner.get(k),
      set: async (k, v) => {
        if (failThread && k === `chat:${bp}:msgs:${ap}`) {
          failThread = false;
          throw new Error('QuotaExceededError');
        }
        return inner.set(k, v);
      },
    };
    const dbg = vi.spyOn(console, 'debug').mockImplementation(() => {});
    const bob = new ChatStore({ kv, me: me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0 });
    await bob.load();
    await alice.send(bp, 'first');
    await pull(bob, server, 'bob');
    failThread = true; // the ack posts, then marking it acked fails
    for (let i = 0; i < 10; i++) await settle();
    expect(failThread).toBe(false);
    expect(server.boxes.get('alice')).toHaveLength(1);

    await alice.send(bp, 'second');
    await pull(bob, server, 'bob');
    for (let i = 0; i < 10; i++) await settle();
    expect(server.boxes.get('alice')).toHaveLength(2);
    await pull(alice, server, 'alice');
    expect(alice.threads[bp].map((m) => m.status)).toEqual(['delivered', 'delivered']);
    // Logged, not an unhandled rejection.
    expect(dbg).toHaveBeenCalledWith('ack:', expect.any(Error));
  });
});
