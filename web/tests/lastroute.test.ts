// Unlocking returns to the route that was open (lastroute.ts): which routes
// are remembered, when the remembered one wins, and that it is stored sealed.
import { describe, expect, it } from 'vitest';
import { lastRouteKey, RouteMemory, routeAfterUnlock, routeToRemember } from '../src/lib/lastroute';
import { primaryFromSeed } from '../src/lib/identity';
import { memoryKV } from '../src/lib/kv';
import { sealedKV } from '../src/lib/sealedkv';

const peer = primaryFromSeed(new Uint8Array(32).fill(1));
const other = primaryFromSeed(new Uint8Array(32).fill(2));

describe('routeToRemember', () => {
  it('keeps the list and valid threads, nothing else', () => {
    expect(routeToRemember('/chats')).toBe('/chats');
    expect(routeToRemember(`/chats/${peer}`)).toBe(`/chats/${peer}`);
    expect(routeToRemember('/chats/not-a-key')).toBeNull();
    expect(routeToRemember(`/chats/${peer}/x`)).toBeNull();
    expect(routeToRemember('/settings')).toBeNull();
    expect(routeToRemember('/restore')).toBeNull();
    expect(routeToRemember('/')).toBeNull();
  });
});

describe('routeAfterUnlock', () => {
  it('returns to the remembered thread from the start or the list', () => {
    expect(routeAfterUnlock('/', `/chats/${peer}`)).toBe(`/chats/${peer}`);
    expect(routeAfterUnlock('/chats', `/chats/${peer}`)).toBe(`/chats/${peer}`);
  });

  it('stays where a link pointed, or when nothing (valid) is remembered', () => {
    expect(routeAfterUnlock('/settings', `/chats/${peer}`)).toBeNull();
    expect(routeAfterUnlock(`/chats/${other}`, `/chats/${peer}`)).toBeNull();
    expect(routeAfterUnlock('/', null)).toBeNull();
    expect(routeAfterUnlock('/', '/settings')).toBeNull();
    expect(routeAfterUnlock('/chats', '/chats')).toBeNull();
    expect(routeAfterUnlock('/', '/chats')).toBe('/chats');
  });
});

describe('RouteMemory', () => {
  it('remembers the last worthwhile route, sealed', async () => {
    const raw = memoryKV();
    const seed = new Uint8Array(32).fill(7);
    const m = new RouteMemory(sealedKV(raw, seed), 'ed25519:me');
    expect(await m.recall()).toBeNull();
    await m.remember(`/chats/${peer}`);
    await m.remember('/settings'); // not a place to return to: the thread stays
    expect(await m.recall()).toBe(`/chats/${peer}`);
    // A contact's key is not readable while locked.
    const stored = JSON.stringify(raw.map.get(lastRouteKey('ed25519:me')), (_k, v) => (v instanceof Uint8Array ? [...v] : v));
    expect(stored).not.toContain(peer.slice(8, 24));
    expect(await new RouteMemory(sealedKV(raw, new Uint8Array(32).fill(8)), 'ed25519:me').recall()).toBeNull();
  });
});
