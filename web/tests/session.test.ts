import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryKV } from '../src/lib/kv';
import { Session } from '../src/lib/session.svelte';
import { checkRegistration } from '../src/lib/registration';
import { primaryFromSeed, seedToPhrase } from '../src/lib/identity';
import type { InboxItem } from '../src/lib/api';
import { seal } from '../src/lib/envelope';
import { rfc3339, unixSeconds } from '../src/lib/time';
import { AppBadge, appBadgeCount, type BadgeNavigator } from '../src/lib/badge';
import { tabLockName, type LockManagerLike } from '../src/lib/tablock';
import { FakeLockManager, seedFor } from './helpers';

class FakeEventSource {
  static last: FakeEventSource | null = null;
  static opened = 0;
  constructor(public url: string) {
    FakeEventSource.last = this;
    FakeEventSource.opened++;
  }
  addEventListener() {}
  close() {}
}

/**
 * Just enough of the server for registration, lookups and polling, behind a
 * stubbed fetch. `skewMs`: how far the server's clock is ahead of the device.
 */
function stubServer(domain = 'kez.test', opts: { skewMs?: number } = {}) {
  const byHandle = new Map<string, string>();
  const inbox: InboxItem[] = [];
  const posts: { to: string; id: string; notify?: boolean }[] = [];
  const hold: { byPrimary: Promise<void> | null } = { byPrimary: null };
  const serverNow = () => new Date(Date.now() + (opts.skewMs ?? 0));
  const rec = (handle: string) => ({ handle, fqhn: `${handle}@${domain}`, primary: byHandle.get(handle), registered_at: '' });
  const reply = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json', Date: serverNow().toUTCString() },
    });
  const fetch = vi.fn(async (url: string, init?: RequestInit) => {
    if (url === '/v1/healthz') return reply(200, { status: 'ok', server: domain });
    if (url === '/v1/register') {
      const env = JSON.parse(String(init!.body));
      const verdict = checkRegistration(env, domain, serverNow());
      if (verdict !== 'ok') return reply(422, { error: verdict, message: '' });
      if (byHandle.has(env.payload.handle)) return reply(409, { error: 'handle_taken', message: '' });
      if ([...byHandle.values()].includes(env.payload.primary)) return reply(409, { error: 'primary_taken', message: '' });
      byHandle.set(env.payload.handle, env.payload.primary);
      return reply(201, rec(env.payload.handle));
    }
    const bp = /^\/v1\/by-primary\/(.+)$/.exec(url);
    if (bp) {
      if (hold.byPrimary) await hold.byPrimary;
      const p = decodeURIComponent(bp[1]);
      for (const h of byHandle.keys()) if (byHandle.get(h) === p) return reply(200, rec(h));
      return reply(404, { error: 'not_found', message: '' });
    }
    const u = /^\/v1\/u\/(.+)$/.exec(url);
    if (u) return byHandle.has(u[1]) ? reply(200, rec(u[1])) : reply(404, { error: 'not_found', message: '' });
    if (url === '/v1/messages') {
      const { to, id, notify } = JSON.parse(String(init!.body));
      posts.push({ to, id, notify });
      return reply(201, { seq: posts.length, received_at: rfc3339(serverNow()) });
    }
    if (url.startsWith('/v1/inbox/')) {
      const since = Number(new URL(url, 'http://x').searchParams.get('since') ?? 0);
      const messages = inbox.filter((m) => m.seq > since);
      return reply(200, { messages, next: messages.at(-1)?.seq ?? null });
    }
    return reply(404, { error: 'not_found', message: '' });
  });
  vi.stubGlobal('fetch', fetch);
  vi.stubGlobal('EventSource', FakeEventSource);
  return { byHandle, fetch, inbox, hold, posts, serverNow };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('Session', () => {
  it('create → register → lock → unlock → restore elsewhere', async () => {
    const srv = stubServer();
    const kv = memoryKV();
    const s = new Session(kv, { iterations: 1000 });
    await s.boot();
    expect(s.status).toBe('new');
    expect(s.server).toBe('kez.test');

    const { seed, phrase } = s.newSeed();
    expect(phrase.split(' ')).toHaveLength(24);
    expect(seedToPhrase(seed)).toBe(phrase);
    await s.create(seed, 'passphrase-1');
    expect(s.status).toBe('unlocked');
    expect(s.handle).toBeNull();
    // a fresh identity is not looked up (no 404 noise in the console)
    expect(srv.fetch.mock.calls.some(([u]) => String(u).startsWith('/v1/by-primary'))).toBe(false);

    await expect(s.register('admin')).rejects.toThrow('That handle is reserved. Please pick another one.');
    srv.byHandle.set('taken', 'ed25519:' + 'ab'.repeat(32));
    await expect(s.register('taken')).rejects.toThrow('Someone already has that handle. Try another one.');
    // Typed in capitals: folded before signing (SPEC §3); the fake server refuses `Alice` like the real one.
    await s.register('Alice');
    expect(s.fqhn).toBe('alice@kez.test');
    expect(s.chat?.fqhn).toBe('alice@kez.test');

    // reload: the persistent session restores without the passphrase
    const s2 = new Session(kv, { iterations: 1000 });
    await s2.boot();
    expect(s2.status).toBe('unlocked');
    expect(s2.handle).toBe('alice');
    await expect(s2.revealPhrase('nope')).rejects.toThrow('That passphrase doesn’t unlock this identity.');
    expect(await s2.revealPhrase('passphrase-1')).toBe(phrase);

    // A thread was open before the lock: remembered sealed, offered back after the unlock.
    const bobThread = `/chats/${primaryFromSeed(new Uint8Array(32).fill(9))}`;
    await s2.routes!.remember(bobThread);
    expect(s2.resumeRoute).toBeNull(); // a resumed session is not an unlock
    await s2.lock();
    expect(s2.status).toBe('locked');
    expect(s2.chat).toBeNull();
    expect(JSON.stringify([...kv.map.values()], (_k, v) => (v instanceof Uint8Array ? [...v] : v))).not.toContain(bobThread.slice(15, 40));
    const s3 = new Session(kv, { iterations: 1000 });
    await s3.boot();
    expect(s3.status).toBe('locked');
    // The lock screen names the identity, read from the clear `profile:` record (SPEC §8.2).
    expect(s3.fqhn).toBe('alice@kez.test');
    await expect(s3.unlock('wrong')).rejects.toThrow('That passphrase doesn’t unlock this identity.');
    expect(s3.status).toBe('locked');
    await s3.unlock('passphrase-1');
    expect(s3.status).toBe('unlocked');
    expect(s3.handle).toBe('alice');
    expect(s3.resumeRoute).toBe(bobThread);

    // a fresh browser restores from the phrase and finds its handle
    const s4 = new Session(memoryKV(), { iterations: 1000 });
    await s4.boot();
    await expect(s4.restore('abandon abandon', 'pp-pp-pp-pp')).rejects.toThrow(/24 words/);
    await s4.restore(phrase, 'another-pass');
    expect(s4.status).toBe('unlocked');
    expect(s4.handle).toBe('alice');
    expect(s4.primary).toBe(s.primary);
  });

  it('registers, signs inbox auth and stamps messages by the server clock when the device is an hour slow', async () => {
    const srv = stubServer('kez.test', { skewMs: 3600_000 });
    const s = new Session(memoryKV(), { iterations: 1000 });
    await s.boot(); // the healthz answer's Date header tells the offset
    const { seed } = s.newSeed();
    await s.create(seed, 'passphrase-1');
    await s.register('alice'); // created_at would be stale_timestamp by the device clock
    expect(s.handle).toBe('alice');
    const ts = Number(new URL(FakeEventSource.last!.url, 'http://x').searchParams.get('auth')!.split(':')[0]);
    expect(Math.abs(ts - unixSeconds(srv.serverNow()))).toBeLessThanOrEqual(2);

    const bob = primaryFromSeed(seedFor('bob'));
    srv.byHandle.set('bob', bob);
    await s.chat!.startChat('bob');
    await s.chat!.send(bob, 'on time');
    const sentAt = Date.parse(s.chat!.threads[bob][0].sent_at);
    expect(Math.abs(sentAt - srv.serverNow().getTime())).toBeLessThan(2_000);
  });

  it('lock waits for a queued ingest to stop before wiping the seed, so no message is lost', async () => {
    const srv = stubServer();
    const kv = memoryKV();
    const s = new Session(kv, { iterations: 1000 });
    await s.boot();
    const { seed } = s.newSeed();
    await s.create(seed, 'passphrase-1');
    await s.register('alice');
    const bobSeed = seedFor('bob');
    srv.byHandle.set('bob', primaryFromSeed(bobSeed));
    for (const [seq, id, body] of [
      [1, 'aaaaaaaaaaaaaaaaaaaaaa', 'one'],
      [2, 'bbbbbbbbbbbbbbbbbbbbbb', 'two'],
    ] as const) {
      const { envelope } = seal(bobSeed, { kind: 'text', id, from_handle: 'bob@kez.test', to: s.primary!, sent_at: rfc3339(), body });
      srv.inbox.push({ seq, id, envelope, received_at: rfc3339() });
    }
    // The first message waits on the directory lookup of its (new) sender.
    let release!: () => void;
    srv.hold.byPrimary = new Promise<void>((r) => (release = r));
    const ingesting = s.chat!.ingest(srv.inbox);
    await new Promise((r) => setTimeout(r, 0));
    const locking = s.lock();
    release();
    srv.hold.byPrimary = null;
    await locking;
    await ingesting;
    expect(s.status).toBe('locked');

    await s.unlock('passphrase-1');
    const chat = s.chat!;
    expect(chat.lastSeq).toBe(1);
    await chat.pollNow();
    const peer = primaryFromSeed(bobSeed);
    await chat.openThread(peer);
    expect(chat.threads[peer].map((m) => m.body)).toEqual(['one', 'two']);
    await s.lock();
  });

  it('register adopts an existing handle on primary_taken', async () => {
    const srv = stubServer();
    const s = new Session(memoryKV(), { iterations: 1000 });
    await s.boot();
    const { seed } = s.newSeed();
    await s.create(seed, 'passphrase-1');
    await s.register('first');
    const other = new Session(memoryKV(), { iterations: 1000 });
    await other.boot();
    await other.create(seed, 'passphrase-2');
    await other.register('second');
    expect(other.handle).toBe('first');
    expect(srv.byHandle.has('second')).toBe(false);
  });

  it('one active tab per identity: a second tab waits; "Use here" takes over with the whole history', async () => {
    const srv = stubServer();
    const kv = memoryKV(); // one browser profile: the tabs share IndexedDB…
    const locks = new FakeLockManager(); // …and its Web Locks
    const a = new Session(kv, { iterations: 1000, locks });
    await a.boot();
    await a.create(a.newSeed().seed, 'passphrase-1');
    await a.register('alice');
    const bobSeed = seedFor('bob');
    const bob = primaryFromSeed(bobSeed);
    srv.byHandle.set('bob', bob);
    const chatA = a.chat!;
    await chatA.startChat('bob');
    await chatA.send(bob, 'from tab A');
    expect(a.elsewhere).toBe(false);

    // A second tab: unlocked (persistent session), but no chat store and no inbox connection.
    const streams = FakeEventSource.opened;
    const inboxCalls = () => srv.fetch.mock.calls.filter(([u]) => String(u).startsWith('/v1/inbox/')).length;
    const polls = inboxCalls();
    const b = new Session(kv, { iterations: 1000, locks });
    await b.boot();
    expect(b.status).toBe('unlocked');
    expect(b.handle).toBe('alice');
    expect(b.elsewhere).toBe(true);
    expect(b.chat).toBeNull();
    expect(FakeEventSource.opened).toBe(streams);
    expect(inboxCalls()).toBe(polls);
    expect(a.chat).toBe(chatA);

    // Tab A is busy ingesting (waiting on a directory lookup) when B takes over.
    const items: [number, string, string][] = [
      [1, 'aaaaaaaaaaaaaaaaaaaaaa', 'one'],
      [2, 'bbbbbbbbbbbbbbbbbbbbbb', 'two'],
    ];
    for (const [seq, id, body] of items) {
      const { envelope } = seal(bobSeed, { kind: 'text', id, from_handle: 'bob@kez.test', to: a.primary!, sent_at: rfc3339(), body });
      srv.inbox.push({ seq, id, envelope, received_at: rfc3339() });
    }
    let release!: () => void;
    srv.hold.byPrimary = new Promise<void>((r) => (release = r));
    const ingesting = chatA.ingest(srv.inbox);
    await new Promise((r) => setTimeout(r, 0));
    const takingOver = b.useHere();
    await new Promise((r) => setTimeout(r, 0));
    expect(a.elsewhere).toBe(true);
    expect(a.chat).toBeNull();
    expect(b.chat).toBeNull(); // still waiting for A to finish its writes
    release();
    srv.hold.byPrimary = null;
    await takingOver;
    await ingesting;
    const chatB = b.chat!;
    expect(b.elsewhere).toBe(false);
    // B loaded after A's last write: the seq A committed, not an older one.
    expect(chatB.lastSeq).toBe(1);
    await chatA.send(bob, 'lost tab, too late'); // closed: neither sent nor stored
    await chatB.send(bob, 'from tab B');
    await chatB.pollNow();
    await chatB.openThread(bob);
    expect(chatB.threads[bob].filter((m) => m.dir === 'out').map((m) => m.body)).toEqual(['from tab A', 'from tab B']);
    expect(chatB.threads[bob].filter((m) => m.dir === 'in').map((m) => m.body)).toEqual(['one', 'two']);
    const outIds = chatB.threads[bob].filter((m) => m.dir === 'out').map((m) => m.id);
    // Texts only: B also acks what A ingested but never acked (receipts kept across tabs, issue 13).
    expect(srv.posts.filter((p) => p.to === 'bob@kez.test' && p.notify !== false).map((p) => p.id)).toEqual(outIds);

    // And back: A takes over again and sees what B sent.
    await a.useHere();
    expect(b.chat).toBeNull();
    expect(b.elsewhere).toBe(true);
    await a.chat!.openThread(bob);
    expect(a.chat!.threads[bob].filter((m) => m.dir === 'out').map((m) => m.body)).toEqual(['from tab A', 'from tab B']);

    // Locking the active tab lets go of it, but the waiting tab stays put until asked.
    await a.lock();
    expect(b.elsewhere).toBe(true);
    expect(b.chat).toBeNull();
    await b.useHere();
    expect(b.chat).not.toBeNull();
    await b.lock();
  });

  it('Lock pressed while the tab lock is being acquired lets go of it, and no chat store starts', async () => {
    stubServer();
    const inner = new FakeLockManager();
    // Web Locks grant asynchronously: hold the grant of the identity's lock until the test says.
    let grant!: () => void;
    const granted = new Promise<void>((r) => (grant = r));
    let asked!: () => void;
    const waiting = new Promise<void>((r) => (asked = r));
    const locks: LockManagerLike = {
      request: (name, opts, cb) => {
        if (name.endsWith(':open')) return inner.request(name, opts, cb);
        asked();
        return granted.then(() => inner.request(name, opts, cb));
      },
    };
    const s = new Session(memoryKV(), { iterations: 1000, locks });
    await s.boot();
    await s.create(s.newSeed().seed, 'passphrase-1');
    const registering = s.register('alice'); // starts the chat store: acquire() waits
    await waiting;
    await s.lock();
    grant();
    await expect(registering).resolves.toBeUndefined();
    expect(s.status).toBe('locked');
    expect(s.chat).toBeNull();
    expect(s.elsewhere).toBe(false);
    expect(inner.holds(tabLockName(s.primary!))).toBe(false);

    // Unlocked again, it takes the lock and starts as usual.
    await s.unlock('passphrase-1');
    expect(s.chat).not.toBeNull();
    expect(inner.holds(tabLockName(s.primary!))).toBe(true);
    await s.lock();
    expect(inner.holds(tabLockName(s.primary!))).toBe(false);
  });

  it('app badge: the active tab shows the unread total, a waiting tab leaves it, locking clears it', async () => {
    const srv = stubServer();
    const kv = memoryKV();
    const locks = new FakeLockManager();
    const calls: string[] = [];
    const nav: BadgeNavigator = {
      setAppBadge: async (n) => void calls.push(`set ${n}`),
      clearAppBadge: async () => void calls.push('clear'),
    };
    const badge = new AppBadge(nav);
    /** What App.svelte's effect does on every change. */
    const sync = (s: Session) => {
      const n = appBadgeCount(s);
      if (n !== null) badge.set(n);
    };
    const a = new Session(kv, { iterations: 1000, locks });
    await a.boot();
    sync(a);
    await a.create(a.newSeed().seed, 'passphrase-1');
    await a.register('alice');
    const bobSeed = seedFor('bob');
    srv.byHandle.set('bob', primaryFromSeed(bobSeed));
    for (const [seq, id] of [
      [1, 'aaaaaaaaaaaaaaaaaaaaaa'],
      [2, 'bbbbbbbbbbbbbbbbbbbbbb'],
    ] as const) {
      const { envelope } = seal(bobSeed, { kind: 'text', id, from_handle: 'bob@kez.test', to: a.primary!, sent_at: rfc3339(), body: 'hi' });
      srv.inbox.push({ seq, id, envelope, received_at: rfc3339() });
    }
    await a.chat!.pollNow();
    expect(a.chat!.totalUnread).toBe(2);
    sync(a);
    expect(calls).toEqual(['clear', 'set 2']);

    // A second tab of the same profile waits for "Use here": it must not wipe the count.
    const b = new Session(kv, { iterations: 1000, locks });
    await b.boot();
    expect(b.elsewhere).toBe(true);
    expect(appBadgeCount(b)).toBeNull();

    await a.lock();
    sync(a);
    expect(calls).toEqual(['clear', 'set 2', 'clear']);
    await b.lock();
  });
});
