import { describe, expect, it } from 'vitest';
import { pollAuth, pollSignedString, streamAuth, streamSignedString } from '../src/lib/auth';
import { primaryFromSeed, verifyJcs, verifyString } from '../src/lib/identity';
import { buildRegistration, handleProblem, isValidHandleSyntax, RESERVED_HANDLES } from '../src/lib/registration';
import { rfc3339 } from '../src/lib/time';
import { friendly } from '../src/lib/api';
import { seedFor } from './helpers';

const seed = seedFor('protocol');
const primary = primaryFromSeed(seed);

describe('registration envelope', () => {
  it('has exactly the SPEC §4 shape and a valid signature', () => {
    const env = buildRegistration(seed, 'alice', 'kez.test', new Date('2026-05-25T03:00:00.789Z'));
    expect(Object.keys(env).sort()).toEqual(['kez', 'payload', 'signature']);
    expect(env.kez).toBe('handle_registration');
    expect(env.payload).toEqual({
      type: 'kez.chat.handle_registration',
      version: 1,
      handle: 'alice',
      primary,
      server: 'kez.test',
      created_at: '2026-05-25T03:00:00Z',
    });
    expect(env.signature.alg).toBe('ed25519-sha512-jcs');
    expect(env.signature.key).toBe(primary);
    expect(env.signature.sig).toMatch(/^[0-9a-f]{128}$/);
    expect(verifyJcs(env.signature.sig, env.payload, primary)).toBe(true);
  });

  it('formats created_at as whole seconds with Z', () => {
    expect(rfc3339(new Date('2026-01-02T03:04:05.999Z'))).toBe('2026-01-02T03:04:05Z');
  });

  it('validates handles like the server', () => {
    for (const ok of ['abc', 'a_b-c', '0day', 'x'.repeat(32)]) expect(isValidHandleSyntax(ok), ok).toBe(true);
    for (const bad of ['ab', '_abc', '-abc', 'Alice', 'a.b', 'x'.repeat(33), 'ali ce', 'émile'])
      expect(isValidHandleSyntax(bad), bad).toBe(false);
    expect(RESERVED_HANDLES.size).toBe(36);
    expect(handleProblem('admin')).toMatch(/reserved/);
    expect(handleProblem('Alice')).toMatch(/lower case.*alice/);
    expect(handleProblem('ab')).toMatch(/at least 3/);
    expect(handleProblem('_ab')).toMatch(/Start/);
    expect(handleProblem('a.bc')).toMatch(/Use only/);
    expect(handleProblem('alice')).toBeNull();
  });

  it('has a friendly sentence for every SPEC §4 error code', () => {
    const codes = `unsupported_media_type payload_too_large invalid_json unsafe_number invalid_body wrong_envelope_tag
      wrong_payload_type unsupported_version key_mismatch unsupported_alg invalid_key invalid_signature wrong_server
      invalid_handle reserved_handle invalid_timestamp stale_timestamp handle_taken primary_taken rate_limited`.split(/\s+/);
    for (const c of codes) {
      const s = friendly(c, 422);
      expect(s, c).not.toContain(c);
      expect(s, c).toMatch(/\.$/);
    }
    expect(friendly('brand_new_code', 400)).toContain('brand_new_code');
  });

  it('says what a 503 database_unavailable (SPEC §7.6, §11.2) means, not only "a problem"', () => {
    expect(friendly('database_unavailable', 503)).toMatch(/database.*Try again/);
    expect(friendly('database_unavailable', 503)).not.toBe(friendly('internal', 500));
  });
});

describe('X-Kez-Auth signed strings', () => {
  it('builds the SPEC §7.2 strings', () => {
    const head = 'kez.chat.req.v2\nkez.lat\n';
    expect(pollSignedString('kez.lat', 'alice', 0, 1748142000)).toBe(`${head}GET\n/v1/inbox/alice\nsince=0\n1748142000`);
    expect(pollSignedString('kez.lat', 'alice', 42, 1748142000)).toBe(`${head}GET\n/v1/inbox/alice\nsince=42\n1748142000`);
    expect(streamSignedString('kez.lat', 'alice', 1748142000)).toBe(`${head}GET\n/v1/inbox/alice/stream\n1748142000`);
  });

  it('signs them with the primary, for one server only', () => {
    const now = new Date('2025-05-25T03:00:00Z');
    const [ts, sig] = pollAuth(seed, 'kez.lat', 'alice', 7, now).split(':');
    expect(ts).toBe(String(now.getTime() / 1000));
    expect(verifyString(sig, pollSignedString('kez.lat', 'alice', 7, Number(ts)), primary)).toBe(true);
    expect(verifyString(sig, streamSignedString('kez.lat', 'alice', Number(ts)), primary)).toBe(false);
    expect(verifyString(sig, pollSignedString('other.example', 'alice', 7, Number(ts)), primary)).toBe(false);
    const [ts2, sig2] = streamAuth(seed, 'kez.lat', 'alice', now).split(':');
    expect(verifyString(sig2, streamSignedString('kez.lat', 'alice', Number(ts2)), primary)).toBe(true);
    expect(verifyString(sig2, streamSignedString('other.example', 'alice', Number(ts2)), primary)).toBe(false);
  });
});
