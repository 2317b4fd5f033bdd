// Read receipts and typing over nostr (SPEC §8.6) against the REAL relay
// (tests/real-relay.ts): a kind 24244 event reaches a live subscription of
// the recipient's addr. NIP-01 says relays keep no event of kinds
// 20000-29999, but nostr-relay 1.14 stores them like any other: so ours
// expire 60 s after created_at (NIP-40), and an old typing is not shown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useWebSocketImplementation } from 'nostr-tools/pool';
import type { Event } from 'nostr-tools/pure';
import { buildKezEvent, buildMessageEvent, EPHEMERAL_TTL_SECS, KIND_EPHEMERAL } from '../src/lib/nostr/events';
import { addr } from '../src/lib/nostr/keys';
import { NostrTransport } from '../src/lib/nostr/transport';
import { NO_RELAY, RealRelay, until } from './real-relay';

const ME = addr('ed25519:' + '55'.repeat(32));
const now = () => Math.floor(Date.now() / 1000);

describe.skipIf(NO_RELAY)('ephemeral kind 24244 on a real relay', () => {
  const relay = new RealRelay();
  beforeAll(async () => {
    useWebSocketImplementation(WebSocket);
    await relay.start();
  }, 60_000);
  afterAll(() => relay.cleanup(), 30_000);

  it('is delivered live and never stored', async () => {
    const t = new NostrTransport({ relays: [relay.url], stateEveryMs: 100 });
    const got: Event[] = [];
    t.subscribe(ME, now(), (e) => got.push(e));
    expect(await until(() => t.connected === 1, 20_000)).toBe(true);
    const live = buildKezEvent(KIND_EPHEMERAL, { v: 2, ct: 'typing' }, ME, now());
    expect(await t.publish(live)).toEqual({ relay: relay.url });
    expect(await until(() => got.some((e) => e.id === live.id), 20_000)).toBe(true);
    // Control: a stored kind is found by a later query, the ephemeral one is not.
    const stored = buildMessageEvent({ v: 2, ct: 'stored' }, ME, now());
    await t.publish(stored);
    expect(await until(() => got.some((e) => e.id === stored.id), 20_000)).toBe(true);
    const kept = await t.query({ kinds: [KIND_EPHEMERAL, 4243], authors: [live.pubkey, stored.pubkey] });
    expect(kept.map((e) => e.id)).toContain(stored.id);
    // Whatever the relay kept of the ephemeral one expires within a minute.
    for (const e of kept.filter((k) => k.kind === KIND_EPHEMERAL))
      expect(Number(e.tags.find((tag) => tag[0] === 'expiration')?.[1])).toBeLessThanOrEqual(e.created_at + EPHEMERAL_TTL_SECS);
    t.close();
  }, 90_000);
});
