import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import {
  AUTO_RETRIES,
  ChatStore,
  CLOCK_PROBLEM,
  keyChangedText,
  liveStatusText,
  parseKez,
  threadLiveText,
  unreadLabel,
  type Api,
  type Conversation,
  type Me,
} from '../src/lib/chat.svelte';
import { keyBlocks } from '../src/lib/format';
import { seal, openEnvelope } from '../src/lib/envelope';
import { memoryKV, type KV } from '../src/lib/kv';
import { SEEN_CAPACITY, SeenIds } from '../src/lib/seen';
import { rfc3339, unixSeconds } from '../src/lib/time';
import { primaryFromSeed } from '../src/lib/identity';
import { FakeEventSource, FakeServer, seedFor } from './helpers';

const aliceSeed = seedFor('alice');
const bobSeed = seedFor('bob');
const carolSeed = seedFor('carol');

function setup() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const akv = memoryKV();
  const bkv = memoryKV();
  const alice = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: server.api(), ackDelayMs: 0 });
  const bob = new ChatStore({ kv: bkv, me: me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0 });
  return { server, ap, bp, alice, bob, akv, bkv, me };
}

async function pull(store: ChatStore, server: FakeServer, handle: string) {
  const { messages } = await server.api().pollInbox(handle, store.lastSeq, '');
  await store.ingest(messages);
}

