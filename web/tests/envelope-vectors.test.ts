// Checks tests/vectors/envelope-v2.json (shared with the Rust server).
import { describe, expect, it } from 'vitest';
import { jcs } from '../src/lib/jcs';
import { EnvelopeError, openEnvelope, sealEnvelope, signMessage, ackSignedString } from '../src/lib/envelope';
import { primaryFromSeed } from '../src/lib/identity';
import { hexSeed, loadJson, vectorPath } from './helpers';
import { fromHex } from '../src/lib/bytes';

const doc = loadJson(vectorPath('envelope-v2.json'));

describe('envelope-v2.json', () => {
  it('exists and has the required cases', () => {
    expect(doc).not.toBeNull();
    const names = doc.cases.map((c: any) => c.name);
    expect(doc.cases.length).toBeGreaterThanOrEqual(3);
    for (const n of ['text_unicode', 'ack', 'wrong_recipient_inner_to', 'tampered_ct', 'bad_inner_sig', 'stale_sent_at'])
      expect(names).toContain(n);
  });

  for (const c of doc?.cases ?? []) {
    describe(c.name, () => {
      it('seeds match the primaries', () => {
        expect(primaryFromSeed(hexSeed(c.sender_seed))).toBe(c.sender_primary);
        expect(primaryFromSeed(hexSeed(c.recipient_seed))).toBe(c.recipient_primary);
        expect(primaryFromSeed(hexSeed(c.open_with_seed))).toBe(c.open_with_primary);
      });

      it('JCS texts match', () => {
        expect(jcs(c.sealed_message)).toBe(c.sealed_message_jcs);
        const { sig: _sig, ...unsigned } = c.sealed_message;
        expect(jcs(unsigned)).toBe(c.signing_input_jcs);
        if (c.sealed_message.kind === 'ack') expect(ackSignedString(c.sealed_message.body)).toBe(c.ack_signing_input);
      });

      it('re-sealing gives identical bytes', () => {
        const env = sealEnvelope(c.sealed_message, c.recipient_primary, {
          ephemeralSecret: fromHex(c.ephemeral_secret, 32),
          nonce: fromHex(c.nonce, 12),
        });
        expect(env).toEqual(c.envelope);
        expect(jcs(env)).toBe(c.envelope_json);
        expect(env.epk).toBe(c.intermediate.epk);
      });

      if (c.expected.verdict === 'accept') {
        it('signing is deterministic (re-signing reproduces sig)', () => {
          const m = c.sealed_message;
          const again = signMessage(hexSeed(c.sender_seed), {
            kind: m.kind,
            id: m.id,
            from_handle: m.from_handle,
            to: m.to,
            sent_at: m.sent_at,
            body: m.body,
          });
          expect(again).toEqual(m);
        });
      }

      it(`open → ${c.expected.verdict}${c.expected.error ? ` (${c.expected.error})` : ''}`, () => {
        const run = () =>
          openEnvelope(hexSeed(c.open_with_seed), c.open_input ?? c.envelope, {
            now: new Date(c.now),
            seen: (id) => c.seen_ids.includes(id),
          });
        if (c.expected.verdict === 'accept') {
          expect(run()).toEqual(c.sealed_message);
        } else {
          let err: unknown;
          try {
            run();
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(EnvelopeError);
          expect((err as EnvelopeError).code).toBe(c.expected.error);
        }
      });
    });
  }
});
