// Passkey unlock (passkey.ts): the PRF output is stubbed only at the
// navigator.credentials boundary (a fake authenticator computing
// HMAC-SHA256(secret, salt), as CTAP2 hmac-secret does); the real WebAuthn
// path runs in the e2e scenario `passkey` (Chromium's virtual authenticator).
import { describe, expect, it } from 'vitest';
import { memoryKV } from '../src/lib/kv';
import { parsePrimary, primaryFromSeed } from '../src/lib/identity';
import { fromB64url, randomBytes } from '../src/lib/bytes';
import { PasskeyError, PasskeyStore, openSeed, passkeyUserId, sealSeed } from '../src/lib/passkey';
import { seedFor } from './helpers';
import { fakeAuthenticator } from './passkey-fake';

const seed = seedFor('passkey-user');
const primary = primaryFromSeed(seed);
const opts = { rpId: 'localhost', name: 'pia@kez.test' };

describe('passkey wrap', () => {
  it('user.id is the raw 32-byte Ed25519 public key, never the 72-byte identity string', async () => {
    expect(passkeyUserId(primary)).toEqual(parsePrimary(primary));
    expect(passkeyUserId(primary).length).toBe(32);
    const { creds, seen } = fakeAuthenticator();
    await new PasskeyStore(memoryKV()).enroll(creds, seed, opts);
    expect(seen.createUserId!.length).toBe(32);
    const sel = seen.createOpts!.publicKey!.authenticatorSelection!;
    expect(sel).toEqual({ residentKey: 'preferred', userVerification: 'required' });
    expect(seen.createOpts!.publicKey!.rp.id).toBe('localhost');
  });

  it('seals and opens the seed; another PRF output or a swapped identity fails', () => {
    const prf = randomBytes(32);
    const salt = randomBytes(32);
    const rec = sealSeed(prf, salt, seed, randomBytes(16));
    expect(openSeed(rec, prf)).toEqual(seed);
    expect(() => openSeed(rec, randomBytes(32))).toThrow(PasskeyError);
    const other = { ...rec, primary: primaryFromSeed(seedFor('someone else')) };
    expect(() => openSeed(other, prf)).toThrow(/doesn’t unlock/);
    expect(JSON.stringify(rec)).not.toContain(Buffer.from(seed).toString('hex'));
    expect(fromB64url(rec.ct).length).toBe(32 + 16);
  });

  it('enrol → stored record → unlock gives the seed back', async () => {
    const kv = memoryKV();
    const { creds } = fakeAuthenticator();
    const store = new PasskeyStore(kv);
    const rec = await store.enroll(creds, seed, opts);
    expect(Object.keys(rec).sort()).toEqual(['created_at', 'credential_id', 'ct', 'iv', 'primary', 'salt', 'v']);
    expect(kv.map.has(`passkey:${primary}`)).toBe(true);
    expect(await store.unlock(creds, primary, 'localhost')).toEqual(seed);
  });

  it('an authenticator that gives the PRF only on assertion costs one more prompt', async () => {
    const { creds, seen } = fakeAuthenticator('get-only');
    const store = new PasskeyStore(memoryKV());
    await store.enroll(creds, seed, opts);
    expect(seen.gets).toBe(1);
    expect(await store.unlock(creds, primary, 'localhost')).toEqual(seed);
  });

  it('no PRF: a clear sentence and nothing stored', async () => {
    const kv = memoryKV();
    const { creds } = fakeAuthenticator('none');
    const err = await new PasskeyStore(kv).enroll(creds, seed, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PasskeyError);
    expect((err as PasskeyError).code).toBe('no_prf');
    expect((err as Error).message).toMatch(/PRF/);
    expect(kv.map.size).toBe(0);
  });

  it('cancelled (NotAllowedError) is a sentence, not a DOMException', async () => {
    const kv = memoryKV();
    const { creds, seen } = fakeAuthenticator();
    const store = new PasskeyStore(kv);
    await store.enroll(creds, seed, opts);
    seen.fail = 'NotAllowedError';
    const err = await store.unlock(creds, primary, 'localhost').catch((e: unknown) => e);
    expect((err as PasskeyError).code).toBe('cancelled');
    expect((err as Error).message).toMatch(/cancelled or timed out/);
  });

  it('remove deletes the record; unlock then says so', async () => {
    const kv = memoryKV();
    const { creds } = fakeAuthenticator();
    const store = new PasskeyStore(kv);
    await store.enroll(creds, seed, opts);
    await store.remove(primary);
    expect(kv.map.size).toBe(0);
    const err = await store.unlock(creds, primary, 'localhost').catch((e: unknown) => e);
    expect((err as PasskeyError).code).toBe('not_found');
  });
});
