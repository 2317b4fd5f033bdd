// nostr keys and routing addresses (SPEC §12). Pure functions; not wired
// into the UI yet (the client transport comes later). No hand-written
// secp256k1: the key check is @noble/curves', the public key nostr-tools'.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { getPublicKey } from 'nostr-tools/pure';
import { concatBytes, utf8ToBytes } from '../bytes';

export { addr, ADDR_LABEL } from './addr';

/** HKDF info of the nostr key (SPEC §12); retries append one counter byte. */
export const NOSTR_KEY_INFO = 'kez.chat.nostr.key.v1';

/**
 * The nostr secret key (32 bytes, big-endian scalar) of a 32-byte identity
 * seed: HKDF-SHA256(ikm = seed, no salt, info = "kez.chat.nostr.key.v1",
 * 32 bytes), valid iff 1 <= k < n; otherwise info || 0x01, 0x02, … and the
 * first valid output wins (SPEC §12; a retry has probability ~2^-128).
 */
export function nostrSecretKey(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new Error('seed must be 32 bytes');
  const base = utf8ToBytes(NOSTR_KEY_INFO);
  for (let counter = 0; counter <= 0xff; counter++) {
    const info = counter === 0 ? base : concatBytes(base, Uint8Array.of(counter));
    const k = hkdf(sha256, seed, undefined, info, 32);
    if (secp256k1.utils.isValidSecretKey(k)) return k;
  }
  throw new Error('no valid nostr key in 256 candidates'); // probability ~2^-32768
}

/** The BIP-340 x-only public key (64 lowercase hex) of a nostr secret key. */
export function nostrPublicKey(secretKey: Uint8Array): string {
  return getPublicKey(secretKey);
}
