// Per-reader wraps of a picture's visual key (SPEC §14): the envelope v2
// crypto (§8 steps 1–7) under its own domain `kez.chat.visual-key.v1`. A wrap
// names no recipient (that would publish the social graph): a reader tries
// each one.
import { x25519 } from '@noble/curves/ed25519.js';
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, fromB64url, fromHex, randomBytes, toB64url, utf8ToBytes } from '../bytes';
import { x25519PublicFromPrimary, x25519SecretFromSeed } from '../envelope';
import { primaryFromSeed } from '../identity';

/** HKDF info and AAD prefix of a key wrap. */
export const VISUAL_KEY_INFO = 'kez.chat.visual-key.v1';
/** Most wraps one profile may carry. */
export const MAX_WRAPS = 1000;

/** One wrap: `ct` is AES-256-GCM of the 32-byte key (48 bytes with the tag). */
export interface KeyWrap {
  epk: string;
  nonce: string;
  ct: string;
}

export interface WrapOptions {
  /** Test hook: a fixed 32-byte ephemeral X25519 secret. */
  ephemeralSecret?: Uint8Array;
  /** Test hook: a fixed 12-byte nonce. */
  nonce?: Uint8Array;
}

function wrapKeyFor(shared: Uint8Array, epk: Uint8Array, rxPub: Uint8Array): Uint8Array {
  if (shared.every((b) => b === 0)) throw new Error('all-zero shared secret');
  return hkdf(sha256, shared, concatBytes(epk, rxPub), utf8ToBytes(VISUAL_KEY_INFO), 32);
}

function aad(epkHex: string, primary: string): Uint8Array {
  return utf8ToBytes(`${VISUAL_KEY_INFO}\n${epkHex}\n${primary}`);
}

/** Wrap the 32-byte visual key to a reader's primary. */
export function wrapKey(key: Uint8Array, recipientPrimary: string, opts: WrapOptions = {}): KeyWrap {
  if (key.length !== 32) throw new Error('visual key must be 32 bytes');
  const rxPub = x25519PublicFromPrimary(recipientPrimary);
  const e = opts.ephemeralSecret ?? randomBytes(32);
  const nonce = opts.nonce ?? randomBytes(12);
  const epk = x25519.getPublicKey(e);
  const k = wrapKeyFor(x25519.getSharedSecret(e, rxPub), epk, rxPub);
  const epkHex = bytesToHex(epk);
  const ct = gcm(k, nonce, aad(epkHex, recipientPrimary)).encrypt(key);
  return { epk: epkHex, nonce: bytesToHex(nonce), ct: toB64url(ct) };
}

/** Open one wrap with `seed`'s identity; null when it is not for us or malformed. */
export function unwrapKey(seed: Uint8Array, wrap: KeyWrap): Uint8Array | null {
  try {
    const epk = fromHex(wrap.epk, 32);
    const nonce = fromHex(wrap.nonce, 12);
    const ct = fromB64url(wrap.ct);
    const me = primaryFromSeed(seed);
    const rxPub = x25519PublicFromPrimary(me);
    const k = wrapKeyFor(x25519.getSharedSecret(x25519SecretFromSeed(seed), epk), epk, rxPub);
    const key = gcm(k, nonce, aad(wrap.epk, me)).decrypt(ct);
    return key.length === 32 ? key : null;
  } catch {
    return null;
  }
}

/** Try every wrap (SPEC §14: no recipient ids); the key, or null when none is ours. */
export function findKey(seed: Uint8Array, wraps: readonly KeyWrap[]): Uint8Array | null {
  for (const w of wraps.slice(0, MAX_WRAPS)) {
    const k = unwrapKey(seed, w);
    if (k) return k;
  }
  return null;
}

/** A wrap for each reader (own primary always included), deduplicated and shuffled. */
export function wrapForAll(key: Uint8Array, ownPrimary: string, contacts: readonly string[]): KeyWrap[] {
  const readers = [...new Set([ownPrimary, ...contacts])].slice(0, MAX_WRAPS);
  const wraps = readers.flatMap((p) => {
    try {
      return [wrapKey(key, p)];
    } catch {
      return []; // a primary that is not a key (§1) gets no wrap
    }
  });
  // Fisher-Yates with the CSPRNG: the order must not reveal which wrap is the owner's.
  const r = new Uint32Array(wraps.length);
  crypto.getRandomValues(r);
  for (let i = wraps.length - 1; i > 0; i--) {
    const j = r[i] % (i + 1);
    [wraps[i], wraps[j]] = [wraps[j], wraps[i]];
  }
  return wraps;
}