const settle = () => new Promise((r) => setTimeout(r, 0));

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('ChatStore', () => {
  it('parses KEZ input', () => {
    expect(parseKez('alice')).toEqual({ handle: 'alice', server: null });
    expect(parseKez(' @alice@KEZ.test ')).toEqual({ handle: 'alice', server: 'kez.test' });
    expect(unreadLabel(5)).toBe('5');
    expect(unreadLabel(99)).toBe('99');
    expect(unreadLabel(100)).toBe('99+');
  });

  it('starts chats only with registered people other than yourself', async () => {
    const { alice, bp } = setup();
    await alice.load();
    await expect(alice.startChat('alice')).rejects.toThrow(/That’s you/);
    await expect(alice.startChat('nobody1')).rejects.toThrow(/Nobody called “nobody1” is registered/);
    await expect(alice.startChat('bob@other.example')).rejects.toThrow(/Only people on kez.test/);
    await expect(alice.startChat('Bob')).rejects.toThrow(/lower case/);
    await expect(alice.startChat('')).rejects.toThrow(/Type the KEZ/);
    expect(await alice.startChat('bob@kez.test')).toBe(bp);
    expect(await alice.startChat('@bob')).toBe(bp);
    expect(alice.conversations).toHaveLength(1);
    expect(alice.conversations[0].peer_handle).toBe('bob@kez.test');
  });

  it('sends, receives, acks and marks delivered', async () => {
    const { server, ap, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'hi bob 👋');
    const out = alice.threads[bp][0];
    expect(out.status).toBe('sent');
    expect(server.posts).toHaveLength(1);
    // The server only sees ciphertext.
    expect(JSON.stringify(server.posts[0])).not.toContain('hi bob');
    expect(server.posts[0].to).toBe('bob@kez.test');
    expect(server.posts[0].id).toBe(out.id);

    await pull(bob, server, 'bob');
    expect(bob.conversations).toHaveLength(1);
    const conv = bob.conversations[0];
    expect(conv.peer_primary).toBe(ap);
    expect(conv.peer_handle).toBe('alice@kez.test'); // reverse lookup
    expect(conv.unread).toBe(1);
    expect(conv.last_preview).toBe('hi bob 👋');
    expect(bob.threads[ap][0]).toMatchObject({ dir: 'in', body: 'hi bob 👋' });

    // The delivery receipt goes out once the message is on bob's device,
    // before he reads it, and without a Web Push to alice.
    await settle();
    await settle();
    expect(server.boxes.get('alice')).toHaveLength(1);
    expect(server.posts.at(-1)).toMatchObject({ to: 'alice@kez.test', notify: false });
    expect(server.posts[0].notify).toBe(true);
    expect(bob.threads[ap][0].acked).toBe(true);
    expect(bob.conversations[0].unread).toBe(1);

    await bob.openThread(ap);
    await settle();
    await settle();
    expect(bob.conversations[0].unread).toBe(0);
    expect(server.boxes.get('alice')).toHaveLength(1); // no second receipt

    await pull(alice, server, 'alice');
    expect(alice.threads[bp][0].status).toBe('delivered');
    // acks don't create conversations or unread counts
    expect(alice.conversations).toHaveLength(1);
    expect(alice.conversations[0].unread).toBe(0);

    // bob replies while viewing; alice (thread closed) gets an unread pill
    await bob.send(ap, 'hello alice');
    await pull(alice, server, 'alice');
    expect(alice.conversations[0].unread).toBe(1);
    expect(alice.sorted[0].last_preview).toBe('hello alice');
  });

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
  });

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

  it('shows "sending" until the server answers', async () => {
    const { server, bp, alice } = setup();
    await alice.load();
    await alice.startChat('bob');
    const api = server.api();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = api.postMessage;
    const gated = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: { ...api, postMessage: async (...a) => (await gate, real(...a)) },
    });
    await gated.load();
    await gated.startChat('bob');
    const sending = gated.send(bp, 'wait for it');
    await settle();
    await settle();
    expect(gated.threads[bp][0].status).toBe('sending');
    expect(gated.conversations[0].last_preview).toBe('wait for it');
    release();
    await sending;
    expect(gated.threads[bp][0].status).toBe('sent');
  });

  it('marks failed sends and retries them', async () => {
    const { server, bp, alice } = setup();
    await alice.load();
    await alice.startChat('bob');
    server.failNextPost = new ApiError(507, 'mailbox_full', 'full');
    await alice.send(bp, 'one');
    const m = alice.threads[bp][0];
    expect(m.status).toBe('failed');
    expect(m.error).toMatch(/inbox is full/);
    await alice.retry(bp, m.id);
    expect(alice.threads[bp][0].status).toBe('sent');
    expect(alice.threads[bp][0].error).toBeUndefined();
  });

  it('persists history, last seq and seen ids across reloads', async () => {
    const { server, ap, bp, alice, bob, bkv, me } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'persist me');
    await pull(bob, server, 'bob');
    expect(bob.lastSeq).toBe(1);

    const bob2 = new ChatStore({ kv: bkv, me: me(bobSeed, 'bob', bp), api: server.api() });
    await bob2.load();
    expect(bob2.lastSeq).toBe(1);
    expect(bob2.conversations[0].peer_primary).toBe(ap);
    await bob2.openThread(ap);
    expect(bob2.threads[ap][0].body).toBe('persist me');

    // the same envelope re-posted under a new seq is a replay and is dropped
    vi.spyOn(console, 'debug').mockImplementation(() => {});
    const env = server.boxes.get('bob')![0].envelope;
    server.boxes.get('bob')!.push({ seq: 2, id: 'replayedid0000000000000', envelope: env, received_at: '' });
    await pull(bob2, server, 'bob');
    expect(bob2.lastSeq).toBe(2);
    expect(bob2.threads[ap]).toHaveLength(1);

    // history is keyed by primary: another identity in the same browser sees nothing
    const other = new ChatStore({ kv: bkv, me: me(carolSeed, 'carol', 'ed25519:' + '0'.repeat(64)), api: server.api() });
    await other.load();
    expect(other.conversations).toHaveLength(0);
  });

  it('skips seqs already processed and keeps order', async () => {
    const { server, bp, alice, bob } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'first');
    await alice.send(bp, 'second');
    const items = server.boxes.get('bob')!;
    await Promise.all([bob.ingest([items[1], items[0]]), bob.ingest(items)]);
    const t = bob.threads[alice.me.primary];
    expect(t.map((m) => m.body)).toEqual(['first', 'second']);
    expect(bob.conversations[0].unread).toBe(2);
  });

  it('drops envelopes that fail to open', async () => {
    const { server, bob } = setup();
    await bob.load();
    const dbg = vi.spyOn(console, 'debug').mockImplementation(() => {});
    await bob.ingest([{ seq: 1, id: 'x'.repeat(22), envelope: { v: 1 }, received_at: '' }]);
    await bob.ingest([{ seq: 2, id: 'y'.repeat(22), envelope: { v: 2, epk: '00', nonce: '00', ct: '' }, received_at: '' }]);
    expect(bob.conversations).toHaveLength(0);
    expect(bob.lastSeq).toBe(2);
    expect(dbg).toHaveBeenCalledTimes(2);
    void server;
  });
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
        posted.push({ id, envelope });
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

  it('retries transient failures when the connection comes back, but not permanent ones', async () => {
    FakeEventSource.all = [];
    const { server, bp, alice } = setup();
    const store = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: server.api(),
      EventSource: FakeEventSource as unknown as typeof EventSource,
    });
    await store.load();
    await store.startChat('bob');
    server.failNextPost = new ApiError(0, 'network', 'network error');
    await store.send(bp, 'offline for a moment');
    server.failNextPost = new ApiError(422, 'invalid_message_id', '');
    await store.send(bp, 'never going to work');
    expect(store.threads[bp].map((m) => m.status)).toEqual(['failed', 'failed']);

    store.connect();
    FakeEventSource.all[0].emit('open');
    expect(store.live).toBe('live');
    await vi.waitFor(() => expect(store.threads[bp][0].status).toBe('sent'));
    for (let i = 0; i < 5; i++) await settle();
    expect(store.threads[bp][1].status).toBe('failed');
    expect(server.boxes.get('bob')).toHaveLength(1);

    // The Retry button still tries it.
    await store.retry(bp, store.threads[bp][1].id);
    expect(store.threads[bp][1].status).toBe('sent');
    store.disconnect();
  });

  it('retries on the browser "online" event, at most AUTO_RETRIES times', async () => {
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
    });
    await store.load();
    await store.startChat('bob');
    await store.send(bp, 'server is down');
    expect(attempts).toBe(1);
    store.connect();
    for (let i = 0; i < AUTO_RETRIES + 3; i++) {
      win.dispatchEvent(new Event('online'));
      for (let j = 0; j < 10; j++) await settle();
    }
    expect(attempts).toBe(1 + AUTO_RETRIES);
    expect(store.threads[bp][0].status).toBe('failed');
    store.disconnect();
    win.dispatchEvent(new Event('online'));
    await settle();
    expect(attempts).toBe(1 + AUTO_RETRIES);
  });
});

