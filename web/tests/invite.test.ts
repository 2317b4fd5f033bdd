// Invite links (issue 13): built from the app's origin, parsed back from the
// route, hostile paths refused; the QR code is drawn from uqr's matrix.
import { describe, expect, it } from 'vitest';
import { inviteLink, invitedKez, setPendingInvite, takePendingInvite } from '../src/lib/invite';
import { pathFromHash } from '../src/lib/router.svelte';
import { qrPath } from '../src/lib/qr';
import { routeAfterUnlock, routeToRemember } from '../src/lib/lastroute';

describe('invite links', () => {
  it('are the origin plus #/chat/<handle>, and read back', () => {
    const link = inviteLink('https://kez.lat', 'alice');
    expect(link).toBe('https://kez.lat/#/chat/alice');
    expect(inviteLink('http://127.0.0.1:8080/', 'bob_1')).toBe('http://127.0.0.1:8080/#/chat/bob_1');
    expect(invitedKez(pathFromHash(new URL(link).hash))).toBe('alice');
  });

  it('take a KEZ folded like the start-chat form', () => {
    expect(invitedKez('/chat/Alice')).toBe('alice');
    expect(invitedKez('/chat/@bob')).toBe('bob');
    expect(invitedKez('/chat/bob@Kez.Lat')).toBe('bob@kez.lat');
    expect(invitedKez(pathFromHash('#/chat/bob%40kez.lat'))).toBe('bob@kez.lat');
    expect(invitedKez('/chat/bob@127.0.0.1:8080')).toBe('bob@127.0.0.1:8080');
  });

  it('refuse what is no invite or no valid handle', () => {
    for (const p of [
      '/',
      '/chats',
      '/chats/alice',
      '/chat',
      '/chat/',
      '/chat/al',
      '/chat/alice/extra',
      '/chat/-alice',
      '/chat/ali ce',
      '/chat/<script>',
      '/chat/javascript:alert(1)',
      '/chat/alice@',
      '/chat/alice@evil.example/x',
      '/chat/alice@ex ample',
      `/chat/${'a'.repeat(33)}`,
      '/chat/\u212Aelvin',
    ]) {
      expect(invitedKez(p), p).toBeNull();
    }
    expect(invitedKez(pathFromHash('#/chat/%E0%A4%A'))).toBeNull();
  });

  it('survive an unlock (not the start, so the route stays) and are never remembered', () => {
    expect(routeAfterUnlock('/chat/bob', '/chats/ed25519:x')).toBeNull();
    expect(routeToRemember('/chat/bob')).toBeNull();
  });

  it('the one the app opened with is taken once', () => {
    setPendingInvite('bob');
    expect(takePendingInvite()).toBe('bob');
    expect(takePendingInvite()).toBeNull();
  });
});

describe('QR code', () => {
  it('draws the matrix as one path with the finder patterns in place', () => {
    const { size, d } = qrPath('https://kez.lat/#/chat/alice');
    // Version 2 (25 modules) fits this at ECC M; plus the 4-module quiet zone each side (ISO/IEC 18004).
    expect(size).toBeGreaterThanOrEqual(25 + 8);
    expect(d).toMatch(/^(M\d+ \d+h1v1h-1z)+$/);
    // The top-left finder's corner sits just inside the border, its inner gap one module further in.
    expect(d).toContain('M4 4h1v1h-1z');
    expect(d).not.toContain('M5 5h1v1h-1z');
    expect(d).toContain('M6 6h1v1h-1z');
    // The quiet zone stays light: nothing in the first four rows or columns.
    expect(d).not.toMatch(/M[0-3] \d+h/);
    expect(d).not.toMatch(/M\d+ [0-3]h/);
    expect(qrPath('https://kez.lat/#/chat/bob').d).not.toBe(d);
  });
});
