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

/** What every vector file's sealed case carries (ops.json has no more than this). */
export type SealedBase = Pick<SealedCase, 'name' | 'recipient_seed' | 'ephemeral_secret' | 'nonce' | 'envelope' | 'now' | 'verdict'>;

/** `openEnvelope`'s verdict on the case's envelope: 'ok' or the EnvelopeError code. */
export function openVerdict(s: SealedBase): string {
  try {
    openEnvelope(fromHex(s.recipient_seed, 32), s.envelope, { now: new Date(s.now) });
    return 'ok';
  } catch (e) {
    if (!(e instanceof EnvelopeError)) throw e;
    return e.code;
  }
}

/** `message` sealed to `to` with the case's ephemeral secret and nonce (deterministic). */
export function resealed(s: SealedBase, message: Parameters<typeof sealEnvelope>[0], to: string): unknown {
  return sealEnvelope(message, to, { ephemeralSecret: fromHex(s.ephemeral_secret, 32), nonce: fromHex(s.nonce, 12) });
}

export function checkSealedCase(s: SealedCase): void {
  expect(jcs(s.sealed_message), s.name).toBe(s.plaintext);
  const rx = primaryFromSeed(fromHex(s.recipient_seed, 32));
  expect(resealed(s, s.sealed_message, rx), s.name).toEqual(s.envelope);
  expect(openVerdict(s), s.name).toBe(s.verdict);
  if (s.verdict === 'ok') {
    const m = s.sealed_message;
    const again = signMessage(fromHex(s.sender_seed, 32), {
      kind: m.kind, id: m.id, from_handle: m.from_handle, to: m.to, sent_at: m.sent_at, body: m.body,
    } as Parameters<typeof signMessage>[1]);
    expect(again, s.name).toEqual(m);
  }
}
