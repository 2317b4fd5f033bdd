// Seed storage at rest.
//
// * The vault: the seed encrypted under a passphrase (PBKDF2-SHA256, 600k
//   iterations, WebCrypto → AES-256-GCM). This is what "unlock" opens.
// * The session: the seed encrypted under a random non-extractable WebCrypto
//   AES-GCM key that lives in IndexedDB next to it, valid for 30 days after
//   the last use (sliding). Restored on boot so a reload doesn't ask for the
//   passphrase; "Lock" deletes it.
import { bytesToHex, fromB64url, randomBytes, toB64url, utf8ToBytes } from './bytes';
import type { KV } from './kv';

export const VAULT_KEY = 'vault';
export const SESSION_KEY = 'session';
export const PBKDF2_ITERATIONS = 600_000;
export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;

export interface VaultRecord {
  v: 1;
  kdf: 'pbkdf2-sha256';
  iterations: number;
  salt: string; // b64url
  iv: string; // b64url
  ct: string; // b64url (AES-GCM, aad = primary)
  primary: string;
  created_at: string;
}

export interface SessionRecord {
  v: 1;
  key: CryptoKey; // non-extractable
  iv: string;
  ct: string;
  primary: string;
  expires_at: number; // epoch ms
}

export class WrongPassphraseError extends Error {
  constructor() {
    super('That passphrase doesn’t unlock this identity.');
    this.name = 'WrongPassphraseError';
  }
}

const subtle = () => globalThis.crypto.subtle;
/** WebCrypto wants ArrayBuffer-backed views; copy to be safe across realms. */
const buf = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

async function passphraseKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await subtle().importKey('raw', buf(utf8ToBytes(passphrase.normalize('NFC'))), 'PBKDF2', false, [
    'deriveKey',
  ]);
  return subtle().deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: buf(salt), iterations },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

export async function encryptVault(
  seed: Uint8Array,
  passphrase: string,
  primary: string,
  iterations = PBKDF2_ITERATIONS,
): Promise<VaultRecord> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await passphraseKey(passphrase, salt, iterations);
  const ct = new Uint8Array(
    await subtle().encrypt({ name: 'AES-GCM', iv: buf(iv), additionalData: buf(utf8ToBytes(primary)) }, key, buf(seed)),
  );
  return {
    v: 1,
    kdf: 'pbkdf2-sha256',
    iterations,
    salt: toB64url(salt),
    iv: toB64url(iv),
    ct: toB64url(ct),
    primary,
    created_at: new Date().toISOString(),
  };
}

export async function decryptVault(rec: VaultRecord, passphrase: string): Promise<Uint8Array> {
  const key = await passphraseKey(passphrase, fromB64url(rec.salt), rec.iterations);
  try {
    const pt = await subtle().decrypt(
      { name: 'AES-GCM', iv: buf(fromB64url(rec.iv)), additionalData: buf(utf8ToBytes(rec.primary)) },
      key,
      buf(fromB64url(rec.ct)),
    );
    return new Uint8Array(pt);
  } catch {
    throw new WrongPassphraseError();
  }
}

export async function createSession(seed: Uint8Array, primary: string, now = Date.now()): Promise<SessionRecord> {
  const key = await subtle().generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = randomBytes(12);
  const ct = new Uint8Array(
    await subtle().encrypt({ name: 'AES-GCM', iv: buf(iv), additionalData: buf(utf8ToBytes(primary)) }, key, buf(seed)),
  );
  return { v: 1, key, iv: toB64url(iv), ct: toB64url(ct), primary, expires_at: now + SESSION_TTL_MS };
}

/** The seed from a live session, or null if it expired / can't be decrypted. */
export async function openSession(rec: SessionRecord, now = Date.now()): Promise<Uint8Array | null> {
  if (!rec || rec.v !== 1 || !(rec.expires_at > now)) return null;
  try {
    const pt = await subtle().decrypt(
      { name: 'AES-GCM', iv: buf(fromB64url(rec.iv)), additionalData: buf(utf8ToBytes(rec.primary)) },
      rec.key,
      buf(fromB64url(rec.ct)),
    );
    return new Uint8Array(pt);
  } catch {
    return null;
  }
}

/** Storage of the vault + session in a KV. */
export class SeedStore {
  constructor(private readonly kv: KV) {}

  loadVault(): Promise<VaultRecord | undefined> {
    return this.kv.get<VaultRecord>(VAULT_KEY);
  }

  async saveVault(seed: Uint8Array, passphrase: string, primary: string, iterations?: number): Promise<void> {
    await this.kv.set(VAULT_KEY, await encryptVault(seed, passphrase, primary, iterations));
  }

  async unlock(passphrase: string): Promise<Uint8Array> {
    const rec = await this.loadVault();
    if (!rec) throw new Error('No identity is stored in this browser.');
    return decryptVault(rec, passphrase);
  }

  async startSession(seed: Uint8Array, primary: string): Promise<void> {
    await this.kv.set(SESSION_KEY, await createSession(seed, primary));
  }

  /** Restore the session on boot and slide its expiry. */
  async resumeSession(now = Date.now()): Promise<Uint8Array | null> {
    const rec = await this.kv.get<SessionRecord>(SESSION_KEY);
    if (!rec) return null;
    const seed = await openSession(rec, now);
    if (!seed) {
      await this.kv.del(SESSION_KEY);
      return null;
    }
    await this.kv.set(SESSION_KEY, { ...rec, expires_at: now + SESSION_TTL_MS });
    return seed;
  }

  endSession(): Promise<void> {
    return this.kv.del(SESSION_KEY);
  }

  /** Forget everything about the identity on this device (not the chat history). */
  async forget(): Promise<void> {
    await this.kv.del(SESSION_KEY);
    await this.kv.del(VAULT_KEY);
  }
}

/** Short, stable fingerprint for display (not security-relevant). */
export function shortPrimary(primary: string): string {
  const hex = primary.replace(/^ed25519:/, '');
  return `${hex.slice(0, 8)}…${hex.slice(-6)}`;
}

export { bytesToHex };
