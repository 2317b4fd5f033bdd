// Visual encryption of profile pictures (SPEC §14): a keyed Fisher-Yates
// permutation of the pixels, driven by xoshiro256** seeded through HKDF, so
// the published PNG shows coloured noise to anyone without the key. The pure
// parts (PRNG, permutation, scramble) work on RGB byte arrays and need no
// canvas; the canvas parts (decode, encode, crop) are in canvas.ts.
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, fromHex, utf8ToBytes } from '../bytes';

/** HKDF info of the PRNG seed (SPEC §14). */
export const VISUAL_INFO = 'kez.chat.visual.v1';
/** The data-URL fragment that marks a scrambled picture; the 32 hex salt follows. */
export const VISUAL_FRAGMENT = '#kez-visual-v1:';
/** Side of the published picture, in pixels (SPEC §14: 192×192 keeps a profile under 256 KiB). */
export const PUBLISHED_SIDE = 192;
/** Side of the local picture, in pixels. */
export const LOCAL_SIDE = 256;

const MASK64 = (1n << 64n) - 1n;
const TWO64 = 1n << 64n;

function rotl(x: bigint, k: bigint): bigint {
  return ((x << k) | (x >> (64n - k))) & MASK64;
}

/** xoshiro256** (Blackman & Vigna) over four u64 words; the reference algorithm. */
export class Xoshiro256ss {
  readonly #s: [bigint, bigint, bigint, bigint];

  /** `seed`: 32 bytes read as four u64 little-endian; all zero becomes s[0] = 1 (SPEC §14). */
  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new Error('xoshiro256** seed must be 32 bytes');
    const view = new DataView(seed.buffer, seed.byteOffset, 32);
    const s = [0, 1, 2, 3].map((i) => view.getBigUint64(i * 8, true)) as [bigint, bigint, bigint, bigint];
    if (s.every((w) => w === 0n)) s[0] = 1n;
    this.#s = s;
  }

  /** The next 64-bit output. */
  nextU64(): bigint {
    const s = this.#s;
    const result = (rotl((s[1] * 5n) & MASK64, 7n) * 9n) & MASK64;
    const t = (s[1] << 17n) & MASK64;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45n);
    return result;
  }

  /** Uniform in 0..=max by rejection (SPEC §14.2): draw while r ≥ 2^64 − (2^64 mod bound). `max` < 2^64 − 1. */
  uniformBig(max: bigint): bigint {
    const bound = max + 1n;
    const limit = TWO64 - (TWO64 % bound);
    for (;;) {
      const r = this.nextU64();
      if (r < limit) return r % bound;
    }
  }

  /** {@link uniformBig} for a pixel index. */
  uniform(max: number): number {
    return Number(this.uniformBig(BigInt(max)));
  }
}

/** The PRNG seed of a picture: HKDF-SHA256(ikm = key, salt = 16-byte salt, info = VISUAL_INFO, 32). */
export function visualSeed(key: Uint8Array, salt: Uint8Array): Uint8Array {
  if (key.length !== 32 || salt.length !== 16) throw new Error('visual key is 32 bytes and salt 16');
  return hkdf(sha256, key, salt, utf8ToBytes(VISUAL_INFO), 32);
}

/** The permutation P of n pixel indices: Fisher-Yates from the top, j = uniform(0..=i). */
export function permutation(n: number, key: Uint8Array, salt: Uint8Array): Uint32Array {
  const rng = new Xoshiro256ss(visualSeed(key, salt));
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i >= 1; i--) {
    const j = rng.uniform(i);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

function checkRgb(rgb: Uint8Array, p: Uint32Array): void {
  if (rgb.length !== p.length * 3) throw new Error('RGB length does not match the permutation');
}

/** Scramble RGB pixels (3 bytes each): out[k] = in[P[k]]. */
export function scramble(rgb: Uint8Array, p: Uint32Array): Uint8Array {
  checkRgb(rgb, p);
  const out = new Uint8Array(rgb.length);
  for (let k = 0; k < p.length; k++) out.set(rgb.subarray(p[k] * 3, p[k] * 3 + 3), k * 3);
  return out;
}

/** Undo {@link scramble}: in[P[k]] = out[k]. */
export function unscramble(rgb: Uint8Array, p: Uint32Array): Uint8Array {
  checkRgb(rgb, p);
  const out = new Uint8Array(rgb.length);
  for (let k = 0; k < p.length; k++) out.set(rgb.subarray(k * 3, k * 3 + 3), p[k] * 3);
  return out;
}

/** RGBA (canvas ImageData) → RGB, alpha dropped. */
export function rgbaToRgb(rgba: Uint8ClampedArray | Uint8Array): Uint8Array {
  const n = rgba.length / 4;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[i * 3] = rgba[i * 4];
    out[i * 3 + 1] = rgba[i * 4 + 1];
    out[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return out;
}

/** RGB → opaque RGBA, for putImageData. */
export function rgbToRgba(rgb: Uint8Array): Uint8ClampedArray<ArrayBuffer> {
  const n = rgb.length / 3;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    out[i * 4] = rgb[i * 3];
    out[i * 4 + 1] = rgb[i * 3 + 1];
    out[i * 4 + 2] = rgb[i * 3 + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** A published picture URL split into its data URL and salt (null when not scrambled). */
export interface PictureParts {
  dataUrl: string;
  mime: 'image/png' | 'image/jpeg';
  salt: Uint8Array | null;
}

const PICTURE_RE = /^data:(image\/png|image\/jpeg);base64,([A-Za-z0-9+/]+={0,2})(#kez-visual-v1:([0-9a-f]{32}))?$/;

/** Parse a §14 `picture`; null for anything else (another scheme, SVG, a bad fragment). */
export function parsePicture(picture: string): PictureParts | null {
  const m = PICTURE_RE.exec(picture);
  if (!m) return null;
  const mime = m[1] as PictureParts['mime'];
  const salt = m[4] ? fromHex(m[4], 16) : null;
  // Scrambled pictures are PNG: a lossy JPEG would not invert.
  if (salt && mime !== 'image/png') return null;
  return { dataUrl: `data:${mime};base64,${m[2]}`, mime, salt };
}

/** The published `picture` of a scrambled PNG data URL and its salt. */
export function scrambledPictureUrl(pngDataUrl: string, salt: Uint8Array): string {
  return `${pngDataUrl}${VISUAL_FRAGMENT}${bytesToHex(salt)}`;
}
