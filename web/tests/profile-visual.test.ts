// Profile pictures (SPEC §14.2, §14.3): xoshiro256**, the permutation,
// scramble/unscramble and the key wraps, with our own round trips (the
// shared vectors are checked in profile-vectors.test.ts).
import { describe, expect, it } from 'vitest';
import { primaryFromSeed } from '../src/lib/identity';
import { permutation, scramble, unscramble, Xoshiro256ss, parsePicture, visualSeed, rgbaToRgb, rgbToRgba } from '../src/lib/profile/visual';
import { findKey, unwrapKey, wrapForAll, wrapKey } from '../src/lib/profile/wrap';
import { seedFor } from './helpers';

const seedWords = (...w: number[]) => {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  w.forEach((x, i) => v.setBigUint64(i * 8, BigInt(x), true));
  return b;
};

describe('xoshiro256**', () => {
  it('gives the reference outputs for state {1, 2, 3, 4}', () => {
    const r = new Xoshiro256ss(seedWords(1, 2, 3, 4));
    const out = Array.from({ length: 6 }, () => r.nextU64());
    expect(out).toEqual([11520n, 0n, 1509978240n, 1215971899390074240n, 1216172134540287360n, 607988272756665600n]);
  });

  it('turns an all-zero state into s[0] = 1', () => {
    const a = new Xoshiro256ss(new Uint8Array(32));
    const b = new Xoshiro256ss(seedWords(1, 0, 0, 0));
    for (let i = 0; i < 4; i++) expect(a.nextU64()).toBe(b.nextU64());
  });

  it('draws uniform(0..=i) within bounds, with bound 1 always 0', () => {
    const r = new Xoshiro256ss(seedWords(9, 8, 7, 6));
    for (let i = 0; i < 200; i++) expect(r.uniform(0)).toBe(0);
    for (let i = 1; i < 200; i++) {
      const j = r.uniform(i);
      expect(j).toBeGreaterThanOrEqual(0);
      expect(j).toBeLessThanOrEqual(i);
    }
  });
});

describe('permutation and scrambling', () => {
  const key = seedFor('visual key');
  const salt = seedFor('salt').slice(0, 16);

  it('is a permutation, deterministic in key and salt', () => {
    const p = permutation(1000, key, salt);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(permutation(1000, key, salt)).toEqual(p);
    expect(permutation(1000, key, seedFor('other salt').slice(0, 16))).not.toEqual(p);
    expect(permutation(1000, seedFor('other key'), salt)).not.toEqual(p);
    expect(visualSeed(key, salt)).toHaveLength(32);
    expect(() => visualSeed(key, key)).toThrow();
  });

  it('scrambles pixels (out[k] = in[P[k]]) and unscrambles exactly', () => {
    const n = 64;
    const rgb = new Uint8Array(n * 3).map((_, i) => (i * 37) & 0xff);
    const p = permutation(n, key, salt);
    const s = scramble(rgb, p);
    for (let k = 0; k < n; k++) expect([...s.subarray(k * 3, k * 3 + 3)]).toEqual([...rgb.subarray(p[k] * 3, p[k] * 3 + 3)]);
    expect(s).not.toEqual(rgb);
    expect(unscramble(s, p)).toEqual(rgb);
    expect(() => scramble(rgb.subarray(3), p)).toThrow();
  });

  it('drops alpha and puts it back opaque', () => {
    const rgba = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    expect([...rgbaToRgb(rgba)]).toEqual([1, 2, 3, 5, 6, 7]);
    expect([...rgbToRgba(rgbaToRgb(rgba))]).toEqual([1, 2, 3, 255, 5, 6, 7, 255]);
  });

  it('parses published picture URLs and refuses the rest', () => {
    const salt = 'ab'.repeat(16);
    expect(parsePicture(`data:image/png;base64,iVBORw0KGgo=#kez-visual-v1:${salt}`)?.salt).toHaveLength(16);
    expect(parsePicture('data:image/jpeg;base64,/9j/')?.salt).toBeNull();
    for (const bad of [
      `data:image/jpeg;base64,/9j/#kez-visual-v1:${salt}`, // a lossy scrambled picture cannot invert
      'data:image/svg+xml;base64,PHN2Zz4=',
      'https://example.com/a.png',
      `data:image/png;base64,iVBO#kez-visual-v1:${salt.toUpperCase()}`,
      'data:image/png;base64,iVBO#kez-visual-v1:abcd',
    ])
      expect(parsePicture(bad)).toBeNull();
  });
});

