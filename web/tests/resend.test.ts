// Re-sends through a ChatStore: after a closed tab, when the connection comes
// back or the browser goes online (bounded), and days later (a fresh sent_at
// and id once the old one would be stale at the recipient).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, MAX_SEND_ATTEMPTS, type Api } from '../src/lib/chat.svelte';
import { openEnvelope, seal } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { rfc3339 } from '../src/lib/time';
import { aliceSeed, bobSeed, noWait, pull, settle, setup } from './chat-fixture';
import { FakeEventSource } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('ChatStore outbox', () => {
  it('re-sends a message left "sending" by a closed tab, same id and sent_at, once the store loads', async () => {
    const { server, bp, akv, me, alice } = setup();
    await alice.load();
    await alice.startChat('bob');
    const api = server.api();
    const posted: { id: string; envelope: unknown }[] = [];
    const spy: Api = {
      ...api,
      postMessage: async (to, id, envelope, opts) => {
        // Posts to bob only: the self-copies to alice's own mailbox (SPEC §8.3) are not what this counts.
        if (to !== 'alice') posted.push({ id, envelope });
        return api.postMessage(to, id, envelope, opts);
      },
    };
    // The POST reaches the server but the tab closes before the answer.
    const closing = new ChatStore({
      kv: akv,
      me: me(aliceSeed, 'alice', alice.me.primary),
      api: { ...spy, postMessage: async (...a) => (await spy.postMessage(...a), new Promise<never>(() => {})) },
    });
    await closing.load();
    void closing.send(bp, 'did this go?');
    await vi.waitFor(() => expect(posted).toHaveLength(1));
    const stuck = closing.threads[bp][0];
    expect(stuck.status).toBe('sending');

    const reopened = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', alice.me.primary), api: spy });
    await reopened.load();
    await vi.waitFor(() => expect(reopened.threads[bp]?.[0].status).toBe('sent'));
    expect(posted).toHaveLength(2);
    expect(posted[1].id).toBe(stuck.id);
    // A fresh seal of the same message: the recipient sees one message, same time.
    const again = openEnvelope(bobSeed, posted[1].envelope);
    expect(again).toMatchObject({ id: stuck.id, sent_at: stuck.sent_at, body: 'did this go?' });
    expect(server.boxes.get('bob')).toHaveLength(1); // 200, the same seq
    // The next load finds nothing left and stops looking at this thread.
    const third = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', alice.me.primary), api: spy });
    await third.load();
    await vi.waitFor(() => expect(third.conversations[0].unsent).toBe(false));
    expect(posted).toHaveLength(2);
  });

  it('retries a transient failure when the connection comes back, a final one not', async () => {
    FakeEventSource.all = [];
    const { server, bp, alice } = setup();
    const store = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: server.api(),
      EventSource: FakeEventSource as unknown as typeof EventSource,
      // The backoff never ends by itself here: only the connection coming back ends it.
      sleep: () => new Promise(() => {}),
    });
    await store.load();
    await store.startChat('bob');
    server.failNextPost = new ApiError(0, 'network', 'network error');
    void store.send(bp, 'offline for a moment');
    await vi.waitFor(() => expect(store.threads[bp]?.[0].waiting).toBe('Waiting for the connection…'));
    expect(store.threads[bp][0].status).toBe('sending');

    store.connect();
    FakeEventSource.all[0].emit('open');
    expect(store.live).toBe('live');
    await vi.waitFor(() => expect(store.threads[bp][0].status).toBe('sent'));
    expect(store.threads[bp][0].waiting).toBeUndefined();
    expect(server.boxes.get('bob')).toHaveLength(1);

    server.failNextPost = new ApiError(422, 'invalid_message_id', '');
    await store.send(bp, 'never going to work');
    expect(store.threads[bp][1].status).toBe('failed');
    FakeEventSource.all[0].emit('error');
    await vi.waitFor(() => expect(FakeEventSource.all.length).toBeGreaterThan(1), { timeout: 10_000 });
    FakeEventSource.all.at(-1)!.emit('open');
    for (let i = 0; i < 5; i++) await settle();
    expect(store.threads[bp][1].status).toBe('failed');
    expect(server.boxes.get('bob')).toHaveLength(1);

    // The Retry button still tries it.
    await store.retry(bp, store.threads[bp][1].id);
    expect(store.threads[bp][1].status).toBe('sent');
    store.disconnect();
  });

  it('the browser "online" event ends a wait; attempts stop at MAX_SEND_ATTEMPTS with "Not sent"', async () => {
    const win = new EventTarget();
    vi.stubGlobal('window', win);
    const { server, bp, alice } = setup();
    const api = server.api();
    let attempts = 0;
    const store = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: {
        ...api,
        postMessage: async () => {
          attempts++;
          throw new ApiError(503, 'internal', '');
        },
      },
      EventSource: FakeEventSource as unknown as typeof EventSource,
      sleep: () => new Promise(() => {}),
    });
    await store.load();
    await store.startChat('bob');
    void store.send(bp, 'server is down');
    await vi.waitFor(() => expect(attempts).toBe(1));
    store.connect();
    for (let i = 0; i < MAX_SEND_ATTEMPTS + 3; i++) {
      win.dispatchEvent(new Event('online'));
      for (let j = 0; j < 10; j++) await settle();
    }
    expect(attempts).toBe(MAX_SEND_ATTEMPTS);
    expect(store.threads[bp][0]).toMatchObject({ status: 'failed', retryable: true });
    store.disconnect();
  });
});

