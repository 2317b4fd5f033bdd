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
