// Chat history at rest (SPEC §8.2): every value the chat store writes is
// encrypted with AES-256-GCM under a key derived from the identity seed, so a
// locked browser profile holds no message text, preview or contact list in
// clear. The record's key name is the AAD, so records cannot be swapped.
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes, utf8Decode, utf8ToBytes } from './bytes';
import type { KV } from './kv';

/** HKDF info for the history key; bump the version to re-key. */
export const HISTORY_INFO = 'kez.chat.history.v1';

/** What is stored: a 12-byte nonce and the ciphertext of the JSON value. */
export interface SealedRecord {
  kez_sealed: 1;
  iv: Uint8Array;
  ct: Uint8Array;
}

function isSealed(v: unknown): v is SealedRecord {
  const r = v as SealedRecord;
  return typeof v === 'object' && v !== null && r.kez_sealed === 1 && r.iv instanceof Uint8Array && r.ct instanceof Uint8Array;
}

/**
 * A KV whose values are sealed under a key derived from `seed`. Values must
 * be JSON. A record that does not open (another identity's, or damaged)
 * reads as missing; a plaintext record from before this layer is read as is
 * and sealed on its next write.
 */
export function sealedKV(kv: KV, seed: Uint8Array): KV {
  const key = hkdf(sha256, seed, undefined, utf8ToBytes(HISTORY_INFO), 32);
  return {
    async get<T>(name: string): Promise<T | undefined> {
      const v = await kv.get<unknown>(name);
      if (v === undefined || !isSealed(v)) return v as T | undefined;
      try {
        return JSON.parse(utf8Decode(gcm(key, v.iv, utf8ToBytes(name)).decrypt(v.ct))) as T;
      } catch {
        console.warn('a stored chat record could not be decrypted; ignoring it');
        return undefined;
      }
    },
    async set(name: string, value: unknown): Promise<void> {
      const iv = randomBytes(12);
      const ct = gcm(key, iv, utf8ToBytes(name)).encrypt(utf8ToBytes(JSON.stringify(value)));
      const record: SealedRecord = { kez_sealed: 1, iv, ct };
      await kv.set(name, record);
    },
    del: (name: string) => kv.del(name),
  };
}
