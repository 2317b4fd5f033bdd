// Relay hygiene (SPEC §12): the pure decisions (NIP-11 limit, relay
// preference, kind 10002 / kind 0 / NIP-42 event building, checked with
// nostr-tools' verifyEvent) and the transport's use of them on a fake pool
// whose relays refuse until AUTH. The real relay's AUTH: tests/relay-auth.test.ts.
import { describe, expect, it } from 'vitest';
import { verifyEvent, type Event } from 'nostr-tools/pure';
import { announceOnce } from '../src/lib/nostr/announce';
import { buildMessageEvent } from '../src/lib/nostr/events';
import {
  buildAuthEvent,
  buildMetadataEvent,
  buildRelayListEvent,
  eventMessageBytes,
  maxMessageLength,
  minimalMetadata,
  preferFirst,
  relayInfoUrl,
  relaysFor,
  relaySetKey,
} from '../src/lib/nostr/hygiene';
import { addr, nostrPublicKey, nostrSecretKey } from '../src/lib/nostr/keys';
import { NostrTransport, PublishError, type PoolLike, type RelayLike } from '../src/lib/nostr/transport';
import { memoryKV } from '../src/lib/kv';
import { relayStatusText } from '../src/lib/transports';
import { aliceSeed } from './chat-fixture';

const A = 'wss://relay.a/';
const B = 'wss://relay.b/';
const NOW = 1_780_000_000;
const PRIMARY = 'ed25519:' + '11'.repeat(32);
const sk = nostrSecretKey(aliceSeed);
const pk = nostrPublicKey(sk);
const msg = (n = 0) => buildMessageEvent({ v: 2, ct: 'x'.repeat(n), epk: 'e', nonce: 'n' }, addr(PRIMARY), NOW);

describe('NIP-11', () => {
  it('reads the document from the relay URL over http(s)', () => {
    expect(relayInfoUrl('wss://relay.example/nostr')).toBe('https://relay.example/nostr');
    expect(relayInfoUrl('ws://127.0.0.1:7777')).toBe('http://127.0.0.1:7777/');
    expect(relayInfoUrl('https://relay.example')).toBeNull();
    expect(relayInfoUrl('nonsense')).toBeNull();
  });

  it('takes max_message_length only when it is a positive integer', () => {
    expect(maxMessageLength({ limitation: { max_message_length: 65536 } })).toBe(65536);
    for (const doc of [{}, null, 'x', { limitation: null }, { limitation: { max_message_length: '1' } }, { limitation: { max_message_length: 0 } }, { limitation: { max_message_length: 1.5 } }])
      expect(maxMessageLength(doc)).toBeNull();
  });

  it('skips a relay whose limit the ["EVENT", …] message exceeds, byte-exact, UTF-8', () => {
    const ev = msg(100);
    const size = eventMessageBytes(ev);
    expect(size).toBe(new TextEncoder().encode(JSON.stringify(['EVENT', ev])).length);
    const limits = new Map([
      [A, size],
      [B, size - 1],
    ]);
    expect(relaysFor(ev, [A, B, 'wss://c/'], limits)).toEqual({ fit: [A, 'wss://c/'], tooLarge: [B] });
    const wide = { ...ev, content: 'é' };
    expect(eventMessageBytes(wide)).toBe(new TextEncoder().encode(JSON.stringify(['EVENT', wide])).length);
  });
});

describe('relay preference', () => {
  it('puts the peer’s last relay first when it is one of ours', () => {
    expect(preferFirst([A, B], B)).toEqual([B, A]);
    expect(preferFirst([A, B], 'wss://gone/')).toEqual([A, B]);
    expect(preferFirst([A, B], undefined)).toEqual([A, B]);
  });
});

