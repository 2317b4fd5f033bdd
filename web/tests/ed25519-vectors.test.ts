// tests/vectors/ed25519-edge-cases.json: the ed25519-speccheck cases and the
// Wycheproof Ed25519 vectors with the verdicts SPEC §2 gives. The Rust side
// (tests/api/vectors.rs) checks the same file against the same `expected`.
import { describe, expect, it } from 'vitest';
import { fromHex } from '../src/lib/bytes';
import { parsePrimary, verifyStrict } from '../src/lib/identity';
import { loadJson, vectorPath } from './helpers';

interface Case {
  id: string;
  message_hex: string;
  public_key_hex: string;
  signature_hex: string;
  expected: 'accept' | 'reject';
  why: string;
}

const data = loadJson<{ cases: Case[] }>(vectorPath('ed25519-edge-cases.json'));

/** The web client's verdict: the key must parse as a primary, then verify. */
function verdict(c: Case): 'accept' | 'reject' {
  let pub: Uint8Array;
  try {
    pub = parsePrimary(`ed25519:${c.public_key_hex}`);
  } catch {
    return 'reject';
  }
  return verifyStrict(c.signature_hex, fromHex(c.message_hex), pub) ? 'accept' : 'reject';
}

describe('ed25519-edge-cases.json', () => {
  it('is present and holds the ten speccheck cases and both verdicts', () => {
    expect(data).not.toBeNull();
    const ids = data!.cases.map((c) => c.id);
    for (let i = 0; i < 10; i++) expect(ids).toContain(`speccheck-${i}`);
    expect(data!.cases.some((c) => c.expected === 'accept')).toBe(true);
  });
  for (const c of data?.cases ?? []) {
    it(`${c.id}: ${c.why} → ${c.expected}`, () => {
      expect(verdict(c)).toBe(c.expected);
    });
  }
  it('rejects mixed-order keys even with the raw-bytes entry point', () => {
    const c = data!.cases.find((x) => x.id === 'speccheck-4')!;
    expect(verifyStrict(c.signature_hex, fromHex(c.message_hex), fromHex(c.public_key_hex, 32))).toBe(false);
  });
});
