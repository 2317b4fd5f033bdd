// File bytes at rest (SPEC §13 client behaviour, sealed as §8.2): buffered
// chunks and finished files are binary records, each AES-256-GCM under the
// history key (HKDF-SHA256(seed, info `kez.chat.history.v1`)) with a random
// 12-byte nonce and the record's name as AAD, exactly like the history's JSON
// records; only the plaintext is raw bytes instead of JSON. WebCrypto does the
// AES (a 10 MiB file in milliseconds).
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes, utf8ToBytes } from '../bytes';
import type { KV } from '../kv';
import { HISTORY_INFO, type SealedRecord } from '../sealedkv';

type Buf = Uint8Array<ArrayBuffer>;

function isSealed(v: unknown): v is SealedRecord {
  const r = v as SealedRecord;
  return typeof v === 'object' && v !== null && r.kez_sealed === 1 && r.iv instanceof Uint8Array && r.ct instanceof Uint8Array;
}

/** Binary records sealed under the identity's history key; names are the caller's (already per identity). */
export class SealedFiles {
  readonly #kv: KV;
  readonly #key: Promise<CryptoKey>;

  constructor(kv: KV, seed: Uint8Array) {
    this.#kv = kv;
    const raw = hkdf(sha256, seed, undefined, utf8ToBytes(HISTORY_INFO), 32) as Buf;
    this.#key = crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    const iv = randomBytes(12) as Buf;
    const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8ToBytes(name) as Buf }, await this.#key, bytes as Buf);
    const record: SealedRecord = { kez_sealed: 1, iv, ct: new Uint8Array(ct) };
    await this.#kv.set(name, record);
  }

  /** The bytes, or undefined when missing or not openable (another identity's, damaged). */
  async get(name: string): Promise<Uint8Array | undefined> {
    const v = await this.#kv.get<unknown>(name);
    if (!isSealed(v)) return undefined;
    try {
      const additionalData = utf8ToBytes(name) as Buf;
      return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: v.iv as Buf, additionalData }, await this.#key, v.ct as Buf));
    } catch {
      console.warn('a stored file could not be decrypted; ignoring it');
      return undefined;
    }
  }

  del(name: string): Promise<void> {
    return this.#kv.del(name);
  }
}
