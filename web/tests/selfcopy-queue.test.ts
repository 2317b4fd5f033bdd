// Self-copies are a persisted part of the send queue (SPEC §8.3, TODO #153):
// one that could not go survives a closed tab and goes at the next load, one
// refused offline goes when the connection is back, a 429's Retry-After is
// honoured (and pauses the ops, of the same bucket, not the texts), a deleted conversation's pending
// copy is never posted, a copy never goes before its original was accepted
// (and a message that failed for good has none), and the message's own status
// never waits on its copy.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { MAX_ATTEMPTS } from '../src/lib/attachments/pacer';
import { ChatStore, type Api, type Me } from '../src/lib/chat.svelte';
import { bounded, CopyQueue, MAX_PENDING_COPIES, MAX_PENDING_COPY_BYTES, type PendingCopy } from '../src/lib/history/copyqueue';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, bobSeed, noWait, pull, settle } from './chat-fixture';
import { FakeServer } from './helpers';

vi.setConfig({ testTimeout: 30_000 });

const settleAll = async () => {
  for (let i = 0; i < 6; i++) await settle();
};

/** Resolves once `cond()` holds (checked each macrotask, at most `tries` times). */
async function until(cond: () => boolean, tries = 300): Promise<void> {
  for (let i = 0; i < tries && !cond(); i++) await settle();
  expect(cond()).toBe(true);
}

/** alice and bob on one server; alice's posts to her own mailbox (the copies) fail while `offline`. */
function world() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const net = { offline: false, copyTries: 0, refuse: null as ApiError | null };
  const api: Api = server.api();
  const post = api.postMessage;
  api.postMessage = async (to, ...rest) => {
    if (to === 'alice') {
      net.copyTries++;
      if (net.offline) throw new ApiError(0, 'network', '');
      const e = net.refuse;
      net.refuse = null;
      if (e) throw e;
    }
    return post(to, ...rest);
  };
  const me: Me = { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' };
  const kv = memoryKV();
  const alice = (sleep: (ms: number) => Promise<void> = noWait) => new ChatStore({ kv, me, api, ackDelayMs: 0, sleep, stallCheck: false });
  const copiesIn = () => server.boxes.get('alice')!.map((m) => m.id);
  const record = () => kv.map.get(`chat:${ap}:self_copies`) as { copies: PendingCopy[] } | undefined;
  return { server, ap, bp, net, kv, alice, copiesIn, record };
}

/** A sleep that never ends by itself: the queue's waits end only by wake() (back online) or a reload. */
const forever = () => new Promise<void>(() => {});

afterEach(() => {
  vi.useRealTimers();
});

