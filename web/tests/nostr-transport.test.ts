import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildMessageEvent, LOOKBACK_SECS } from '../src/lib/nostr/events';
import { addr } from '../src/lib/nostr/keys';
import { BoundedSet, NostrTransport, PublishError, relayLabel, subscribeSince, OVERLAP_SECS } from '../src/lib/nostr/transport';
import { FakeRelays } from './nostr-fake';
import type { Event } from 'nostr-tools/pure';

const A = 'wss://relay.a';
const B = 'wss://relay.b';
const me = addr('ed25519:' + '11'.repeat(32));
const other = addr('ed25519:' + '22'.repeat(32));
const NOW = 1_780_000_000;
const env = (n: number) => ({ v: 2, ct: 'x' + n, epk: 'e', nonce: 'n' });

function make(net: FakeRelays, now = () => NOW) {
  const states: Record<string, string>[] = [];
  const t = new NostrTransport({ relays: net.urls, pool: net.pool(), now, stateEveryMs: 0, resubscribeMs: 5, onState: (s) => states.push(s) });
  return { t, states };
}

afterEach(() => vi.useRealTimers());

describe('NostrTransport', () => {
  it('publishes to every relay and resolves with the first OK', async () => {
    const net = new FakeRelays([A, B]);
    net.setDown(A, true);
    const { t } = make(net);
    const r = await t.publish(buildMessageEvent(env(1), other, NOW));
    expect(r.relay).toBe(B);
    expect(relayLabel(r.relay)).toBe('relay.b');
    expect(net.stored.get(B)!.length).toBe(1);
  });

  it('rejects when no relay says OK true', async () => {
    const net = new FakeRelays([A, B]);
    net.setDown(A, true);
    net.refusing.add(B);
    const { t } = make(net);
    await expect(t.publish(buildMessageEvent(env(1), other, NOW))).rejects.toBeInstanceOf(PublishError);
  });

  it('subscribes on all relays, verifies, drops repeats and events for other addrs', async () => {
    const net = new FakeRelays([A, B]);
    const { t } = make(net);
    const got: [Event, string][] = [];
    t.subscribe(me, 0, (e, r) => got.push([e, r]));
    expect(net.subs.map((s) => s.filter['#q'])).toEqual([[me], [me]]);
    expect(net.subs[0].filter.kinds).toEqual([4243, 4244, 24244]);
    const ev = buildMessageEvent(env(1), me, NOW);
    net.inject(A, ev);
    net.inject(B, ev); // the same event from a second relay
    const forged = { ...buildMessageEvent(env(2), me, NOW) };
    forged.sig = forged.sig.replace(/^./, forged.sig[0] === '0' ? '1' : '0');
    net.inject(A, forged);
    net.inject(A, buildMessageEvent(env(3), me, NOW - LOOKBACK_SECS - 1)); // stale
    net.inject(A, buildMessageEvent(env(4), me, NOW + 301)); // future
    net.inject(A, { ...buildMessageEvent(env(5), me, NOW), kind: 1 }); // wrong kind
    // A relay that ignores the filter: an event for someone else.
    const s = net.subs[0];
    s.onevent(buildMessageEvent(env(6), other, NOW));
    expect(got.map(([e, r]) => [e.id, r])).toEqual([[ev.id, A]]);
    expect(t.lastSeen).toBe(NOW);
  });

  it('since = last seen − overlap, never more than 48 h back', () => {
    expect(subscribeSince(NOW - 100, NOW)).toBe(NOW - 100 - OVERLAP_SECS);
    expect(subscribeSince(NOW - 10 * LOOKBACK_SECS, NOW)).toBe(NOW - LOOKBACK_SECS);
    const net = new FakeRelays([A]);
    const { t } = make(net);
    t.subscribe(me, NOW - 1000, () => {});
    expect(net.subs[0].filter.since).toBe(NOW - 1000 - OVERLAP_SECS);
  });

  it('re-subscribes on a relay that went down, from the last seen event', async () => {
    const net = new FakeRelays([A, B]);
    const { t, states } = make(net);
    const got: string[] = [];
    t.subscribe(me, NOW - 50, (e) => got.push(e.id));
    const first = buildMessageEvent(env(1), me, NOW);
    net.inject(A, first);
    net.setDown(A, true);
    expect(states.at(-1)![A]).toBe('disconnected');
    net.setDown(A, false);
    await new Promise((r) => setTimeout(r, 30));
    const again = net.subs.filter((s) => s.relay === A && s.open);
    expect(again.length).toBe(1);
    expect(again[0].filter.since).toBe(NOW - OVERLAP_SECS);
    const second = buildMessageEvent(env(2), me, NOW);
    net.inject(A, second);
    expect(got).toEqual([first.id, second.id]); // first re-sent by the relay: dropped
    t.refreshStates();
    expect(t.connected).toBe(2);
    t.close();
  });

  it('a re-subscription the relay took (EOSE) resets the backoff (review r11 #14)', async () => {
    vi.useFakeTimers();
    const net = new FakeRelays([A]);
    const t = new NostrTransport({ relays: [A], pool: net.pool(), now: () => NOW, stateEveryMs: 0, resubscribeMs: 100 });
    t.subscribe(me, NOW, () => {});
    const open = () => net.subs.filter((s) => s.open).length;
    for (let round = 0; round < 3; round++) {
      net.setDown(A, true);
      expect(open()).toBe(0);
      net.setDown(A, false);
      // Always the first step: each re-subscription was taken, with its EOSE.
      await vi.advanceTimersByTimeAsync(100);
      expect(open()).toBe(1);
    }
    t.close();
  });

  it('counts connected relays', () => {
    const net = new FakeRelays([A, B]);
    net.setDown(B, true);
    const { t } = make(net);
    t.refreshStates();
    expect(t.states).toEqual({ [A]: 'connected', [B]: 'disconnected' });
    expect(t.connected).toBe(1);
  });

  it('BoundedSet forgets the oldest id', () => {
    const s = new BoundedSet(2);
    s.add('a');
    s.add('b');
    s.add('c');
    expect([s.has('a'), s.has('b'), s.has('c'), s.size]).toEqual([false, true, true, 2]);
  });
});
