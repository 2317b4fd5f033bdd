import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryKV } from '../src/lib/kv';
import { Session } from '../src/lib/session.svelte';
import { checkRegistration } from '../src/lib/registration';
import { seedToPhrase } from '../src/lib/identity';

class FakeEventSource {
  constructor(public url: string) {}
  addEventListener() {}
  close() {}
}

/** Just enough of the server for registration and lookups, behind a stubbed fetch. */
function stubServer(domain = 'kez.test') {
  const byHandle = new Map<string, string>();
  const rec = (handle: string) => ({ handle, fqhn: `${handle}@${domain}`, primary: byHandle.get(handle), registered_at: '' });
  const reply = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  const fetch = vi.fn(async (url: string, init?: RequestInit) => {
    if (url === '/v1/healthz') return reply(200, { status: 'ok', server: domain });
    if (url === '/v1/register') {
      const env = JSON.parse(String(init!.body));
      const verdict = checkRegistration(env, domain, new Date());
      if (verdict !== 'ok') return reply(422, { error: verdict, message: '' });
      if (byHandle.has(env.payload.handle)) return reply(409, { error: 'handle_taken', message: '' });
      if ([...byHandle.values()].includes(env.payload.primary)) return reply(409, { error: 'primary_taken', message: '' });
      byHandle.set(env.payload.handle, env.payload.primary);
      return reply(201, rec(env.payload.handle));
    }
    const bp = /^\/v1\/by-primary\/(.+)$/.exec(url);
    if (bp) {
      const p = decodeURIComponent(bp[1]);
      for (const h of byHandle.keys()) if (byHandle.get(h) === p) return reply(200, rec(h));
      return reply(404, { error: 'not_found', message: '' });
    }
    const u = /^\/v1\/u\/(.+)$/.exec(url);
    if (u) return byHandle.has(u[1]) ? reply(200, rec(u[1])) : reply(404, { error: 'not_found', message: '' });
    if (url.startsWith('/v1/inbox/')) return reply(200, { messages: [], next: null });
    return reply(404, { error: 'not_found', message: '' });
  });
  vi.stubGlobal('fetch', fetch);
  vi.stubGlobal('EventSource', FakeEventSource);
  return { byHandle, fetch };
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
    await s.register('alice');
    expect(s.fqhn).toBe('alice@kez.test');
    expect(s.chat?.fqhn).toBe('alice@kez.test');

    // reload: the persistent session restores without the passphrase
    const s2 = new Session(kv, { iterations: 1000 });
    await s2.boot();
    expect(s2.status).toBe('unlocked');
    expect(s2.handle).toBe('alice');
    await expect(s2.revealPhrase('nope')).rejects.toThrow('That passphrase doesn’t unlock this identity.');
    expect(await s2.revealPhrase('passphrase-1')).toBe(phrase);

    await s2.lock();
    expect(s2.status).toBe('locked');
    expect(s2.chat).toBeNull();
    const s3 = new Session(kv, { iterations: 1000 });
    await s3.boot();
    expect(s3.status).toBe('locked');
    await expect(s3.unlock('wrong')).rejects.toThrow('That passphrase doesn’t unlock this identity.');
    expect(s3.status).toBe('locked');
    await s3.unlock('passphrase-1');
    expect(s3.status).toBe('unlocked');
    expect(s3.handle).toBe('alice');

    // a fresh browser restores from the phrase and finds its handle
    const s4 = new Session(memoryKV(), { iterations: 1000 });
    await s4.boot();
    await expect(s4.restore('abandon abandon', 'pp-pp-pp-pp')).rejects.toThrow(/24 words/);
    await s4.restore(phrase, 'another-pass');
    expect(s4.status).toBe('unlocked');
    expect(s4.handle).toBe('alice');
    expect(s4.primary).toBe(s.primary);
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
});
