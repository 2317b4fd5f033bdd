// Independent re-derivation of the envelope vectors with node:crypto (OpenSSL):
// X25519, HKDF-SHA256, AES-256-GCM and Ed25519 — a second implementation
// agreeing with @noble on the same bytes.
import { createHash, createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromB64url, fromHex } from '../src/lib/bytes';
import { jcs } from '../src/lib/jcs';
import { loadJson, vectorPath } from './helpers';

const doc = loadJson(vectorPath('envelope-v2.json'));

const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const x25519Priv = (k: Uint8Array) => createPrivateKey({ key: Buffer.concat([X25519_PKCS8, k]), format: 'der', type: 'pkcs8' });
const x25519Pub = (k: Uint8Array) => createPublicKey({ key: Buffer.concat([X25519_SPKI, k]), format: 'der', type: 'spki' });
const edPub = (k: Uint8Array) => createPublicKey({ key: Buffer.concat([ED25519_SPKI, k]), format: 'der', type: 'spki' });

describe('envelope-v2 vectors vs node:crypto', () => {
  for (const c of (doc?.cases ?? []).filter((c: any) => !c.open_input)) {
    it(c.name, () => {
      const eph = fromHex(c.ephemeral_secret, 32);
      const rxPub = fromHex(c.intermediate.rx_pub, 32);
      const epk = createPublicKey(x25519Priv(eph)).export({ format: 'der', type: 'spki' }).subarray(12);
      expect(Buffer.from(epk).toString('hex')).toBe(c.envelope.epk);
      const shared = diffieHellman({ privateKey: x25519Priv(eph), publicKey: x25519Pub(rxPub) });
      expect(shared.toString('hex')).toBe(c.intermediate.shared);
      const key = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, rxPub]), 'kez.chat.envelope.v2', 32));
      expect(key.toString('hex')).toBe(c.intermediate.key);
      const aad = Buffer.from(`kez.chat.envelope.v2\n${c.envelope.epk}\n${c.recipient_primary}`);
      expect(aad.toString()).toBe(c.intermediate.aad);

      const ct = fromB64url(c.envelope.ct);
      const d = createDecipheriv('aes-256-gcm', key, fromHex(c.nonce, 12));
      d.setAAD(aad);
      d.setAuthTag(ct.subarray(ct.length - 16));
      const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString('utf8');
      expect(pt).toBe(c.sealed_message_jcs);

      const e = createCipheriv('aes-256-gcm', key, fromHex(c.nonce, 12));
      e.setAAD(aad);
      const again = Buffer.concat([e.update(pt, 'utf8'), e.final(), e.getAuthTag()]);
      expect(Buffer.from(again).toString('base64url')).toBe(c.envelope.ct);

      // The recipient side: its X25519 key pair from SHA-512(seed)[0..32] (OpenSSL clamps),
      // whose public half must equal the Edwards→Montgomery map of its primary.
      const rxSecret = createHash('sha512').update(fromHex(c.recipient_seed, 32)).digest().subarray(0, 32);
      const rxPubFromSeed = createPublicKey(x25519Priv(rxSecret)).export({ format: 'der', type: 'spki' }).subarray(12);
      expect(Buffer.from(rxPubFromSeed).toString('hex')).toBe(c.intermediate.rx_pub);
      expect(diffieHellman({ privateKey: x25519Priv(rxSecret), publicKey: x25519Pub(epk) }).toString('hex')).toBe(
        c.intermediate.shared,
      );

      // (A `from` that is no primary at all is refused before any signature check.)
      if (/^ed25519:[0-9a-f]{64}$/.test(c.sealed_message.from)) {
        const sigOk = verify(
          null,
          Buffer.from(c.signing_input_jcs),
          edPub(fromHex(c.sealed_message.from.slice(8), 32)),
          Buffer.from(c.sealed_message.sig, 'hex'),
        );
        // A self-copy (SPEC §8.3) also carries the original's signature (whose `from` the shape checks pin).
        const inner = c.sealed_message.kind === 'sent' ? JSON.parse(c.sealed_message.body).message : null;
        const innerOk =
          !inner ||
          (() => {
            const { sig, ...unsigned } = inner;
            const bytes = Buffer.from(jcs(unsigned));
            return verify(null, bytes, edPub(fromHex(inner.from.slice(8), 32)), Buffer.from(sig, 'hex'));
          })();
        expect(sigOk && innerOk).toBe(!['bad_signature'].includes(c.expected.error));
      } else {
        expect(c.expected.error).toBe('malformed_message');
      }
    });
  }
});
