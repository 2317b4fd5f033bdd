// ChatStore end to end against an in-memory server: send, receive, persistence,
// ingest order, closing on lock, sent_at, the clock. The outgoing queue, the
// receipts and the directory have their own files.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, CLOCK_PROBLEM, parseKez, threadLiveText, unreadLabel } from '../src/lib/chat.svelte';
import { seal } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { rfc3339, unixSeconds } from '../src/lib/time';
import { aliceSeed, bobSeed, carolSeed, pull, settle, setup } from './chat-fixture';
import { FakeEventSource } from './helpers';
import { RELEASE_AT_PERCENT } from '../src/lib/inbox';
import type { Conversation } from '../src/lib/records';

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

  it('marks conversations the user wrote in (profile contacts, SPEC §14.3), also in history from before the flag', async () => {
    const { server, ap, bp, alice, bob, akv, bkv, me } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'hi');
    await pull(bob, server, 'bob');
    expect(alice.conversation(bp)?.wrote).toBe(true);
    expect(bob.conversation(ap)?.wrote).toBeUndefined(); // bob only received
    // History from before `wrote`: the flag is gone; a load looks at each thread once.
    for (const kv of [akv, bkv]) {
      for (const k of [...kv.map.keys()].filter((k) => k.endsWith('convs'))) {
        const convs = (await kv.get<Conversation[]>(k)) ?? [];
        await kv.set(k, convs.map(({ wrote: _, ...c }) => c));
      }
    }
    const alice2 = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: server.api() });
    const bob2 = new ChatStore({ kv: bkv, me: me(bobSeed, 'bob', bp), api: server.api() });
    await alice2.load();
    await bob2.load();
    await vi.waitFor(() => expect(alice2.conversation(bp)?.wrote).toBe(true));
    await vi.waitFor(() => expect(bob2.conversation(ap)?.wrote).toBe(false));
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

describe('ChatStore inbox cursor (SPEC §7.3, §7.5)', () => {
  it('after a restore rewinds to 0: shows a message with a reused seq, and nothing twice', async () => {
    vi.spyOn(console, 'debug').mockImplementation(() => {});
    FakeEventSource.all = [];
    const { server, ap, bp, alice, bob: b } = setup();
    const bob = new ChatStore({
      kv: memoryKV(),
      me: { seed: bobSeed, ...b.me },
      api: server.api(),
      EventSource: FakeEventSource as unknown as typeof EventSource,
    });
    await alice.load();
    await bob.load();
    bob.connect();
    await alice.startChat('bob');
    for (const body of ['one', 'two', 'three']) await alice.send(bp, body);
    await bob.pollNow();
    expect(bob.lastSeq).toBe(3);
    // The server is restored from a copy holding only 'one' (a plain `cp`,
    // seqs not raised), and alice posts again before bob comes back: her
    // new message gets seq 2, which bob already passed.
    const box = server.boxes.get('bob')!;
    box.splice(1);
    await alice.send(bp, 'four');
    expect(box.map((m) => m.seq)).toEqual([1, 2]);
    await bob.pollNow();
    expect(bob.threads[ap].map((m) => m.body)).toEqual(['one', 'two', 'three', 'four']);
    expect(bob.lastSeq).toBe(2);
    // Polling again from there changes nothing.
    await bob.pollNow();
    expect(bob.threads[ap].map((m) => m.body)).toEqual(['one', 'two', 'three', 'four']);
    bob.disconnect();
  });

  it('rewinds a cursor ahead of the mailbox, then releases what it stored only once the mailbox is half full', async () => {
    FakeEventSource.all = [];
    vi.spyOn(console, 'debug').mockImplementation(() => {});
    const { server, ap, bp, alice, bob } = setup();
    await alice.load();
    await alice.startChat('bob');
    await alice.send(bp, 'before the restore');
    const store = new ChatStore({
      kv: memoryKV(),
      me: { seed: bobSeed, ...bob.me },
      api: server.api(),
      EventSource: FakeEventSource as unknown as typeof EventSource,
      reconnectMs: 1,
    });
    await store.load();
    store.lastSeq = 9; // seen before the server was restored from an older copy
    store.connect();
    FakeEventSource.all[0].emit('error');
    await vi.waitFor(() => expect(store.lastSeq).toBe(1));
    await alice.send(bp, 'after the restore');
    await vi.waitFor(() => expect(FakeEventSource.all).toHaveLength(2));
    expect(new URL(FakeEventSource.all[1].url, 'http://x').searchParams.get('since')).toBe('1');
    FakeEventSource.all[1].emit('error');
    await vi.waitFor(() => expect(store.lastSeq).toBe(2));
    // Rewound to 0: the restored mailbox's message, which this device never had, comes too.
    expect(store.threads[ap].map((m) => m.body)).toEqual(['before the restore', 'after the restore']);
    // Below RELEASE_AT_PERCENT: another device of bob's still gets everything.
    server.usedPercent.set('bob', RELEASE_AT_PERCENT - 1);
    await store.pollNow();
    expect(server.released).toEqual([]);
    server.usedPercent.set('bob', RELEASE_AT_PERCENT);
    await vi.waitFor(async () => {
      await store.pollNow();
      expect(server.released).toEqual([{ handle: 'bob', through: 2 }]);
    });
    store.disconnect();
  });
});
