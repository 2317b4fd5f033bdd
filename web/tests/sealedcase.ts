// One case of a vector file's `sealed` list (SPEC §8), checked the way the
// Rust core's crates/kez-core/tests/common does: the plaintext is the JCS of
// the message, it seals to the recipient seed's identity byte for byte,
// openEnvelope gives the stated verdict, and an accepted one re-signs the same.
import { expect } from 'vitest';
import { fromHex } from '../src/lib/bytes';
import { EnvelopeError, openEnvelope, sealEnvelope, signMessage } from '../src/lib/envelope';
import { primaryFromSeed } from '../src/lib/identity';
import { jcs } from '../src/lib/jcs';

/** A `sealed` case as the generators write it (tests/vectors/{live,sync}.json). */
export interface SealedCase {
  name: string;
  sealed_message: Record<string, string>;
  plaintext: string;
  sender_seed: string;
  recipient_seed: string;
  ephemeral_secret: string;
  nonce: string;
  envelope: unknown;
  now: string;
  verdict: string;
}

export function checkSealedCase(s: SealedCase): void {
  expect(jcs(s.sealed_message), s.name).toBe(s.plaintext);
  const opts = { ephemeralSecret: fromHex(s.ephemeral_secret, 32), nonce: fromHex(s.nonce, 12) };
  const rx = primaryFromSeed(fromHex(s.recipient_seed, 32));
  expect(sealEnvelope(s.sealed_message, rx, opts), s.name).toEqual(s.envelope);
  let verdict = 'ok';
  try {
    openEnvelope(fromHex(s.recipient_seed, 32), s.envelope, { now: new Date(s.now) });
  } catch (e) {
    if (!(e instanceof EnvelopeError)) throw e;
    verdict = e.code;
  }
  expect(verdict, s.name).toBe(s.verdict);
  if (s.verdict === 'ok') {
    const m = s.sealed_message;
    const again = signMessage(fromHex(s.sender_seed, 32), {
      kind: m.kind, id: m.id, from_handle: m.from_handle, to: m.to, sent_at: m.sent_at, body: m.body,
    } as Parameters<typeof signMessage>[1]);
    expect(again, s.name).toEqual(m);
  }
}