describe('events signed by the derived key', () => {
  it('kind 10002 lists each relay once', () => {
    const ev = buildRelayListEvent([A, B, A], sk, NOW);
    expect(verifyEvent(ev)).toBe(true);
    expect([ev.kind, ev.pubkey, ev.content, ev.tags]).toEqual([10002, pk, '', [['r', A], ['r', B]]]);
  });

  it('kind 0 carries JCS content and the own addr', () => {
    const ev = buildMetadataEvent(minimalMetadata('alice@kez.test'), PRIMARY, sk, NOW);
    expect(verifyEvent(ev)).toBe(true);
    expect([ev.kind, ev.pubkey, ev.content, ev.tags]).toEqual([0, pk, '{"name":"alice@kez.test"}', [['q', addr(PRIMARY)]]]);
  });

  it('NIP-42 AUTH answers the challenge for the relay', () => {
    const ev = buildAuthEvent(A, 'chal', sk, NOW);
    expect(verifyEvent(ev)).toBe(true);
    expect([ev.kind, ev.pubkey, ev.created_at]).toEqual([22242, pk, NOW]);
    expect(ev.tags).toEqual(expect.arrayContaining([['relay', A], ['challenge', 'chal']]));
  });
});

describe('announceOnce', () => {
  it('publishes once per relay set, again when it changes, never records a failure', async () => {
    const kv = memoryKV();
    const sent: Event[] = [];
    let fail = true;
    const base = { kv, recordKey: 'r', primary: PRIMARY, fqhn: 'alice@kez.test', secretKey: sk, now: NOW };
    const publish = async (e: Event) => {
      if (fail) throw new Error('no relay');
      sent.push(e);
    };
    await expect(announceOnce({ ...base, relays: [A, B], publish })).rejects.toThrow();
    fail = false;
    expect(await announceOnce({ ...base, relays: [A, B], publish })).toBe(true);
    expect(sent.map((e) => e.kind)).toEqual([10002, 0]);
    expect(await announceOnce({ ...base, relays: [B, A], publish })).toBe(false);
    expect(await announceOnce({ ...base, relays: [A], publish })).toBe(true);
    expect(sent.length).toBe(4);
    expect(await kv.get('r')).toBe(relaySetKey([A]));
  });

  it('republishes the profile kind 0 in place of the minimal one when there is one', async () => {
    const sent: Event[] = [];
    const profile = { kind: 0, id: 'p' } as Event;
    const base = { kv: memoryKV(), recordKey: 'r', primary: PRIMARY, fqhn: 'alice@kez.test', secretKey: sk, now: NOW, relays: [A] };
    expect(await announceOnce({ ...base, publish: async (e: Event) => void sent.push(e), profileEvent: async () => profile })).toBe(true);
    expect(sent.map((e) => e.kind)).toEqual([10002, 0]);
    expect(sent[1]).toBe(profile);
  });
});

/** Relays that refuse ("restricted:") every publish and REQ until the connection sent an AUTH signed for its challenge. */
function authPool(urls: string[]) {
  const authed = new Map<string, Event>();
  const stored: { relay: string; ev: Event }[] = [];
  const relays = new Map<string, RelayLike & { challenge: string }>();
  for (const url of urls)
    relays.set(url, {
      url,
      challenge: 'c-' + url,
      onnotice: () => {},
      send(m: string) {
        const [verb, ev] = JSON.parse(m) as [string, Event];
        const ok = verb === 'AUTH' && verifyEvent(ev) && ev.tags.some((t) => t[0] === 'challenge' && t[1] === 'c-' + url);
        if (ok) authed.set(url, ev);
      },
    });
  const pool: PoolLike = {
    ensureRelay: async (url) => relays.get(url)!,
    publish: (rs, ev) =>
      rs.map(async (url) => {
        await Promise.resolve();
        if (!authed.has(url)) throw new Error('restricted: permission denied');
        stored.push({ relay: url, ev });
        return '';
      }),
    subscribe: (_rs, _f, params) => {
      queueMicrotask(() => params.onclose?.(['auth-required: who are you']));
      return { close: () => {} };
    },
    listConnectionStatus: () => new Map(),
    destroy: () => {},
  };
  return { pool, authed, stored };
}

