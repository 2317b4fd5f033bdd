// Checks tests/vectors/nostr.json (SPEC §12, shared with the Rust core).
import { describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { verifyEvent } from 'nostr-tools/pure';
import { addr, nostrPublicKey, nostrSecretKey } from '../src/lib/nostr/keys';
import {
  KIND_ACK,
  KIND_MESSAGE,
  LOOKBACK_SECS,
  MAX_FUTURE_SECS,
  buildAckEvent,
  buildMessageEvent,
  eventId,
  isFresh,
  verifyKezEvent,
} from '../src/lib/nostr/events';
import { primaryFromSeed } from '../src/lib/identity';
import { bytesToHex, fromHex } from '../src/lib/bytes';
import { hexSeed, loadJson, vectorPath } from './helpers';

const doc = loadJson(vectorPath('nostr.json'));
const envelopes = loadJson(vectorPath('envelope-v2.json'));

describe('nostr.json', () => {
  it('exists, with the SPEC constants', () => {
    expect(doc).not.toBeNull();
    expect(doc.kinds).toEqual({ message: KIND_MESSAGE, ack: KIND_ACK });
    expect(doc.max_future_secs).toBe(MAX_FUTURE_SECS);
    expect(doc.lookback_secs).toBe(LOOKBACK_SECS);
    expect(doc.keys.length).toBeGreaterThanOrEqual(4);
    expect(doc.events.map((e: any) => e.event.kind)).toEqual([KIND_MESSAGE, KIND_ACK]);
  });

  it('derives primary, addr and nostr keys from each seed', () => {
    for (const k of doc.keys) {
      const seed = hexSeed(k.seed);
      expect(primaryFromSeed(seed)).toBe(k.primary);
      expect(addr(k.primary)).toBe(k.addr);
      const sk = nostrSecretKey(seed);
      expect(bytesToHex(sk)).toBe(k.nostr_secret_key);
      expect(nostrPublicKey(sk)).toBe(k.nostr_public_key);
    }
  });

  it('computes the addr of each primary', () => {
    for (const a of doc.addrs) expect(addr(a.primary)).toBe(a.addr);
  });

  for (const e of doc?.events ?? []) {
    it(`builds the ${e.name} event`, () => {
      const c = envelopes.cases.find((x: any) => x.name === e.envelope_case);
      const want = e.event;
      const build = want.kind === KIND_MESSAGE ? buildMessageEvent : buildAckEvent;
      const got = build(c.envelope, addr(e.route_to_primary), want.created_at, fromHex(e.one_time_secret, 32));
      expect(got.content).toBe(c.envelope_json);
      expect(JSON.stringify([0, got.pubkey, got.created_at, got.kind, got.tags, got.content])).toBe(e.serialized);
      // nostr-tools signs with random aux: same id and key, a different but valid signature.
      expect({ ...got, sig: '' }).toEqual({ ...want, sig: '' });
      expect(verifyEvent({ ...got })).toBe(true);
      expect(eventId(want)).toBe(want.id);
      // The vector's signature is BIP-340 with all-zero aux randomness.
      const sig = schnorr.sign(fromHex(want.id, 32), fromHex(e.one_time_secret, 32), fromHex(e.aux_rand, 32));
      expect(bytesToHex(sig)).toBe(want.sig);
      expect(verifyKezEvent(want, want.created_at)).toEqual({ ok: true, addr: addr(e.route_to_primary) });
    });
  }

  it('draws a fresh one-time key per event, never the derived key', () => {
    const c = envelopes.cases[0];
    const to = addr(c.recipient_primary);
    const a = buildMessageEvent(c.envelope, to, 1_779_678_030);
    const b = buildMessageEvent(c.envelope, to, 1_779_678_030);
    expect(a.pubkey).not.toBe(b.pubkey);
    expect(a.pubkey).not.toBe(nostrPublicKey(nostrSecretKey(hexSeed(c.sender_seed))));
    expect(verifyKezEvent(a, 1_779_678_030).ok).toBe(true);
  });

  for (const c of doc?.checks ?? []) {
    it(`check ${c.name}`, () => {
      expect(verifyKezEvent(structuredClone(c.event), c.now)).toEqual(c.expected);
    });
  }

  it('freshness cases', () => {
    for (const f of doc.freshness) expect(isFresh(f.created_at, f.now)).toBe(f.fresh);
  });
});
