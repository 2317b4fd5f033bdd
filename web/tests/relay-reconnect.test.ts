// Review r11 #1 against the REAL relay (tests/real-relay.ts): with nostr-tools
// 2.25 a publish while the relay is down makes SimplePool forget that relay
// in listConnectionStatus(), although its relay object reconnects and keeps
// the subscription. The transport must see the relay connected again once it
// is back (which is what makes the chat retry its failed sends), and events
// must flow both ways.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useWebSocketImplementation } from 'nostr-tools/pool';
import type { Event } from 'nostr-tools/pure';
import { buildMessageEvent } from '../src/lib/nostr/events';
import { addr } from '../src/lib/nostr/keys';
import { NostrTransport, PublishError } from '../src/lib/nostr/transport';
import { NO_RELAY, RealRelay, until } from './real-relay';

const ME = addr('ed25519:' + '44'.repeat(32));
const now = () => Math.floor(Date.now() / 1000);

describe.skipIf(NO_RELAY)('relay restart on a real relay', () => {
  const relay = new RealRelay();
  beforeAll(async () => {
    useWebSocketImplementation(WebSocket);
    await relay.start();
  }, 60_000);
  afterAll(() => relay.cleanup(), 30_000);

  it('kill, publish (refused), restart: connected again and events flow', async () => {
    // The production pools (SimplePool with reconnect and ping).
    const t = new NostrTransport({ relays: [relay.url], stateEveryMs: 100 });
    const got: Event[] = [];
    t.subscribe(ME, now(), (e) => got.push(e));
    expect(await until(() => t.connected === 1, 20_000)).toBe(true);

    await relay.kill();
    expect(await until(() => t.connected === 0, 20_000)).toBe(true);
    const failed = await t.publish(buildMessageEvent({ v: 2, ct: 'while down' }, ME, now())).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(PublishError);

    await relay.start();
    // nostr-tools reconnects after 10 s (its first backoff step).
    expect(await until(() => t.connected === 1, 40_000)).toBe(true);
    const ev = buildMessageEvent({ v: 2, ct: 'after restart' }, ME, now());
    expect(await t.publish(ev)).toEqual({ relay: relay.url });
    expect(await until(() => got.some((e) => e.id === ev.id), 20_000)).toBe(true);
    t.close();
  }, 120_000);
});
