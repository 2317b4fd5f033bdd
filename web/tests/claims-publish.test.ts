// What to publish where for a linked account (lib/claims-publish.ts via lib/claims.ts): the
// statement, the TXT strings, a pasted gist address, names checked as typed.
import { describe, expect, it } from 'vitest';
import { gistProof, nameProblem, placement, txtStrings, txtZoneLine } from '../src/lib/claims';
import { jcs } from '../src/lib/jcs';
import { buildProof, verifyProof } from '../src/lib/sigchain';
import { primary, seed, webClaim } from './claims-fixture';

describe('what to publish', () => {
  it('the statement shown is the one that verifies, for the claim', () => {
    const stmt = buildProof(seed, webClaim, '2026-05-25T03:00:00Z');
    const p = placement('https', 'alice.example', stmt);
    expect(p).toMatchObject({ service: 'https', url: 'https://alice.example/.well-known/kez-proof.txt' });
    expect(verifyProof(JSON.parse(p.content))).toMatchObject({ primary, service: 'https', name: 'alice.example' });
    expect(p.content).toBe(jcs(stmt));
  });

  it('splits a TXT record in ≤ 255-byte strings that join back, quoted for a zone file', () => {
    const text = jcs(buildProof(seed, { service: 'dns', name: 'alice.example', proof: 'dns:_kez.alice.example' }, '2026-05-25T03:00:00Z'));
    const parts = txtStrings(text);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((s) => new TextEncoder().encode(s).length <= 255)).toBe(true);
    expect(parts.join('')).toBe(text);
    const zone = txtZoneLine('alice.example', text);
    expect(zone.startsWith('_kez.alice.example. 300 IN TXT "{\\"kez\\":')).toBe(true);
    const unquoted = [...zone.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1')).join('');
    expect(unquoted).toBe(text);
    expect(txtStrings('é'.repeat(200)).map((s) => new TextEncoder().encode(s).length)).toEqual([254, 146]);
  });

  it('takes a pasted gist address and writes it under the claimed login', () => {
    const id = '0123456789abcdef0123456789abcdef';
    expect(gistProof('Alice-Kez', `https://gist.github.com/alice-kez/${id}`)).toEqual({ proof: `https://gist.github.com/Alice-Kez/${id}` });
    expect(gistProof('Alice-Kez', `gist.github.com/${id.toUpperCase()}/`)).toEqual({ proof: `https://gist.github.com/Alice-Kez/${id}` });
    expect(gistProof('Alice-Kez', id)).toEqual({ proof: `https://gist.github.com/Alice-Kez/${id}` });
    expect(gistProof('Alice-Kez', `https://gist.github.com/mallory/${id}`)).toMatchObject({ problem: expect.stringMatching(/names mallory/) });
    expect(gistProof('Alice-Kez', 'https://gist.github.com/alice-kez/123')).toHaveProperty('problem');
    expect(gistProof('Alice-Kez', 'https://evil.example/alice-kez/' + id)).toHaveProperty('problem');
  });

  it('checks names as typed, the way the server will', () => {
    expect(nameProblem('github', '@Octo-Cat')).toEqual({ name: 'Octo-Cat', problem: null });
    expect(nameProblem('github', 'octo--cat').problem).toMatch(/hyphen/);
    expect(nameProblem('https', ' Example.COM. ')).toEqual({ name: 'example.com', problem: null });
    expect(nameProblem('https', 'https://example.com/').problem).toMatch(/without https/);
    expect(nameProblem('dns', '10.0.0.1').problem).toMatch(/IP address/);
    expect(nameProblem('dns', 'localhost').problem).toMatch(/dot/);
    expect(nameProblem('dns', 'bücher.example').problem).toMatch(/punycode/);
    // _kez.<name> must fit in 253 characters: 248 is the longest DNS claim that can verify.
    const long = (n: number) => `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(n - 3 * 61 - 8)}.example`;
    expect(long(248).length).toBe(248);
    expect(nameProblem('dns', long(248)).problem).toBeNull();
    expect(nameProblem('dns', long(249)).problem).toMatch(/too long for a DNS proof/);
    expect(nameProblem('https', long(249)).problem).toBeNull();
  });
});
