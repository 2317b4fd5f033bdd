import { afterEach, describe, expect, it, vi } from 'vitest';
import { pathFromHash, Router } from '../src/lib/router.svelte';

afterEach(() => vi.unstubAllGlobals());

describe('Router', () => {
  it('reads the path from the hash', () => {
    expect(pathFromHash('#/chats/ed25519%3Aab')).toBe('/chats/ed25519:ab');
    expect(pathFromHash('')).toBe('/');
    expect(pathFromHash('#chats')).toBe('/');
  });

  it('falls back to "/" on a malformed %-escape instead of throwing', () => {
    expect(pathFromHash('#/%E0%A4%A')).toBe('/');
    vi.stubGlobal('location', { hash: '#/%E0%A4%A' });
    expect(new Router().path).toBe('/');
  });
});

describe('Router.finish (the last step of an awaited flow)', () => {
  function fakeWindow(hash: string) {
    const loc = { hash };
    vi.stubGlobal('location', loc);
    const set = (url: string) => (loc.hash = url);
    vi.stubGlobal('history', { state: null, pushState: (_s: unknown, _t: string, url: string) => set(url), replaceState: (_s: unknown, _t: string, url: string) => set(url) });
    return loc;
  }

  it('goes on while the route is still the one the flow started on', () => {
    const loc = fakeWindow('#/restore');
    const r = new Router();
    const from = r.now;
    r.finish(from, '/');
    expect(loc.hash).toBe('#/');
    expect(r.path).toBe('/');
  });

  it('keeps a route the user chose while the flow was awaiting (restore → Settings)', () => {
    const loc = fakeWindow('#/restore');
    const r = new Router();
    const from = r.now;
    // The chats show once unlocked; the user opens Settings before `restore` returns.
    loc.hash = '#/settings';
    r.finish(from, '/');
    expect(loc.hash).toBe('#/settings');
  });

  it('reads the location, not a path a pending hashchange has not updated yet', () => {
    const loc = fakeWindow('#/chats');
    const r = new Router();
    const from = r.now;
    loc.hash = '#/chats/ed25519%3Aab'; // no hashchange dispatched in this fake
    expect(r.path).toBe('/chats');
    r.finish(from, '/chats/ed25519:cd', true);
    expect(loc.hash).toBe('#/chats/ed25519%3Aab');
  });
});