describe('ChatStore re-sends after days', () => {
  const DAY = 24 * 3600_000;

  it('gives a failed message re-sent more than 6 days later a fresh sent_at and id, so the recipient keeps it', async () => {
    const { server, ap, bp, alice, me } = setup();
    let now = Date.now();
    const clock = () => new Date(now);
    const akv = memoryKV();
    const a = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: server.api(), now: clock, ackDelayMs: 0 });
    const b = new ChatStore({ kv: memoryKV(), me: me(bobSeed, 'bob', bp), api: server.api(), now: clock, ackDelayMs: 0 });
    await a.load();
    await b.load();
    await a.startChat('bob');
    server.failNextPost = new ApiError(0, 'network', 'network error');
    await a.send(bp, 'written before the trip');
    const before = { ...a.threads[bp][0] };
    expect(before.status).toBe('failed');
    // Sent before this one failed and was retried: the re-sent one moves after it.
    await a.send(bp, 'a later one that went through');

    now += 8 * DAY; // back online a week later
    await a.retryFailed();
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
    server.failNextPost = new ApiError(503, 'internal', '');
    await a.send(bp, 'hello?');
    const oldId = a.threads[bp][0].id;
    now += 7 * DAY;
    server.failNextPost = new ApiError(503, 'internal', '');
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

describe('ChatStore delivered is final', () => {
  it('stays delivered when the ack beats a POST that then fails, and is not re-sent', async () => {
    const { server, bp, alice, bob } = setup();
    await bob.load();
    const api = server.api();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let posts = 0;
    // The server stores the message, but the answer never comes back (a timeout).
    const a = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: {
        ...api,
        postMessage: async (...args) => {
          posts++;
          const res = await api.postMessage(...args);
          if (posts > 1) return res;
          await gate;
          throw new ApiError(0, 'network', 'The request timed out.');
        },
      },
    });
    await a.load();
    await a.startChat('bob');
    const sending = a.send(bp, 'timed out, but there');
    await vi.waitFor(() => expect(server.boxes.get('bob')).toHaveLength(1));
    await pull(bob, server, 'bob');
    for (let i = 0; i < 5; i++) await settle();
    await pull(a, server, 'alice');
    expect(a.threads[bp][0].status).toBe('delivered');

    release();
    await sending;
    expect(a.threads[bp][0]).toMatchObject({ status: 'delivered', error: undefined });
    await a.retryFailed();
    expect(a.threads[bp][0].status).toBe('delivered');
    expect(posts).toBe(1);
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

describe('ChatStore.close (locking)', () => {
  it('stops a queued ingest between items, so nothing is opened with a wiped seed or skipped', async () => {
    const { server, bp, alice, bkv, me } = setup();
    await alice.load();
    await alice.startChat('bob');
    await alice.send(bp, 'first');
    await alice.send(bp, 'second');
    const seed = new Uint8Array(bobSeed); // what Session wipes on lock
    const api = server.api();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const bob = new ChatStore({
      kv: bkv,
      me: me(seed, 'bob', bp),
      api: { ...api, lookupPrimary: async (p) => (await gate, api.lookupPrimary(p)) },
      ackDelayMs: 0,
    });
    await bob.load();
    const items = server.boxes.get('bob')!;
    const ingesting = bob.ingest([items[0]]);
    const queued = bob.ingest([items[1]]); // waiting behind the first
    await settle();
    const closing = bob.close();
    release();
    await closing;
    seed.fill(0); // Session.lock() after close()
    await Promise.all([ingesting, queued]);
    expect(bob.lastSeq).toBe(1);
    expect(await bkv.get(`chat:${bp}:seq`)).toBe(1);
    // After close nothing is ingested or sent any more.
    await bob.ingest(items);
    expect(bob.lastSeq).toBe(1);
    await bob.send(alice.me.primary, 'too late');
    expect(server.boxes.get('alice')).toHaveLength(0);

    // Unlocked again, the second message is still there to fetch.
    const again = new ChatStore({ kv: bkv, me: me(bobSeed, 'bob', bp), api, ackDelayMs: 0 });
    await again.load();
    await pull(again, server, 'bob');
    await again.openThread(alice.me.primary);
    expect(again.threads[alice.me.primary].map((m) => m.body)).toEqual(['first', 'second']);
  });
});

describe('ChatStore sent_at', () => {
  it('drops a message whose sent_at has an offset, so it cannot pin itself to the top', async () => {
    const { server, ap, bp, bob } = setup();
    await bob.load();
    const now = Date.now();
    // Sent 2 minutes ago but written in +14:00: as text it is "later" than
    // anything in Z. SPEC §8 allows only ...Z, so the opener refuses it.
    const early = new Date(now - 120_000 + 14 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '+14:00');
    const late = rfc3339(new Date(now - 60_000));
    for (const [id, sent_at, body] of [
      ['aaaaaaaaaaaaaaaaaaaaaa', early, 'pinned'],
      ['bbbbbbbbbbbbbbbbbbbbbb', late, 'newer'],
    ]) {
      const { envelope } = seal(aliceSeed, { kind: 'text', id, from_handle: 'alice@kez.test', to: bp, sent_at, body });
      await server.api().postMessage('bob', id, envelope);
    }
    vi.spyOn(console, 'debug').mockImplementation(() => {});
    await pull(bob, server, 'bob');
    const t = bob.threads[ap];
    expect(t.map((m) => m.body)).toEqual(['newer']);
    expect(bob.conversations[0].last_preview).toBe('newer');
    expect(bob.conversations[0].last_at).toBe(late);
  });

});

describe('ChatStore clock', () => {
  it('signs inbox auth and stamps sent_at with the clock it is given', async () => {
    FakeEventSource.all = [];
    const { server, bp, alice } = setup();
    const serverTime = new Date(Date.now() + 3600_000); // the device is an hour slow
    const store = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: server.api(),
      now: () => serverTime,
      EventSource: FakeEventSource as unknown as typeof EventSource,
    });
    await store.load();
    await store.startChat('bob');
    await store.send(bp, 'on time');
    expect(store.threads[bp][0].sent_at).toBe(rfc3339(serverTime));
    store.connect();
    expect(new URL(FakeEventSource.all[0].url, 'http://x').searchParams.get('auth')).toMatch(
      new RegExp(`^${unixSeconds(serverTime)}:`),
    );
    store.disconnect();
  });

  it('says in a sentence that the clock looks wrong when the inbox refuses a stale signature', async () => {
    FakeEventSource.all = [];
    vi.spyOn(console, 'debug').mockImplementation(() => {});
    const { server, alice } = setup();
    const store = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: {
        ...server.api(),
        pollInbox: async () => {
          throw new ApiError(401, 'stale_auth', 'timestamp outside the allowed window');
        },
      },
      EventSource: FakeEventSource as unknown as typeof EventSource,
    });
    await store.load();
    store.connect();
    FakeEventSource.all[0].emit('error'); // the stream was refused; EventSource can't say why
    await vi.waitFor(() => expect(store.live).toBe('auth_failed'));
    expect(store.liveProblem).toBe(CLOCK_PROBLEM);
    expect(CLOCK_PROBLEM).toMatch(/clock looks wrong/);
    // A phone with the thread open shows the whole sentence in the thread header too.
    expect(threadLiveText(store.live, store.liveProblem)).toBe(CLOCK_PROBLEM);
    store.disconnect();
  });
});

