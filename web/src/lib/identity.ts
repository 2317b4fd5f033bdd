// KEZ identity (SPEC §1, §2): Ed25519 keys, the `ed25519:<hex>` primary,
// strict signatures over JCS, and the BIP39 recovery phrase.
import { ed25519 } from '@noble/curves/ed25519.js';
import { entropyToMnemonic, mnemonicToEntropy, validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { bytesToHex, fromHex, randomBytes, utf8ToBytes } from './bytes';
import { jcsBytes } from './jcs';

export const SEED_LENGTH = 32;
const PRIMARY_RE = /^ed25519:([0-9a-f]{64})$/;

export function generateSeed(): Uint8Array {
  // randomBytes is crypto.getRandomValues under the hood.
  return randomBytes(SEED_LENGTH);
}

export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

export function formatPrimary(publicKey: Uint8Array): string {
  return `ed25519:${bytesToHex(publicKey)}`;
}

export function primaryFromSeed(seed: Uint8Array): string {
  return formatPrimary(publicKeyFromSeed(seed));
}

/**
 * A point KEZ accepts as a key or a signature's R (SPEC §2): the canonical
 * encoding (strict decoding, and re-encoding gives the same bytes) of a
 * point of order exactly L — not of small order and torsion-free. Same rule
 * as kez-core's `prime_order_point`.
 */
function isStrongPoint(bytes: Uint8Array): boolean {
  try {
    const p = ed25519.Point.fromBytes(bytes, false);
    return bytesToHex(p.toBytes()) === bytesToHex(bytes) && !p.isSmallOrder() && p.isTorsionFree();
  } catch {
    return false;
  }
}

/** Parse `ed25519:<hex>` into the 32-byte public key, or throw `invalid_key`. */
export function parsePrimary(primary: string): Uint8Array {
  const m = typeof primary === 'string' ? PRIMARY_RE.exec(primary) : null;
  if (!m) throw new Error('invalid_key');
  const bytes = fromHex(m[1], 32);
  if (!isStrongPoint(bytes)) throw new Error('invalid_key');
  return bytes;
}

export function isValidPrimary(primary: string): boolean {
  try {
    parsePrimary(primary);
    return true;
  } catch {
    return false;
  }
}

export function signBytes(seed: Uint8Array, message: Uint8Array): string {
  return bytesToHex(ed25519.sign(message, seed));
}

export function signJcs(seed: Uint8Array, value: unknown): string {
  return signBytes(seed, jcsBytes(value));
}

export function signString(seed: Uint8Array, text: string): string {
  return signBytes(seed, utf8ToBytes(text));
}

/**
 * The KEZ signature rule (SPEC §2), the same as kez-core's `Identity::verify`:
 * A and R canonical points of order exactly L, S < L, and the equation.
 * noble checks the equation cofactored and dalek's `verify_strict`
 * cofactorless; with A and R in the prime-order subgroup the two agree,
 * so both sides accept exactly the same signatures
 * (tests/vectors/ed25519-edge-cases.json).
 */
export function verifyStrict(sigHex: string, message: Uint8Array, publicKey: Uint8Array): boolean {
  let sig: Uint8Array;
  try {
    sig = fromHex(sigHex, 64);
  } catch {
    return false;
  }
  if (!isStrongPoint(publicKey) || !isStrongPoint(sig.subarray(0, 32))) return false;
  try {
    return ed25519.verify(sig, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

export function verifyJcs(sigHex: string, value: unknown, primary: string): boolean {
  let pub: Uint8Array;
  let bytes: Uint8Array;
  try {
    pub = parsePrimary(primary);
    bytes = jcsBytes(value);
  } catch {
    return false;
  }
  return verifyStrict(sigHex, bytes, pub);
}

export function verifyString(sigHex: string, text: string, primary: string): boolean {
  let pub: Uint8Array;
  try {
    pub = parsePrimary(primary);
  } catch {
    return false;
  }
  return verifyStrict(sigHex, utf8ToBytes(text), pub);
}

// ---- recovery phrase -------------------------------------------------------

export function seedToPhrase(seed: Uint8Array): string {
  if (seed.length !== SEED_LENGTH) throw new Error('seed must be 32 bytes');
  return entropyToMnemonic(seed, wordlist);
}

/** Normalise user input (case, extra whitespace) before validating. */
export function normalizePhrase(input: string): string {
  return input.trim().toLowerCase().split(/\s+/).filter(Boolean).join(' ');
}

/** Recovery phrase → seed. Throws a user-facing message on a bad phrase. */
export function phraseToSeed(input: string): Uint8Array {
  const phrase = normalizePhrase(input);
  const words = phrase.split(' ');
  if (words.length !== 24) throw new Error(`A recovery phrase has 24 words; you entered ${words.length}.`);
  const unknown = words.filter((w) => !wordlist.includes(w));
  if (unknown.length) throw new Error(`“${unknown[0]}” is not a recovery-phrase word. Check the spelling.`);
  if (!validateMnemonic(phrase, wordlist)) {
    throw new Error('Those words don’t form a valid recovery phrase (checksum mismatch). Check the order.');
  }
  return mnemonicToEntropy(phrase, wordlist);
}

export { wordlist as phraseWordlist };