describe('NostrTransport relay hygiene', () => {
  it('answers a refusal with AUTH signed by the derived key, then publishes', async () => {
    const { pool, authed, stored } = authPool([A]);
    const t = new NostrTransport({ relays: [A], pool, stateEveryMs: 0, authKey: sk, now: () => NOW });
    const ev = msg();
    expect(await t.publish(ev)).toEqual({ relay: A });
    expect(authed.get(A)!.pubkey).toBe(pk);
    expect(authed.get(A)!.pubkey).not.toBe(ev.pubkey);
    expect(stored.map((s) => s.ev.id)).toEqual([ev.id]);
    expect(t.problems).toEqual({});
    t.close();
  });

  it('without the key a refusing relay stays refused, marked auth_required', async () => {
    const { pool, stored } = authPool([A]);
    const t = new NostrTransport({ relays: [A], pool, stateEveryMs: 0, now: () => NOW });
    await expect(t.publish(msg())).rejects.toBeInstanceOf(PublishError);
    expect(stored).toEqual([]);
    t.close();
  });

  it('never sends an event to a relay it is too large for; fails clearly when none can take it', async () => {
    const { pool, stored } = authPool([A, B]);
    const t = new NostrTransport({ relays: [A, B], pool, stateEveryMs: 0, authKey: sk, now: () => NOW });
    const ev = msg(500);
    t.setLimit(A, eventMessageBytes(ev) - 1);
    expect(await t.publish(ev)).toEqual({ relay: B });
    expect(stored.map((s) => s.relay)).toEqual([B]);
    expect(t.problems).toEqual({ [A]: 'too_large' });
    t.setLimit(B, 10);
    const err = await t.publish(ev).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect((err as PublishError).reasons.join()).toMatch(/too large/);
    expect(stored.length).toBe(1);
    t.close();
  });

  it('awaits the peer’s relay first and reports it when it accepts', async () => {
    const { pool } = authPool([A, B]);
    let releaseB!: () => void;
    const gate = new Promise<void>((r) => (releaseB = r));
    const slowB: PoolLike = {
      ...pool,
      publish: (rs, ev) =>
        pool.publish(rs, ev).map((p, i) => {
          if (rs[i] !== B) return p;
          p.catch(() => {}); // observed after the gate
          return gate.then(() => p);
        }),
    };
    const t = new NostrTransport({ relays: [A, B], pool: slowB, stateEveryMs: 0, authKey: sk, now: () => NOW });
    const got = t.publish(msg(), B);
    let settled = false;
    void got.then(() => (settled = true));
    // A answers first (after AUTH), but B is the peer's: still waiting on it.
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect(settled).toBe(false);
    releaseB();
    expect(await got).toEqual({ relay: B });
    t.close();
  });

  it('re-subscribes after answering an auth-required CLOSED, once per challenge', async () => {
    const { pool, authed } = authPool([A]);
    let subs = 0;
    const counting: PoolLike = { ...pool, subscribe: (...a) => (subs++, pool.subscribe(...a)) };
    const t = new NostrTransport({ relays: [A], pool: counting, stateEveryMs: 0, authKey: sk, now: () => NOW, resubscribeMs: 60_000 });
    t.subscribe(addr(PRIMARY), 0, () => {});
    for (let i = 0; i < 50 && !t.problems[A]; i++) await new Promise((r) => setTimeout(r, 0));
    expect(authed.get(A)!.pubkey).toBe(pk);
    // Opened, refused, AUTH, opened again, refused again: now marked, no loop.
    expect(subs).toBe(2);
    expect(t.problems).toEqual({ [A]: 'auth_required' });
    t.close();
  });
});

describe('relay popover text', () => {
  it('names the problem before the connection state', () => {
    expect(relayStatusText('connected', undefined)).toBe('connected');
    expect(relayStatusText('connected', 'too_large')).toBe('message too large');
    expect(relayStatusText('connected', 'auth_required')).toBe('auth required');
    expect(relayStatusText('disconnected', undefined)).toBe('error: not connected');
    expect(relayStatusText(undefined, undefined)).toBe('connecting');
  });
});