describe('ChatStore re-sends after days', () => {
  const DAY = 24 * 3600_000;

  it('gives a failed message re-sent more than 6 days later a fresh sent_at and id, so the recipient keeps it', async () => {
    const { server, ap, bp, alice, me } = setup();
    let now = Date.now();
    const clock = () => new Date(now);
    const akv = memoryKV();
    const api = server.api();
    let down = true;
    const flaky: Api = { ...api, postMessage: async (...x) => (down ? Promise.reject(new ApiError(0, 'network', 'network error')) : api.postMessage(...x)) };
    const a = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: flaky, now: clock, ackDelayMs: 0, sleep: noWait });
    const b = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), api: server.api(), now: clock, ackDelayMs: 0 });
    await a.load();
    await b.load();
    await a.startChat('bob');
    await a.send(bp, 'written before the trip');
    const before = { ...a.threads[bp][0] };
    expect(before.status).toBe('failed');
    // Sent earlier by hand (another device, say): the re-sent one moves after it.
    now -= 1000;
    const { envelope } = seal(aliceSeed, { kind: 'text', id: 'lateronethatwentthrough', from_handle: 'alice@kez.test', to: bp, sent_at: rfc3339(clock()), body: 'a later one that went through' });
    now += 1000;
    a.threads[bp].unshift({ id: 'lateronethatwentthrough', dir: 'out', body: 'a later one that went through', sent_at: rfc3339(new Date(now - 1000)), status: 'sent' });
    await api.postMessage('bob', 'lateronethatwentthrough', envelope);

    now += 8 * DAY; // back online a week later: Retry
    down = false;
    await a.retry(bp, before.id);
    const t = a.threads[bp];
    const resent = t.find((m) => m.body === 'written before the trip')!;
    expect(resent.status).toBe('sent');
    expect(resent.id).not.toBe(before.id);
    expect(resent.sent_at).toBe(rfc3339(new Date(now)));
    expect(t.map((m) => m.body)).toEqual(['a later one that went through', 'written before the trip']);
    expect(a.conversations[0].last_at).toBe(resent.sent_at);
    expect(a.conversations[0].last_preview).toBe('written before the trip');
    expect(server.posts.at(-1)?.id).toBe(resent.id);
    // Persisted with the new id and time.
    const again = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: server.api(), now: clock });
    await again.load();
    await again.openThread(bp);
    expect(again.threads[bp].at(-1)).toMatchObject({ id: resent.id, sent_at: resent.sent_at, status: 'sent' });

    // The recipient, by the same clock, keeps it (the old sent_at would be stale_sent_at) and acks the new id.
    vi.spyOn(console, 'debug').mockImplementation(() => {});
    await pull(b, server, 'bob');
    expect(b.threads[ap].map((m) => m.body)).toContain('written before the trip');
    for (let i = 0; i < 5; i++) await settle();
    await pull(a, server, 'alice');
    expect(resent.status).toBe('delivered');
  });

  it('re-sends a message left "sending" a week ago under a new id, not as a 200 replay of the stale envelope', async () => {
    const { server, ap, bp, me } = setup();
    let now = Date.now();
    const clock = () => new Date(now);
    const akv = memoryKV();
    const api = server.api();
    // The POST reached the server (stored under the old id) but the tab closed before the answer.
    const closing = new ChatStore({
      kv: akv,
      me: me(aliceSeed, 'alice', ap),
      api: { ...api, postMessage: async (...a) => (await api.postMessage(...a), new Promise<never>(() => {})) },
      now: clock,
    });
    await closing.load();
    await closing.startChat('bob');
    void closing.send(bp, 'did this go?');
    await vi.waitFor(() => expect(server.boxes.get('bob')).toHaveLength(1));
    const old = { ...closing.threads[bp][0] };
    expect(old.status).toBe('sending');

    now += 8 * DAY;
    const reopened = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api, now: clock, ackDelayMs: 0 });
    await reopened.load();
    await vi.waitFor(() => expect(reopened.threads[bp]?.[0].status).toBe('sent'));
    const m = reopened.threads[bp][0];
    expect(m.id).not.toBe(old.id);
    expect(m.sent_at).toBe(rfc3339(new Date(now)));
    expect(server.boxes.get('bob')).toHaveLength(2); // 201: stored, not the old envelope's seq again

    // bob, who was away too, drops the stale first post and keeps the new one.
    const dbg = vi.spyOn(console, 'debug').mockImplementation(() => {});
    const b = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), api, now: clock, ackDelayMs: 0 });
    await b.load();
    await pull(b, server, 'bob');
    expect(dbg).toHaveBeenCalledWith(expect.stringContaining('stale_sent_at'));
    expect(b.threads[ap]).toHaveLength(1);
    expect(b.threads[ap][0]).toMatchObject({ id: m.id, body: 'did this go?' });
  });

  it('still takes an ack for the id a re-stamped message had before', async () => {
    const { server, ap, bp, me } = setup();
    let now = Date.now();
    const clock = () => new Date(now);
    const a = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: server.api(), now: clock });
    await a.load();
    await a.startChat('bob');
    server.failNextPost = new ApiError(413, 'payload_too_large', '');
    await a.send(bp, 'hello?');
    const oldId = a.threads[bp][0].id;
    now += 7 * DAY;
    server.failNextPost = new ApiError(413, 'payload_too_large', '');
    await a.retry(bp, oldId);
    expect(a.threads[bp][0]).toMatchObject({ status: 'failed', prev_ids: [oldId] });
    // bob had got the first post after all (a lost answer) and acks it.
    const ack = { kind: 'ack', id: 'bobackid00000000000000', from_handle: 'bob@kez.test', to: ap, sent_at: rfc3339(clock()), body: oldId } as const;
    const { envelope } = seal(bobSeed, ack);
    await server.api().postMessage('alice', 'bobackid00000000000000', envelope);
    await pull(a, server, 'alice');
    expect(a.threads[bp][0].status).toBe('delivered');
  });

  it('keeps sent_at and id for a re-send within 6 days', async () => {
    const { server, ap, bp, me } = setup();
    let now = Date.now();
    const a = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: server.api(), now: () => new Date(now) });
    await a.load();
    await a.startChat('bob');
    server.failNextPost = new ApiError(0, 'network', '');
    await a.send(bp, 'soon');
    const before = { ...a.threads[bp][0] };
    now += 5 * DAY;
    await a.retryFailed();
    expect(a.threads[bp][0]).toMatchObject({ id: before.id, sent_at: before.sent_at, status: 'sent' });
  });
});
