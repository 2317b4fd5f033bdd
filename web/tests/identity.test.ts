import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { bytesToHex, fromB64url, fromHex, newMessageId, toB64url, MESSAGE_ID_RE } from '../src/lib/bytes';
import {
  formatPrimary,
  isValidPrimary,
  parsePrimary,
  phraseToSeed,
  primaryFromSeed,
  seedToPhrase,
  signBytes,
  signJcs,
  verifyJcs,
  verifyStrict,
} from '../src/lib/identity';

// RFC 8032 §7.1 TEST 1 and TEST 2.
const T1 = {
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};
const T2 = {
  seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
  pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
  msg: '72',
  sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
};

describe('identity', () => {
  it('derives RFC 8032 keys and signatures', () => {
    expect(primaryFromSeed(fromHex(T1.seed))).toBe(`ed25519:${T1.pub}`);
    expect(signBytes(fromHex(T1.seed), new Uint8Array())).toBe(T1.sig);
    expect(signBytes(fromHex(T2.seed), fromHex(T2.msg))).toBe(T2.sig);
    expect(verifyStrict(T2.sig, fromHex(T2.msg), fromHex(T2.pub))).toBe(true);
    expect(verifyStrict(T2.sig, fromHex('73'), fromHex(T2.pub))).toBe(false);
  });

  it('parses primaries strictly', () => {
    expect(bytesToHex(parsePrimary(`ed25519:${T1.pub}`))).toBe(T1.pub);
    expect(isValidPrimary(`ed25519:${T1.pub.toUpperCase()}`)).toBe(false);
    expect(isValidPrimary(`Ed25519:${T1.pub}`)).toBe(false);
    expect(isValidPrimary(`x25519:${T1.pub}`)).toBe(false);
    expect(isValidPrimary(`ed25519:${T1.pub}00`)).toBe(false);
    expect(isValidPrimary(`ed25519:${T1.pub.slice(2)}`)).toBe(false);
    expect(isValidPrimary(` ed25519:${T1.pub}`)).toBe(false);
    // small-order points: identity (y = 1) and the order-2 point (y = -1)
    expect(isValidPrimary(`ed25519:01${'00'.repeat(31)}`)).toBe(false);
    expect(isValidPrimary(`ed25519:ec${'ff'.repeat(30)}7f`)).toBe(false);
    // a y with no x on the curve (y = 2) does not decompress
    expect(isValidPrimary(`ed25519:02${'00'.repeat(31)}`)).toBe(false);
    // non-canonical y (y = p + 1 ≡ 1 mod p): rejected
    expect(isValidPrimary(`ed25519:ee${'ff'.repeat(30)}7f`)).toBe(false);
  });

  it('verifies strictly: rejects S ≥ L and small-order R', () => {
    const seed = fromHex(T1.seed);
    const msg = new TextEncoder().encode('hello');
    const sig = fromHex(signBytes(seed, msg));
    const pub = fromHex(T1.pub);
    expect(verifyStrict(bytesToHex(sig), msg, pub)).toBe(true);
    // S + L: same scalar mod L, non-canonical encoding
    const L = ed25519.Point.Fn.ORDER;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
    let s2 = s + L;
    const bad = sig.slice();
    for (let i = 32; i < 64; i++) {
      bad[i] = Number(s2 & 0xffn);
      s2 >>= 8n;
    }
    expect(verifyStrict(bytesToHex(bad), msg, pub)).toBe(false);
    // R = identity point with S = 0 against A = identity would "verify" non-strictly
    const idPoint = fromHex(`01${'00'.repeat(31)}`);
    const zeroSig = bytesToHex(new Uint8Array([...idPoint, ...new Uint8Array(32)]));
    expect(verifyStrict(zeroSig, msg, idPoint)).toBe(false);
    expect(verifyStrict('zz', msg, pub)).toBe(false);
    expect(verifyStrict(bytesToHex(sig).toUpperCase(), msg, pub)).toBe(false);
  });

  it('signs JCS of objects', () => {
    const seed = fromHex(T1.seed);
    const obj = { b: 1, a: 'x' };
    const sig = signJcs(seed, obj);
    expect(verifyJcs(sig, { a: 'x', b: 1 }, `ed25519:${T1.pub}`)).toBe(true);
    expect(verifyJcs(sig, { a: 'y', b: 1 }, `ed25519:${T1.pub}`)).toBe(false);
  });

  it('round-trips the 24-word recovery phrase', () => {
    const seed = fromHex(T1.seed);
    const phrase = seedToPhrase(seed);
    expect(phrase.split(' ')).toHaveLength(24);
    expect(bytesToHex(phraseToSeed(`  ${phrase.toUpperCase().replace(/ /g, '\n ')}  `))).toBe(T1.seed);
    // BIP39 reference: all-zero entropy
    expect(seedToPhrase(new Uint8Array(32))).toBe(`${'abandon '.repeat(23)}art`);
  });

  it('explains bad phrases', () => {
    expect(() => phraseToSeed('abandon abandon')).toThrow(/24 words/);
    expect(() => phraseToSeed(`${'abandon '.repeat(23)}xyzzy`)).toThrow(/xyzzy/);
    expect(() => phraseToSeed(`${'abandon '.repeat(23)}abandon`)).toThrow(/checksum/);
  });

  it('encodes base64url without padding, strictly', () => {
    expect(toB64url(new Uint8Array([0xfb, 0xff]))).toBe('-_8');
    expect(bytesToHex(fromB64url('-_8'))).toBe('fbff');
    expect(() => fromB64url('-_8=')).toThrow();
    expect(() => fromB64url('+/8')).toThrow();
    expect(() => fromB64url('-_9')).toThrow(); // non-zero trailing bits
    expect(() => fromHex('AB')).toThrow();
    const id = newMessageId();
    expect(id).toHaveLength(22);
    expect(MESSAGE_ID_RE.test(id)).toBe(true);
    expect(formatPrimary(fromHex(T1.pub))).toBe(`ed25519:${T1.pub}`);
  });
});
