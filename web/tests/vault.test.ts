import { describe, expect, it } from 'vitest';
import { memoryKV } from '../src/lib/kv';
import { primaryFromSeed } from '../src/lib/identity';
import {
  PBKDF2_ITERATIONS,
  SeedStore,
  SESSION_KEY,
  SESSION_TTL_MS,
  WrongPassphraseError,
  decryptVault,
  encryptVault,
  type SessionRecord,
} from '../src/lib/vault';
import { seedFor } from './helpers';

const seed = seedFor('vault');
const primary = primaryFromSeed(seed);

describe('vault', () => {
  it('uses at least 600k PBKDF2 iterations by default', () => {
    expect(PBKDF2_ITERATIONS).toBeGreaterThanOrEqual(600_000);
  });

  it('encrypts the seed under the passphrase', async () => {
    const rec = await encryptVault(seed, 'correct horse', primary, 1000);
    expect(rec.kdf).toBe('pbkdf2-sha256');
    expect(JSON.stringify(rec)).not.toContain(Buffer.from(seed).toString('hex'));
    expect(await decryptVault(rec, 'correct horse')).toEqual(seed);
    await expect(decryptVault(rec, 'wrong horse')).rejects.toBeInstanceOf(WrongPassphraseError);
    // binding to the primary (AAD): moving the ciphertext to another identity fails
    await expect(decryptVault({ ...rec, primary: primaryFromSeed(seedFor('other')) }, 'correct horse')).rejects.toThrow();
  });

  it('default iterations round-trip (slow path)', async () => {
    const rec = await encryptVault(seed, 'pass phrase', primary);
    expect(rec.iterations).toBe(PBKDF2_ITERATIONS);
    expect(await decryptVault(rec, 'pass phrase')).toEqual(seed);
  }, 20_000);

  it('keeps a 30-day sliding session with a non-extractable key', async () => {
    const kv = memoryKV();
    const store = new SeedStore(kv);
    await store.saveVault(seed, 'passphrase!', primary, 1000);
    expect(await store.resumeSession()).toBeNull();
    await store.startSession(seed, primary);
    const rec = (await kv.get<SessionRecord>(SESSION_KEY))!;
    expect(rec.key.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('raw', rec.key)).rejects.toThrow();

    const t0 = Date.now();
    const later = t0 + SESSION_TTL_MS - 1000;
    expect(await store.resumeSession(later)).toEqual(seed);
    // sliding: valid again almost 30 days after the last resume
    expect(await store.resumeSession(later + SESSION_TTL_MS - 1000)).toEqual(seed);
    // expired → gone
    expect(await store.resumeSession(later + 3 * SESSION_TTL_MS)).toBeNull();
    expect(await kv.get(SESSION_KEY)).toBeUndefined();
  });

  it('lock ends the session; unlock needs the passphrase', async () => {
    const kv = memoryKV();
    const store = new SeedStore(kv);
    await store.saveVault(seed, 'passphrase!', primary, 1000);
    await store.startSession(seed, primary);
    await store.endSession();
    expect(await store.resumeSession()).toBeNull();
    await expect(store.unlock('nope')).rejects.toThrow(/passphrase/);
    expect(await store.unlock('passphrase!')).toEqual(seed);
  });
});
