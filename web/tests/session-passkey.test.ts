// Session.unlockSeed / withSeed / lockedHere: the hooks passkey unlock uses.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryKV } from '../src/lib/kv';
import { Session } from '../src/lib/session.svelte';
import { PasskeyStore } from '../src/lib/passkey';
import { fakeAuthenticator } from './passkey-fake';
import { seedFor } from './helpers';

afterEach(() => vi.unstubAllGlobals());

function stubHealthz() {
  vi.stubGlobal(
    'fetch',
    vi.fn(async () => new Response(JSON.stringify({ status: 'ok', server: 'kez.test' }), { headers: { 'Content-Type': 'application/json' } })),
  );
}

describe('Session with a passkey', () => {
  it('enrol while unlocked, lock, unlock with the passkey seed; another identity’s seed is refused', async () => {
    stubHealthz();
    const kv = memoryKV();
    const passkeys = new PasskeyStore(kv);
    const { creds } = fakeAuthenticator();
    const s = new Session(kv, { iterations: 1000 });
    await s.boot();
    const { seed } = s.newSeed();
    await s.create(seed, 'passphrase-1');
    await s.withSeed((sd) => passkeys.enroll(creds, sd, { rpId: 'localhost', name: 'x' }));
    expect(s.lockedHere).toBe(false);
    await s.lock();
    expect(s.lockedHere).toBe(true);
    await expect(s.withSeed(async () => 1)).rejects.toThrow('Unlock first.');

    const s2 = new Session(kv, { iterations: 1000 });
    await s2.boot();
    expect(s2.status).toBe('locked');
    expect(s2.lockedHere).toBe(false); // opened locked: the lock screen may offer the passkey at once
    await expect(s2.unlockSeed(seedFor('someone else'))).rejects.toThrow('another identity');
    expect(s2.status).toBe('locked');
    await s2.unlockSeed(await passkeys.unlock(creds, s2.primary!, 'localhost'));
    expect(s2.status).toBe('unlocked');
    // The passphrase still works too.
    await s2.lock();
    await s2.unlock('passphrase-1');
    expect(s2.status).toBe('unlocked');
  });
});
