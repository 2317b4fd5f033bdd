// The wraps the own profile publishes (SPEC §14.3). A republish keeps the
// previous document's wraps of the same key verbatim (another device's or a
// lost history's contacts keep theirs) and appends one for each reader that
// has none. The owner's wraps are deterministic (ephemeral secret and nonce
// derived from its seed, the key and the reader), so any of its devices can
// tell whether a contact already has one without that contact's key;
// the list is padded to a bucket size with dummy wraps nobody else can tell
// from real ones, so its length says little about the number of contacts.
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, fromHex, toB64url, utf8ToBytes } from '../bytes';
import { findKey, MAX_WRAPS, wrapKey, type KeyWrap } from './wrap';

/** HKDF info of the owner's dummy-marking key (SPEC §14.3). */
export const DUMMY_INFO = 'kez.chat.visual-dummy.v1';
/** HKDF info prefix of a deterministic wrap's ephemeral secret and nonce (SPEC §14.3). */
export const OWN_WRAP_INFO = 'kez.chat.visual-key-own.v1';

/**
 * The owner's wrap of `key` for `reader`: wrapKey (wrap.ts) with the
 * ephemeral secret and nonce = HKDF-SHA256(ikm = seed, salt = key, info =
 * `kez.chat.visual-key-own.v1\n<reader primary>`, L = 44) split 32 + 12.
 * The same inputs give the same wrap, on any device of the identity.
 */
export function ownWrap(seed: Uint8Array, key: Uint8Array, reader: string): KeyWrap {
  const okm = hkdf(sha256, seed, key, utf8ToBytes(`${OWN_WRAP_INFO}\n${reader}`), 44);
  return wrapKey(key, reader, { ephemeralSecret: okm.slice(0, 32), nonce: okm.slice(32) });
}
/** Wrap-list sizes the list is padded to (SPEC §14.3); beyond the last, no padding (the 256 KiB body bound). */
export const PAD_BUCKETS = [16, 32, 64, 128, 256, 512] as const;

function dummyKey(seed: Uint8Array): Uint8Array {
  return hkdf(sha256, seed, undefined, utf8ToBytes(DUMMY_INFO), 32);
}

function dummyNonce(dk: Uint8Array, epk: Uint8Array): Uint8Array {
  return hmac(sha256, dk, epk).slice(0, 12);
}

/**
 * The owner's dummy wrap number `index` for `key`: `epk` = X25519 public key
 * of the first 32 bytes of HKDF-SHA256(ikm = seed, salt = key, info =
 * `kez.chat.visual-dummy.v1\n<index>`, L = 80), `ct` = its last 48 bytes,
 * `nonce` = the first 12 bytes of HMAC-SHA256(dummy key, epk). To anyone but
 * the owner it is a wrap for someone else; the owner recognises (and drops)
 * its own dummies at the next republish. Deterministic like the real wraps,
 * so comparing two published lists does not tell real wraps (kept) from
 * dummies (if they were fresh each time, the kept ones would be the contacts).
 */
export function dummyWrap(seed: Uint8Array, key: Uint8Array, index: number): KeyWrap {
  const okm = hkdf(sha256, seed, key, utf8ToBytes(`${DUMMY_INFO}\n${index}`), 80);
  const epk = x25519.getPublicKey(okm.slice(0, 32));
  return { epk: bytesToHex(epk), nonce: bytesToHex(dummyNonce(dummyKey(seed), epk)), ct: toB64url(okm.slice(32)) };
}

/** Whether `w` is one of the owner's dummies (`dk`: its dummy key). */
function isDummy(dk: Uint8Array, w: KeyWrap): boolean {
  try {
    return bytesToHex(dummyNonce(dk, fromHex(w.epk, 32))) === w.nonce;
  } catch {
    return false;
  }
}

/** The padded length of a list of `n` real wraps: the smallest bucket ≥ n, or n past the last bucket. */
export function bucketFor(n: number): number {
  return PAD_BUCKETS.find((b) => b >= n) ?? n;
}

/** Fisher-Yates with the CSPRNG: the order must not tell the owner's wrap or the new ones. */
export function shuffle<T>(list: T[]): T[] {
  const r = new Uint32Array(list.length);
  crypto.getRandomValues(r);
  for (let i = list.length - 1; i > 0; i--) {
    const j = r[i] % (i + 1);
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

function sameKey(a: Uint8Array | null, b: Uint8Array): boolean {
  return !!a && a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The wraps of `key` to publish: `carried` (the previous document's list)
 * kept when it holds the owner's wrap of this same key, minus the owner's
 * dummies; then the owner's wrap (ownWrap) for itself and each of
 * `readers` that `carried` does not hold yet; then padded (PAD_BUCKETS)
 * and shuffled. At most MAX_WRAPS.
 */
export function nextWraps(opts: { seed: Uint8Array; key: Uint8Array; own: string; carried: readonly KeyWrap[]; readers: readonly string[] }): KeyWrap[] {
  const dk = dummyKey(opts.seed);
  const same = sameKey(findKey(opts.seed, opts.carried), opts.key);
  const real = same ? opts.carried.filter((w) => !isDummy(dk, w)) : [];
  const have = new Set(real.map((w) => w.epk));
  for (const p of new Set([opts.own, ...opts.readers])) {
    if (real.length >= MAX_WRAPS) break;
    try {
      const w = ownWrap(opts.seed, opts.key, p);
      if (!have.has(w.epk)) real.push(w);
      have.add(w.epk);
    } catch {
      // a primary that is not a key (§1) gets no wrap
    }
  }
  const out = real.slice(0, MAX_WRAPS);
  const target = bucketFor(out.length);
  for (let i = 0; out.length < target; i++) out.push(dummyWrap(opts.seed, opts.key, i));
  return shuffle(out);
}

/** Whether `carried` holds the owner's wrap of `key` (so its wraps stay valid). */
export function carriesKey(seed: Uint8Array, carried: readonly KeyWrap[], key: Uint8Array): boolean {
  return sameKey(findKey(seed, carried), key);
}