describe('self-copies survive the tab (TODO #153)', () => {
  it('a copy that could not go is on disk; the app closed and opened again sends it, and a second device gets it', async () => {
    const w = world();
    w.net.offline = true;
    const a = w.alice(forever);
    await a.load();
    await a.startChat('bob');
    await a.send(w.bp, 'sent, then the tab closed');
    const id = a.threads[w.bp][0].id;
    await until(() => w.net.copyTries === 1);
    // The message is sent, whatever its copy does.
    expect(a.threads[w.bp][0].status).toBe('sent');
    expect(w.record()?.copies.map((c) => c.message.id)).toEqual([id]);
    await a.close();

    w.net.offline = false;
    const again = w.alice();
    await again.load();
    await until(() => w.copiesIn().length === 1);
    expect(w.copiesIn()).toEqual([id]);
    await until(() => w.record() === undefined); // the record goes once empty

    const other = new ChatStore({ kv: memoryKV(), me: { seed: aliceSeed, handle: 'alice', primary: w.ap, server: 'kez.test' }, api: w.server.api(), ackDelayMs: 0, stallCheck: false });
    await other.load();
    await pull(other, w.server, 'alice');
    await settleAll();
    expect(other.threads[w.bp].map((m) => [m.dir, m.body, m.id])).toEqual([['out', 'sent, then the tab closed', id]]);
  });

  it('offline: tried MAX_ATTEMPTS times, then it rests; back online it goes, the message stays sent throughout', async () => {
    const w = world();
    w.net.offline = true;
    const a = w.alice();
    await a.load();
    await a.startChat('bob');
    await a.send(w.bp, 'while offline');
    await until(() => w.net.copyTries === MAX_ATTEMPTS);
    await settleAll();
    expect(w.net.copyTries).toBe(MAX_ATTEMPTS); // bounded: it rests on disk
    expect(w.copiesIn()).toEqual([]);
    expect(w.record()?.copies).toHaveLength(1);
    expect(a.threads[w.bp][0].status).toBe('sent');

    w.net.offline = false;
    await a.retryFailed(); // what the live stream coming back, or the browser's `online`, does
    await until(() => w.copiesIn().length === 1);
    expect(w.copiesIn()).toEqual([a.threads[w.bp][0].id]);
    expect(a.threads[w.bp][0].status).toBe('sent');
  });

  it('a copy’s 429 pauses the silent bucket only: a text sent meanwhile goes at once, an op waits (SPEC §7.5)', async () => {
    const w = world();
    w.net.refuse = new ApiError(429, 'rate_limited', '', 7);
    // Sleeps end only when released: whatever sits out the pause stays put until then.
    const waits: number[] = [];
    const release: (() => void)[] = [];
    const a = w.alice((ms) => new Promise<void>((r) => (waits.push(ms), release.push(r))));
    await a.load();
    await a.startChat('bob');
    await a.send(w.bp, 'one');
    await until(() => waits.includes(7000)); // the copy waits its Retry-After
    await a.send(w.bp, 'two');
    // The texts take the messages bucket: nothing of theirs said 429.
    await until(() => a.threads[w.bp][1].status === 'sent');
    expect(w.server.boxes.get('bob')).toHaveLength(2);
    // A reaction goes with notify false, like the copy: it sits out the silent pause.
    await a.ops.react(w.bp, a.threads[w.bp][0].id, '👍');
    await until(() => waits.some((ms) => ms > 5000 && ms < 7000));
    expect(w.server.boxes.get('bob')).toHaveLength(2);
    for (let i = 0; i < 50 && w.copiesIn().length < 3; i++) {
      release.splice(0).forEach((r) => r());
      await settle();
    }
    await until(() => w.copiesIn().length === 3);
    expect(w.server.boxes.get('bob')).toHaveLength(3);
  });

  it('a deleted conversation’s pending copy is never posted, not after going online, not after a reload', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const w = world();
    w.net.offline = true;
    const a = w.alice(forever);
    await a.load();
    await a.startChat('bob');
    await a.send(w.bp, 'soon deleted');
    await vi.advanceTimersByTimeAsync(0);
    expect(w.net.copyTries).toBe(1);
    await a.convo.delete(w.bp);
    expect(w.record()).toBeUndefined();
    w.net.offline = false;
    await a.retryFailed();
    // Longer than any wait between tries (the in-memory retries of old went after 2, 4, 8 s).
    await vi.advanceTimersByTimeAsync(120_000);
    expect(w.net.copyTries).toBe(1);
    await a.close();
    const again = w.alice();
    await again.load();
    await vi.advanceTimersByTimeAsync(1000);
    expect(w.net.copyTries).toBe(1);
    expect(w.copiesIn()).toEqual([]);
  });

  it('a copy already on its way when the conversation is deleted lands, and does not bring the thread back', async () => {
    const w = world();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const api = w.server.api();
    const post = api.postMessage;
    let held = 0;
    api.postMessage = async (to, ...rest) => {
      if (to === 'alice' && held++ === 0) await gate;
      return post(to, ...rest);
    };
    const a = new ChatStore({ kv: memoryKV(), me: { seed: aliceSeed, handle: 'alice', primary: w.ap, server: 'kez.test' }, api, ackDelayMs: 0, sleep: noWait, stallCheck: false });
    await a.load();
    await a.startChat('bob');
    await a.send(w.bp, 'one');
    await until(() => held === 1);
    await a.convo.delete(w.bp);
    open();
    await until(() => w.copiesIn().length === 1);
    await pull(a, w.server, 'alice');
    await settleAll();
    expect(a.conversation(w.bp)).toBeUndefined();
  });
});

describe('a copy that keeps failing', () => {
  it('moves behind the copies after it: they go, and the queue rests after one more round (review N5)', async () => {
    const w = world();
    const api = w.server.api();
    const post = api.postMessage;
    let stuck: string | null = null;
    let stuckTries = 0;
    api.postMessage = async (to, id, ...rest) => {
      if (to === 'alice' && (stuck ??= id) === id) {
        stuckTries++;
        throw new ApiError(503, 'unavailable', ''); // transient by its code, refused every time
      }
      return post(to, id, ...rest);
    };
    const a = new ChatStore({ kv: w.kv, me: { seed: aliceSeed, handle: 'alice', primary: w.ap, server: 'kez.test' }, api, ackDelayMs: 0, sleep: noWait, stallCheck: false });
    await a.load();
    await a.startChat('bob');
    await a.send(w.bp, 'one');
    await a.send(w.bp, 'two');
    await a.send(w.bp, 'three');
    const ids = a.threads[w.bp].map((m) => m.id);
    await until(() => w.copiesIn().length === 2);
    expect(w.copiesIn()).toEqual(ids.slice(1));
    await settleAll();
    // Bounded: its own round, one behind the others, one more for the wake() of the copies queued meanwhile; then it rests on disk.
    expect(stuckTries).toBeLessThanOrEqual(3 * MAX_ATTEMPTS);
    expect(w.record()?.copies.map((c) => c.message.id)).toEqual([ids[0]]);
  });
});

