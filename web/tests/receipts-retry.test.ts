// Issue 13 fault 1: a receipt that could not be posted (the recipient went
// offline at the moment it would ack) is retried when the connection comes
// back and at load, without the thread being opened; bounded.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore } from '../src/lib/chat.svelte';
import { ackRetryMs, hasUnacked, MAX_ACK_ATTEMPTS, mayHaveUnacked } from '../src/lib/receipts';
import { bobSeed, pull, settle, setup } from './chat-fixture';
import { FakeEventSource } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

const offline = () => new ApiError(0, 'network', 'network error');

describe('receipt retry decisions', () => {
  it('backs off on network errors and 429 (Retry-After), stops on final errors and at the bound', () => {
    expect(ackRetryMs(offline(), 1)).toBe(2_000);
    expect(ackRetryMs(offline(), 3)).toBe(8_000);
    expect(ackRetryMs(new ApiError(429, 'rate_limited', '', 7), 1)).toBe(7_000);
    expect(ackRetryMs(new ApiError(404, 'unknown_recipient', ''), 1)).toBeNull();
    expect(ackRetryMs(offline(), MAX_ACK_ATTEMPTS)).toBeNull();
  });

  it('looks at a conversation unless it is known to have no unacked message', () => {
    expect(mayHaveUnacked({})).toBe(true);
    expect(mayHaveUnacked({ unacked: true })).toBe(true);
    expect(mayHaveUnacked({ unacked: false })).toBe(false);
    const m = { id: 'a', body: '', sent_at: '2026-05-01T10:00:00Z' };
    expect(hasUnacked([{ ...m, dir: 'in', status: 'received', acked: true }])).toBe(false);
    expect(hasUnacked([{ ...m, dir: 'in', status: 'received', acked: false }])).toBe(true);
    expect(hasUnacked([{ ...m, dir: 'out', status: 'sent' }])).toBe(false);
  });
});

describe('ChatStore receipt retry', () => {
  it('acks again when the connection is live again, without the thread being opened', async () => {
    FakeEventSource.all = [];
    const { server, ap, bp, alice, me } = setup();
    await alice.load();
    await alice.startChat('bob');
    const bob = new ChatStore({
      kv: (await import('../src/lib/kv')).memoryKV(),
      me: me(bobSeed, 'bob', bp),
      api: server.api(),
      ackDelayMs: 0,
      EventSource: FakeEventSource as unknown as typeof EventSource,
    });
    await bob.load();
    await alice.send(bp, 'are you there?');
    // bob gets the message, then loses the network as he would ack.
    server.failNextPost = offline();
    await pull(bob, server, 'bob');
    for (let i = 0; i < 5; i++) await settle();
    expect(bob.threads[ap][0].acked).toBe(false);
    expect(bob.conversations[0].unacked).toBe(true);
    expect(server.boxes.get('alice')).toHaveLength(0);

    // Live again: the receipt goes, the thread was never opened.
    bob.connect();
    FakeEventSource.all[0].emit('open');
    await vi.waitFor(() => expect(server.boxes.get('alice')).toHaveLength(1));
    await vi.waitFor(() => expect(bob.conversations[0].unacked).toBe(false));
    expect(bob.activePeer).toBeNull();
    expect(bob.threads[ap][0].acked).toBe(true);
    await pull(alice, server, 'alice');
    expect(alice.threads[bp][0].status).toBe('delivered');
    bob.disconnect();
  });

  it('keeps a failed receipt across a reload and posts it at load', async () => {
    const { server, ap, bp, alice, bob, bkv, me } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'before the reload');
    server.failNextPost = offline();
    await pull(bob, server, 'bob');
    for (let i = 0; i < 5; i++) await settle();
    expect(server.boxes.get('alice')).toHaveLength(0);
    await bob.close();

    const again = new ChatStore({ kv: bkv, me: me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0 });
    await again.load();
    await vi.waitFor(() => expect(server.boxes.get('alice')).toHaveLength(1));
    await vi.waitFor(() => expect(again.conversations[0].unacked).toBe(false));
    expect(again.threads[ap][0].acked).toBe(true);
    await pull(alice, server, 'alice');
    expect(alice.threads[bp][0].status).toBe('delivered');
    await again.close();
  });

  it('retries by itself after the backoff, and stops at the bound', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { server, bp, alice, me } = setup();
      const api = server.api();
      let acks = 0;
      const bob = new ChatStore({
        kv: (await import('../src/lib/kv')).memoryKV(),
        me: me(bobSeed, 'bob', bp),
        api: {
          ...api,
          postMessage: async (to, id, env, opts) => {
            if (opts?.notify === false) {
              acks++;
              throw offline();
            }
            return api.postMessage(to, id, env, opts);
          },
        },
        ackDelayMs: 0,
      });
      await alice.load();
      await bob.load();
      await alice.startChat('bob');
      await alice.send(bp, 'ping');
      await pull(bob, server, 'bob');
      // Every backoff (2 s doubling, capped at 60 s) runs out: MAX_ACK_ATTEMPTS runs, then no more.
      for (let i = 0; i < MAX_ACK_ATTEMPTS + 3; i++) await vi.advanceTimersByTimeAsync(61_000);
      expect(acks).toBe(MAX_ACK_ATTEMPTS);
      await bob.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