describe('live status text (list footer; thread header on phones)', () => {
  it('the footer names every state', () => {
    expect(liveStatusText('live', null)).toBe('live');
    expect(liveStatusText('connecting', null)).toBe('connecting…');
    expect(liveStatusText('reconnecting', null)).toBe('reconnecting…');
    expect(liveStatusText('paused', null)).toBe('paused (live in another tab)');
    expect(liveStatusText('auth_failed', null)).toBe(CLOCK_PROBLEM);
    expect(liveStatusText('auth_failed', 'That signature isn’t valid.')).toBe('That signature isn’t valid.');
  });

  it('the thread header says nothing while live, and the same words otherwise', () => {
    expect(threadLiveText('live', null)).toBeNull();
    for (const s of ['connecting', 'reconnecting', 'paused', 'auth_failed'] as const) {
      expect(threadLiveText(s, null)).toBe(liveStatusText(s, null));
    }
  });
});

describe('ChatStore key change (same handle, different primary)', () => {
  const bob2Seed = seedFor('bob, after resetting his identity');

  it('remembers the key at first contact and warns when starting a chat finds another', async () => {
    const { server, bp, alice, akv, me, ap } = setup();
    await alice.load();
    expect(await alice.startChat('bob')).toBe(bp);
    expect(alice.knownKey('bob@kez.test')).toBe(bp);
    expect(alice.conversation(bp)?.key_changed_from).toBeUndefined();

    const bp2 = server.add('bob', bob2Seed); // "bob" now points to another key
    expect(await alice.startChat('bob')).toBe(bp2);
    expect(alice.conversations).toHaveLength(2);
    expect(alice.conversation(bp2)?.key_changed_from).toBe(bp);
    expect(alice.conversation(bp)?.key_changed_from).toBeUndefined();
    expect(alice.knownKey('bob@kez.test')).toBe(bp); // still the first one
    expect(keyChangedText('bob@kez.test')).toBe(
      'bob@kez.test’s key changed since you last talked. Only continue if bob told you they reset their identity.',
    );

    // survives a reload (the remembered key is a KV record like the rest)
    await expect(akv.get(`chat:${ap}:contacts`)).resolves.toEqual({ 'bob@kez.test': bp });
    const again = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: server.api() });
    await again.load();
    expect(again.knownKey('bob@kez.test')).toBe(bp);
    expect(again.conversation(bp2)?.key_changed_from).toBe(bp);
  });

  it('warns when a message arrives from the handle under another key; first contact by message is remembered', async () => {
    const { server, ap, bp, alice, me } = setup();
    await alice.load();
    await alice.startChat('bob');
    const bp2 = server.add('bob', bob2Seed);
    const bob2 = new ChatStore({ kv: memoryKV(), me: me(bob2Seed, 'bob', bp2), api: server.api(), ackDelayMs: 0 });
    await bob2.load();
    await bob2.startChat('alice');
    await bob2.send(ap, 'it’s me, new phone');
    const cp = server.add('carol', carolSeed);
    const carol = new ChatStore({ kv: memoryKV(), me: me(carolSeed, 'carol', cp), api: server.api(), ackDelayMs: 0 });
    await carol.load();
    await carol.startChat('alice');
    await carol.send(ap, 'hi from carol');

    await pull(alice, server, 'alice');
    expect(alice.conversation(bp2)?.peer_handle).toBe('bob@kez.test'); // verified with the directory
    expect(alice.conversation(bp2)?.key_changed_from).toBe(bp);
    expect(alice.conversation(cp)?.key_changed_from).toBeUndefined();
    expect(alice.knownKey('carol@kez.test')).toBe(cp);
  });

  it('stops warning once the user says the person confirmed the reset', async () => {
    const { server, bp, alice } = setup();
    await alice.load();
    await alice.startChat('bob');
    const bp2 = server.add('bob', bob2Seed);
    await alice.startChat('bob');
    await alice.trustKey(bp2);
    expect(alice.conversation(bp2)?.key_changed_from).toBeUndefined();
    expect(alice.knownKey('bob@kez.test')).toBe(bp2);
    await alice.startChat('bob');
    expect(alice.conversation(bp2)?.key_changed_from).toBeUndefined();
    expect(alice.conversation(bp)?.key_changed_from).toBeUndefined();
  });

  it('flags the later of two conversations with one handle in history from before the remembered keys', async () => {
    const { server, ap, bp, me } = setup();
    const bp2 = primaryFromSeed(bob2Seed);
    const kv = memoryKV();
    const conv = (peer: string): Conversation => ({ peer_primary: peer, peer_handle: 'bob@kez.test', last_at: '', last_preview: '', unread: 0 });
    await kv.set(`chat:${ap}:convs`, [conv(bp), conv(bp2)]);
    const alice = new ChatStore({ kv, me: me(aliceSeed, 'alice', ap), api: server.api() });
    await alice.load();
    expect(alice.conversation(bp)?.key_changed_from).toBeUndefined();
    expect(alice.conversation(bp2)?.key_changed_from).toBe(bp);
    expect(await kv.get(`chat:${ap}:contacts`)).toEqual({ 'bob@kez.test': bp });
    expect((await kv.get<Conversation[]>(`chat:${ap}:convs`))?.[1].key_changed_from).toBe(bp);
  });

  it('splits a primary into 16 blocks of 4 for reading aloud', () => {
    const { scheme, blocks } = keyBlocks('ed25519:' + '0123456789abcdef'.repeat(4));
    expect(scheme).toBe('ed25519:');
    expect(blocks).toHaveLength(16);
    expect(blocks.slice(0, 4)).toEqual(['0123', '4567', '89ab', 'cdef']);
    expect(blocks.join('')).toBe('0123456789abcdef'.repeat(4));
  });
});