describe('key wraps', () => {
  const alice = seedFor('alice');
  const bob = seedFor('bob');
  const carol = seedFor('carol');
  const K = seedFor('K');

  it('opens for its reader only', () => {
    const w = wrapKey(K, primaryFromSeed(bob));
    expect(w.ct).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(w.epk).toMatch(/^[0-9a-f]{64}$/);
    expect(w.nonce).toMatch(/^[0-9a-f]{24}$/);
    expect(unwrapKey(bob, w)).toEqual(K);
    expect(unwrapKey(carol, w)).toBeNull();
    expect(unwrapKey(bob, { ...w, ct: w.ct.slice(0, -2) + (w.ct.endsWith('AA') ? 'AQ' : 'AA') })).toBeNull();
    expect(unwrapKey(bob, { ...w, epk: 'zz' })).toBeNull();
  });

  it('is deterministic with a fixed ephemeral secret and nonce', () => {
    const opts = { ephemeralSecret: seedFor('e'), nonce: new Uint8Array(12).fill(7) };
    expect(wrapKey(K, primaryFromSeed(bob), opts)).toEqual(wrapKey(K, primaryFromSeed(bob), opts));
  });

  it('wraps for the owner and every contact, shuffled, skipping non-keys', () => {
    const wraps = wrapForAll(K, primaryFromSeed(alice), [primaryFromSeed(bob), primaryFromSeed(alice), 'ed25519:nope']);
    expect(wraps).toHaveLength(2);
    expect(findKey(alice, wraps)).toEqual(K);
    expect(findKey(bob, wraps)).toEqual(K);
    expect(findKey(carol, wraps)).toBeNull();
  });
});

describe('RGB PNG encoder', () => {
  it('writes 8-bit RGB (colour type 2) whose IDAT inflates to the filtered rows', async () => {
    const { encodeRgbPng, toBase64 } = await import('../src/lib/profile/png');
    const rgb = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i * 7);
    const png = await encodeRgbPng(rgb, 3, 2);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const v = new DataView(png.buffer, png.byteOffset);
    expect([v.getUint32(16), v.getUint32(20), png[24], png[25]]).toEqual([3, 2, 8, 2]);
    const idatLen = v.getUint32(33);
    expect(new TextDecoder().decode(png.subarray(37, 41))).toBe('IDAT');
    const inflated = new Uint8Array(
      await new Response(new Blob([png.slice(41, 41 + idatLen)]).stream().pipeThrough(new DecompressionStream('deflate'))).arrayBuffer(),
    );
    expect([...inflated]).toEqual([0, ...rgb.subarray(0, 9), 0, ...rgb.subarray(9)]);
    expect(toBase64(Uint8Array.of(0xff, 0xd8, 0xff))).toBe('/9j/');
    // Nothing but IHDR, IDAT, IEND: no colour-space chunk (SPEC §14.2).
    expect(new TextDecoder().decode(png.subarray(41 + idatLen + 8, 41 + idatLen + 12))).toBe('IEND');
    expect(png.length).toBe(41 + idatLen + 4 + 12);
  });

  it('decodes the exact samples back, drops alpha, and refuses what no scrambler writes', async () => {
    const { decodeRgbPng, encodeRgbPng, fromBase64, toBase64 } = await import('../src/lib/profile/png');
    const { encode } = await import('fast-png');
    const rgb = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 97) & 0xff);
    const png = encodeRgbPng(rgb, 5, 4);
    expect(decodeRgbPng(png, 20)).toEqual({ rgb, width: 5, height: 4 });
    expect(fromBase64(toBase64(png))).toEqual(png);
    expect(fromBase64('not base64!')).toBeNull();
    // Bounded from IHDR before inflating.
    expect(decodeRgbPng(png, 19)).toBeNull();
    // A canvas-style RGBA PNG: alpha ignored.
    const rgba = Uint8Array.from({ length: 5 * 4 * 4 }, (_, i) => (i % 4 === 3 ? 255 : rgb[Math.floor(i / 4) * 3 + (i % 4)]));
    expect(decodeRgbPng(encode({ width: 5, height: 4, data: rgba, channels: 4, depth: 8 }), 20)?.rgb).toEqual(rgb);
    // A gAMA chunk (inserted after IHDR) changes nothing: no colour management.
    const gama = Uint8Array.of(0, 0, 0, 4, 0x67, 0x41, 0x4d, 0x41, 0, 0, 0xb1, 0x8f, 0x0b, 0xfc, 0x61, 0x05);
    const withGama = new Uint8Array([...png.subarray(0, 33), ...gama, ...png.subarray(33)]);
    expect(decodeRgbPng(withGama, 20)?.rgb).toEqual(rgb);
    // 16-bit, greyscale, a flipped byte (CRC) and not a PNG at all.
    expect(decodeRgbPng(encode({ width: 2, height: 1, data: Uint16Array.of(1, 2, 3, 4, 5, 6), channels: 3, depth: 16 }), 20)).toBeNull();
    expect(decodeRgbPng(encode({ width: 2, height: 1, data: Uint8Array.of(1, 2), channels: 1, depth: 8 }), 20)).toBeNull();
    const flipped = png.slice();
    flipped[45] ^= 1;
    expect(decodeRgbPng(flipped, 20)).toBeNull();
    expect(decodeRgbPng(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0), 20)).toBeNull();
  });
});
