// tests/vectors/registration.json, tests/vectors/signed-strings.json and
// tests/data/jcs/cases.json — produced by the Rust side; checked here too.
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { bytesToHex, fromHex, utf8ToBytes } from '../src/lib/bytes';
import { jcs, UnsafeNumberError } from '../src/lib/jcs';
import { primaryFromSeed, signJcs, signString, verifyJcs, verifyString } from '../src/lib/identity';
import { checkRegistration, type RegistrationEnvelope } from '../src/lib/registration';
import { pollSignedString, releaseSignedString, streamSignedString } from '../src/lib/auth';
import { loadJson, REPO, vectorPath } from './helpers';
import { resolve } from 'node:path';

const reg = loadJson(vectorPath('registration.json'));
const strings = loadJson(vectorPath('signed-strings.json'));
const jcsCases = loadJson(resolve(REPO, 'tests/data/jcs/cases.json'));

describe.skipIf(!reg)('registration.json', () => {
  for (const v of reg?.vectors ?? []) {
    it(`${v.name} → ${v.verdict}`, () => {
      const seed = fromHex(v.seed_hex, 32);
      expect(primaryFromSeed(seed)).toBe(v.primary);
      const text = jcs(v.payload);
      expect(text).toBe(v.jcs);
      expect(bytesToHex(utf8ToBytes(text))).toBe(v.jcs_hex);
      expect(jcs(v.envelope.payload) === v.jcs).toBe(v.signature_valid);
      expect(v.envelope.signature.sig).toBe(v.signature);
      // Ed25519 is deterministic: signing the vector's JCS gives the same bytes.
      expect(signString(seed, v.jcs)).toBe(v.signature);
      expect(verifyJcs(v.signature, v.envelope.payload, v.envelope.signature.key)).toBe(v.signature_valid);
      if (v.signature_valid) expect(signJcs(seed, v.envelope.payload)).toBe(v.signature);
      expect(checkRegistration(v.envelope as RegistrationEnvelope, reg.server, new Date(reg.now))).toBe(v.verdict);
    });
  }
});

describe.skipIf(!strings)('signed-strings.json', () => {
  for (const v of strings?.vectors ?? []) {
    it(v.name, () => {
      const seed = fromHex(v.seed_hex, 32);
      expect(primaryFromSeed(seed)).toBe(v.primary);
      const m = /^kez\.chat\.req\.v2\n([^\n]+)\n(GET|DELETE)\n\/v1\/inbox\/([^/\n]+)(\/stream)?\n(?:(since|through)=(\d+)\n)?(\d+)$/.exec(v.string);
      expect(m, 'recognised signed string').not.toBeNull();
      const [, server, method, handle, stream, , n, ts] = m!;
      expect(server).toBe(v.server);
      expect(handle).toBe(v.handle);
      expect(Number(ts)).toBe(v.ts);
      const built =
        method === 'DELETE'
          ? releaseSignedString(server, handle, Number(n), v.ts)
          : stream
            ? streamSignedString(server, handle, v.ts)
            : pollSignedString(server, handle, Number(n), v.ts);
      expect(built).toBe(v.string);
      expect(signString(seed, v.string)).toBe(v.signature);
      expect(verifyString(v.signature, v.string, v.primary)).toBe(true);
      expect(`${v.ts}:${v.signature}`).toBe(v.header);
    });
  }
});

describe.skipIf(!jcsCases)('tests/data/jcs/cases.json', () => {
  for (const c of jcsCases?.cases ?? []) {
    it(c.name, () => {
      const value = JSON.parse(c.input);
      expect(canonicalize(value)).toBe(c.output);
      // Our signing wrapper refuses floats / unsafe integers instead (SPEC §2).
      let ours: string | null = null;
      try {
        ours = jcs(value);
      } catch (e) {
        expect(e).toBeInstanceOf(UnsafeNumberError);
      }
      if (ours !== null) expect(ours).toBe(c.output);
    });
  }

  it('numbers', () => {
    for (const n of jcsCases?.numbers ?? []) {
      const view = new DataView(fromHex(n.ieee_hex, 8).buffer);
      expect(canonicalize(view.getFloat64(0)), n.ieee_hex).toBe(n.output);
    }
  });
});