describe('closing the store (lock)', () => {
  it('close() waits for a self-copy write begun before it (review N3)', async () => {
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const kv = memoryKV();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let held = false;
    const gated = { ...kv, set: async (k: string, v: unknown) => {
      if (k.endsWith(':self_copies') && !held) {
        held = true;
        await gate;
      }
      return kv.set(k, v);
    } };
    const a = new ChatStore({ kv: gated, me: { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' }, api: server.api(), ackDelayMs: 0, sleep: forever, stallCheck: false });
    await a.load();
    await a.startChat('bob');
    void a.send(bp, 'locked while its copy is written');
    await until(() => held);
    let closed = false;
    void a.close().then(() => (closed = true));
    for (let i = 0; i < 20; i++) await settle();
    expect(closed).toBe(false);
    open();
    await until(() => closed);
    expect((kv.map.get(`chat:${ap}:self_copies`) as { copies: unknown[] }).copies).toHaveLength(1);
  });
});

describe('self-copies keep the order of the send queue', () => {
  it('a copy goes after its original was accepted, copies in the order of their originals; a message that failed for good has none', async () => {
    const w = world();
    const order: string[] = [];
    const api = w.server.api();
    const post = api.postMessage;
    let gone = false;
    api.postMessage = async (to, id, ...rest) => {
      if (to === 'bob@kez.test' && gone) throw new ApiError(404, 'unknown_recipient', '');
      const r = await post(to, id, ...rest);
      order.push(`${to === 'alice' ? 'copy' : 'msg'}:${id}`);
      return r;
    };
    const a = new ChatStore({ kv: memoryKV(), me: { seed: aliceSeed, handle: 'alice', primary: w.ap, server: 'kez.test' }, api, ackDelayMs: 0, sleep: noWait, stallCheck: false });
    await a.load();
    await a.startChat('bob');
    await Promise.all([a.send(w.bp, 'one'), a.send(w.bp, 'two'), a.send(w.bp, 'three')]);
    await until(() => order.length === 6);
    const ids = a.threads[w.bp].map((m) => m.id);
    for (const id of ids) expect(order.indexOf(`msg:${id}`)).toBeLessThan(order.indexOf(`copy:${id}`));
    expect(order.filter((o) => o.startsWith('copy:'))).toEqual(ids.map((id) => `copy:${id}`));

    gone = true;
    await a.send(w.bp, 'refused');
    await settleAll();
    expect(a.threads[w.bp][3].status).toBe('failed');
    expect(w.copiesIn()).toEqual(ids);
    expect(w.record()).toBeUndefined();
  });
});

describe('add() before load() (review N8)', () => {
  it('does not replace the stored copies: load merges, then writes both', async () => {
    const kv = memoryKV();
    const msg = (id: string) => ({ message: { type: 'kez.chat.message', version: 2, kind: 'text', id, from: 'ed25519:a', from_handle: 'a@x', to: 'ed25519:b', sent_at: '2026-05-25T03:00:00Z', body: 'x', sig: 's' }, to_handle: null }) as unknown as PendingCopy;
    await kv.set('k', { v: 1, copies: [msg('stored-id-0000000')] });
    const deps = { kv, key: 'k', closed: () => false, now: () => new Date('2026-05-25T03:00:00Z'), send: () => new Promise<void>(() => {}), pause: async () => {}, hold: () => {}, sleep: async () => {} };
    const q = new CopyQueue(deps);
    await q.add(msg('added-id-00000000'));
    expect((kv.map.get('k') as { copies: PendingCopy[] }).copies.map((c) => c.message.id)).toEqual(['stored-id-0000000']);
    await q.load();
    expect((kv.map.get('k') as { copies: PendingCopy[] }).copies.map((c) => c.message.id)).toEqual(['stored-id-0000000', 'added-id-00000000']);
  });
});

describe('the queue is bounded', () => {
  const copy = (i: number, body = 'x'): PendingCopy => ({
    message: { type: 'kez.chat.message', version: 2, kind: 'text', id: `id-${i}`, from: 'ed25519:a', from_handle: 'a@x', to: 'ed25519:b', sent_at: '2026-05-25T03:00:00Z', body, sig: 's' } as PendingCopy['message'],
    to_handle: null,
  });
  it('by count and by bytes, the oldest dropped first', () => {
    const many = Array.from({ length: MAX_PENDING_COPIES + 3 }, (_, i) => copy(i));
    expect(bounded(many).map((c) => c.message.id)).toEqual(many.slice(3).map((c) => c.message.id));
    const big = 'b'.repeat(100_000);
    const heavy = Array.from({ length: 50 }, (_, i) => copy(i, big));
    const kept = bounded(heavy);
    expect(kept.length).toBeLessThan(50);
    expect(new TextEncoder().encode(JSON.stringify(kept)).length).toBeLessThanOrEqual(MAX_PENDING_COPY_BYTES);
    expect(kept[kept.length - 1].message.id).toBe('id-49');
  });
});
