// NIP-42 against the REAL relay (tests/real-relay.ts). Reading and publishing
// use separate connections (SPEC §12, review r11 #3): the reading one
// answers AUTH with the identity's DERIVED nostr key, the publishing one with
// a throwaway key, and no connection carries both the REQ for the own addr
// and an event to a peer. What each socket sent is recorded by a WebSocket
// subclass (the real `ws` underneath).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useWebSocketImplementation } from 'nostr-tools/pool';
import type { Event } from 'nostr-tools/pure';
import { buildMessageEvent } from '../src/lib/nostr/events';
import { buildRelayListEvent } from '../src/lib/nostr/hygiene';
import { addr, nostrPublicKey, nostrSecretKey } from '../src/lib/nostr/keys';
import { NostrTransport, PublishError } from '../src/lib/nostr/transport';
import { aliceSeed } from './chat-fixture';
import { freePort, NO_RELAY, RealRelay, RELAY_BIN, until } from './real-relay';

const PRIMARY = 'ed25519:' + '33'.repeat(32);
const sk = nostrSecretKey(aliceSeed);
const pk = nostrPublicKey(sk);
const now = () => Math.floor(Date.now() / 1000);

/** Every message each socket sent, parsed. */
const sent = new Map<WebSocket, unknown[][]>();
class RecordingWebSocket extends WebSocket {
  override send(data: unknown, ...rest: unknown[]): void {
    const list = sent.get(this) ?? [];
    list.push(JSON.parse(String(data)) as unknown[]);
    sent.set(this, list);
    (super.send as (...a: unknown[]) => void)(data, ...rest);
  }
}

/** Per socket: what it sent (message types) and the pubkeys its AUTH events were signed by. */
function sockets(): { types: Set<string>; authBy: string[]; eventKinds: number[]; eventsBy: string[] }[] {
  return [...sent.values()].map((msgs) => {
    const events = msgs.filter((m) => m[0] === 'EVENT').map((m) => m[1] as Event);
    return {
      types: new Set(msgs.map((m) => String(m[0]))),
      authBy: msgs.filter((m) => m[0] === 'AUTH').map((m) => (m[1] as Event).pubkey),
      eventKinds: events.map((e) => e.kind),
      eventsBy: events.map((e) => e.pubkey),
    };
  });
}

const auth = (actions: string, port: number) => `  enabled: true
  relay_urls:
    - ws://127.0.0.1:${port}
    - ws://127.0.0.1:${port}/
  actions:
${actions}`;

function transport(url: string, authKey?: Uint8Array): NostrTransport {
  return new NostrTransport({ relays: [url], stateEveryMs: 0, authKey, resubscribeMs: 60_000 });
}

describe.skipIf(NO_RELAY)('NIP-42 on real relays that require AUTH', () => {
  // Both reading and writing need roles, given to alice's derived key only.
  const strict: RealRelay = new RealRelay();
  // Only reading needs a role (writing: anonymous, or the writer role, as nostr-relay
  // checks the authenticated connection's roles instead of the anonymous default).
  const reads: RealRelay = new RealRelay();

  beforeAll(async () => {
    useWebSocketImplementation(RecordingWebSocket);
    for (const [relay, actions] of [
      [strict, '    save: w\n    query: r\n'],
      [reads, '    save: aw\n    query: r\n'],
    ] as const) {
      relay.port = await freePort();
      relay.auth = auth(actions, relay.port);
      await relay.start();
      // The serving relay made its tables; it reads roles at each AUTH.
      execFileSync(RELAY_BIN!, ['-c', relay.conf, 'role', 'set', '-p', pk, '-r', 'rw'], { cwd: relay.dir, stdio: 'pipe' });
    }
  }, 120_000);

  afterAll(async () => {
    await strict.cleanup();
    await reads.cleanup();
  }, 30_000);

  it('publishing AUTHs with a throwaway key, never the derived one: refused where only the derived key may write', async () => {
    sent.clear();
    for (const key of [undefined, sk]) {
      const t = transport(strict.url, key);
      const err = await t.publish(buildMessageEvent({ v: 2, ct: 'w' }, addr(PRIMARY), now())).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PublishError);
      t.close();
    }
    const writers = sockets().filter((s) => s.types.has('EVENT'));
    expect(writers.length).toBeGreaterThan(0);
    const authors = writers.flatMap((s) => s.authBy);
    expect(authors.length).toBeGreaterThan(0);
    expect(authors).not.toContain(pk);
  }, 60_000);

  it('reading AUTHs with the derived key on its own connection; the anonymous reader is refused', async () => {
    sent.clear();
    const writer = transport(reads.url, sk);
    const ev = buildMessageEvent({ v: 2, ct: 'authed' }, addr(PRIMARY), now());
    const reader = transport(reads.url, sk);
    const got: Event[] = [];
    reader.subscribe(addr(PRIMARY), 0, (e) => got.push(e));
    expect(await writer.publish(ev)).toEqual({ relay: reads.url });
    expect(ev.pubkey).not.toBe(pk);
    expect(await until(() => got.length > 0, 20_000)).toBe(true);
    expect(got.map((e) => e.id)).toEqual([ev.id]);

    const anon = transport(reads.url);
    const anonGot: Event[] = [];
    anon.subscribe(addr(PRIMARY), 0, (e) => anonGot.push(e));
    // Refused by a NOTICE, and no key to answer with.
    expect(await until(() => anon.problems[reads.url] === 'auth_required', 20_000)).toBe(true);
    expect(anonGot).toEqual([]);

    // One transport reading and publishing: never on one socket (review r11 #3).
    const both = transport(reads.url, sk);
    const mine: Event[] = [];
    both.subscribe(addr(PRIMARY), 0, (e) => mine.push(e));
    expect(await until(() => mine.length > 0, 20_000)).toBe(true);
    await both.publish(buildMessageEvent({ v: 2, ct: 'to a peer' }, addr('ed25519:' + '55'.repeat(32)), now()));
    // The identity's own relay list goes where it reads, never next to events to peers.
    await both.publishOwn(buildRelayListEvent([reads.url], sk, now()));
    const s = sockets();
    const own = s.filter((x) => x.eventsBy.includes(pk));
    expect(own.length).toBe(1);
    expect(own[0].types.has('REQ')).toBe(true);
    expect(own[0].eventKinds).not.toContain(4243);
    expect(s.some((x) => x.types.has('REQ') && x.authBy.includes(pk))).toBe(true);
    expect(s.filter((x) => x.types.has('REQ') && x.eventKinds.some((k) => k === 4243 || k === 4244))).toEqual([]);
    // Where events to peers went, no AUTH by the derived key.
    expect(s.filter((x) => x.eventKinds.includes(4243)).flatMap((x) => x.authBy)).not.toContain(pk);
    for (const t of [writer, reader, anon, both]) t.close();
  }, 60_000);
});
