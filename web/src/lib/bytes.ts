// Byte encodings used on the wire (SPEC conventions): lowercase hex and
// unpadded base64url. Hex comes from @noble/hashes; base64url is a thin
// wrapper over the platform's btoa/atob.
import { bytesToHex, hexToBytes, utf8ToBytes, concatBytes, randomBytes } from '@noble/hashes/utils.js';

export { bytesToHex, concatBytes, randomBytes, utf8ToBytes };

const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/** Strict lowercase hex → bytes. Throws on upper case, odd length or junk. */
export function fromHex(hex: string, expectedLength?: number): Uint8Array {
  if (typeof hex !== 'string' || !HEX_RE.test(hex)) throw new Error('invalid hex');
  const bytes = hexToBytes(hex);
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new Error(`expected ${expectedLength} bytes, got ${bytes.length}`);
  }
  return bytes;
}

export function toB64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** Unpadded base64url → bytes. Rejects padding, the standard alphabet and impossible lengths. */
export function fromB64url(s: string): Uint8Array {
  if (typeof s !== 'string' || !B64URL_RE.test(s) || s.length % 4 === 1) {
    throw new Error('invalid base64url');
  }
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Reject non-canonical trailing bits so one ciphertext has exactly one encoding.
  if (toB64url(out) !== s) throw new Error('non-canonical base64url');
  return out;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Constant-shape equality for small byte arrays (not secret-dependent here). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** A new client message id: 22 chars of b64url over 16 random bytes (SPEC §7.1). */
export function newMessageId(): string {
  return toB64url(randomBytes(16));
}

export const MESSAGE_ID_RE = /^[A-Za-z0-9_-]{16,64}$/;
