// Issue 13 fault 2: the send queue is per conversation and in order, paces
// itself on 429 (Retry-After) and network errors, retries by itself
// (bounded, "Waiting…" meanwhile, then "Not sent" with Retry), and the
// receiver shows messages in sent_at order whatever order they arrive in.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, MAX_SEND_ATTEMPTS, type Api } from '../src/lib/chat.svelte';
import { seal } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { BEHIND_FAILED, behindFailed, retryAllFailed } from '../src/lib/outbox';
import { aliceSeed, bobSeed, pull, settle, setup } from './chat-fixture';

afterEach(() => {
  vi.restoreAllMocks();
});

/** alice's store over an api whose posts `fail(n)` may refuse (n counts from 1), recording waits and overlap. */
function queued(fail: (n: number) => ApiError | null) {
  const w = setup();
  const api = w.server.api();
  const waits: number[] = [];
  let n = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const posted: string[] = [];
  const flaky: Api = {
    ...api,
    postMessage: async (to, id, env, opts) => {
      n++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await settle(); // a real POST takes a while: others could start meanwhile
        const e = fail(n);
        if (e) throw e;
        posted.push(id);
        return await api.postMessage(to, id, env, opts);
      } finally {
        inFlight--;
      }
    },
  };
  /** What the thread showed as each wait began ("Waiting…" texts). */
  const shown: (string | undefined)[][] = [];
  const store: ChatStore = new ChatStore({
    kv: memoryKV(),
    me: { seed: aliceSeed, ...w.alice.me },
    api: flaky,
    ackDelayMs: 0,
    // Counts the posts to bob; self-copies (SPEC §8.3) are history-sync.test.ts's.
    selfCopies: false,
    sleep: async (ms) => {
      waits.push(ms);
      shown.push(store.threads[w.bp].map((x) => x.waiting));
    },
  });
  return { ...w, store, waits, shown, posted, attempts: () => n, maxInFlight: () => maxInFlight };
}

describe('send queue decisions', () => {
  const m = (id: string, status: 'sent' | 'failed' | 'sending') => ({ id, dir: 'out' as const, body: id, sent_at: '2026-05-01T10:00:00Z', status });
  it('holds a message back behind an earlier failed one, and Retry takes every failed one in order', () => {
    const thread = [m('a', 'sent'), m('b', 'failed'), m('c', 'sending'), m('d', 'failed')];
    expect(behindFailed(thread, 'a')).toBe(false);
    expect(behindFailed(thread, 'b')).toBe(false);
    expect(behindFailed(thread, 'c')).toBe(true);
    expect(retryAllFailed(thread)).toEqual(['b', 'd']);
  });
});

describe('ChatStore send queue', () => {
  it('sends a quick burst in order, one post at a time, waiting out a 429 Retry-After', async () => {
    const q = queued((n) => (n === 3 ? new ApiError(429, 'rate_limited', 'slow down', 7) : null));
    await q.store.load();
    await q.store.startChat('bob');
    // As the composer does: each Enter starts a send without waiting for the last.
    const sends = Array.from({ length: 8 }, (_, i) => q.store.send(q.bp, `quick ${i}`));
    await Promise.all(sends);
    expect(q.shown[0][2]).toBe('Waiting (sending too fast)…');
    const thread = q.store.threads[q.bp];
    expect(thread.map((x) => x.status)).toEqual(Array(8).fill('sent'));
    expect(thread.every((x) => x.waiting === undefined)).toBe(true);
    expect(q.posted).toEqual(thread.map((x) => x.id));
    expect(q.server.boxes.get('bob')!.map((i) => i.id)).toEqual(thread.map((x) => x.id));
    expect(q.maxInFlight()).toBe(1);
    expect(q.waits).toContain(7_000);
  });

  it('backs off on network errors and stops at MAX_SEND_ATTEMPTS; later ones are held back, Retry sends all in order', async () => {
    let down = true;
    const q = queued(() => (down ? new ApiError(0, 'network', 'network error') : null));
    await q.store.load();
    await q.store.startChat('bob');
    await Promise.all([q.store.send(q.bp, 'first'), q.store.send(q.bp, 'second')]);
    expect(q.attempts()).toBe(MAX_SEND_ATTEMPTS);
    expect(q.waits).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000]);
    const [first, second] = q.store.threads[q.bp];
    expect(first).toMatchObject({ status: 'failed', retryable: true });
    expect(second).toMatchObject({ status: 'failed', error: BEHIND_FAILED });

    down = false;
    await q.store.retry(q.bp, second.id);
    expect(q.store.threads[q.bp].map((x) => x.status)).toEqual(['sent', 'sent']);
    expect(q.posted).toEqual([first.id, second.id]);
  });

  it('shows received messages in sent_at order whatever order they arrive in', async () => {
    const { server, ap, bp, bob } = setup();
    await bob.load();
    const at = (s: number) => `2026-11-30T01:00:${String(s).padStart(2, '0')}Z`;
    const now = new Date('2026-11-30T01:05:00Z');
    const bobAt = new ChatStore({ kv: memoryKV(), me: { seed: bobSeed, ...bob.me }, api: server.api(), ackDelayMs: 0, now: () => now });
    await bobAt.load();
    const order = [3, 0, 4, 1, 2];
    for (const s of order) {
      const id = `msg-${s}-000000000000000`;
      const { envelope } = seal(aliceSeed, { kind: 'text', id, from_handle: 'alice@kez.test', to: bp, sent_at: at(s), body: `text ${s}` });
      await server.api().postMessage('bob', id, envelope);
    }
    await pull(bobAt, server, 'bob');
    expect(bobAt.threads[ap].map((x) => x.body)).toEqual(['text 0', 'text 1', 'text 2', 'text 3', 'text 4']);
  });
});