describe('SeenIds', () => {
  it('remembers 10,000 ids, persisted, FIFO', async () => {
    const kv: KV = memoryKV();
    const seen = new SeenIds(kv, 'seen');
    await seen.load();
    expect(SEEN_CAPACITY).toBeGreaterThanOrEqual(10_000);
    for (let i = 0; i < SEEN_CAPACITY + 5; i++) seen.add(`id-${i}`);
    await seen.flush();
    expect(seen.size).toBe(SEEN_CAPACITY);
    expect(seen.has('id-4')).toBe(false);
    expect(seen.has('id-5')).toBe(true);
    expect(seen.add('id-5')).toBe(false);
    const again = new SeenIds(kv, 'seen');
    await again.load();
    expect(again.has(`id-${SEEN_CAPACITY + 4}`)).toBe(true);
    expect(again.size).toBe(SEEN_CAPACITY);
  });

  it('openEnvelope consults it', () => {
    const bobPrimary = primaryFromSeed(bobSeed);
    const { envelope, message } = seal(aliceSeed, {
      kind: 'text',
      id: 'aaaaaaaaaaaaaaaaaaaaaa',
      from_handle: 'alice@kez.test',
      to: bobPrimary,
      sent_at: rfc3339(),
      body: 'x',
    });
    expect(openEnvelope(bobSeed, envelope, { seen: () => false })).toEqual(message);
    expect(() => openEnvelope(bobSeed, envelope, { seen: (id) => id === message.id })).toThrow('replay');
  });
});
