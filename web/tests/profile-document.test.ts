// The signed profile document (SPEC §14.4), the peer cache (§14.7) and the
// profile store's publishing (§14.3: a wrap for each contact, republished
// when a contact appears).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { primaryFromSeed, signJcs } from '../src/lib/identity';
import { memoryKV } from '../src/lib/kv';
import { buildProfile, cleanDisplayName, verifyProfile, type ProfilePayload } from '../src/lib/profile/document';
import { isStale, PeerCache, refreshPeer, STALE_AFTER_MS, STALE_JITTER_MS } from '../src/lib/profile/peers';
import { metadataContent } from '../src/lib/profile/publish';
import { profileFromEvent } from '../src/lib/profile/relayread';
import { buildMetadataEvent } from '../src/lib/nostr/hygiene';
import { nostrSecretKey } from '../src/lib/nostr/keys';
import { contactsOf, nextUpdatedAt, Profiles, CHECK_EVERY_MS, RECOVERY_TRIES } from '../src/lib/profile/profiles.svelte';
import { findKey, wrapKey } from '../src/lib/profile/wrap';
import { addr } from '../src/lib/nostr/keys';
import type { Conversation } from '../src/lib/records';
import { seedFor } from './helpers';

const alice = seedFor('alice');
const bob = seedFor('bob');
const A = primaryFromSeed(alice);
const B = primaryFromSeed(bob);
const K = seedFor('K');
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==';
const scrambled = `${PNG}#kez-visual-v1:${'0f'.repeat(16)}`;

function doc(over: Partial<ProfilePayload> = {}, updated_at = '2026-05-25T03:00:00Z') {
  return buildProfile(alice, {
    handle: 'alice',
    server: 'kez.test',
    display_name: 'Alice',
    picture: scrambled,
    visual_keys: [wrapKey(K, A), wrapKey(K, B)],
    updated_at,
    ...over,
  });
}

describe('profile document', () => {
  it('verifies against the known primary, handle and server', () => {
    const d = doc();
    expect(verifyProfile(JSON.parse(JSON.stringify(d)), A, { handle: 'alice', server: 'kez.test' }).display_name).toBe('Alice');
    expect(() => verifyProfile(d, B)).toThrow('wrong_primary');
    expect(() => verifyProfile(d, A, { handle: 'alice', server: 'other.test' })).toThrow('wrong_server');
    expect(() => verifyProfile(d, A, { handle: 'bob', server: 'kez.test' })).toThrow('wrong_handle');
  });

  it('refuses tampering, unknown fields and broken rules with their codes', () => {
    const d = doc();
    const cases: [unknown, string][] = [
      [{ ...d, payload: { ...d.payload, display_name: 'Mallory' } }, 'invalid_signature'],
      [{ ...d, extra: 1 }, 'invalid_body'],
      [{ ...d, payload: { ...d.payload, extra: 1 } }, 'invalid_body'],
      [{ ...d, kez: 'handle_registration' }, 'wrong_envelope_tag'],
      [{ ...d, signature: { ...d.signature, key: B } }, 'key_mismatch'],
      [doc({ display_name: ' Alice' }), 'invalid_display_name'],
      [doc({ display_name: '' }), 'invalid_display_name'],
      [doc({ display_name: 'x'.repeat(65) }), 'invalid_display_name'],
      [doc({ picture: 'data:image/svg+xml;base64,PHN2Zz4=' }), 'invalid_picture'],
      [doc({ picture: 'data:image/png;base64,/9j/AAAA' }), 'invalid_picture'], // JPEG bytes labelled PNG
      [doc({ picture: PNG }), 'invalid_visual_keys'], // keys without a fragment
      [doc({ visual_keys: [] }), 'invalid_visual_keys'], // a fragment without keys
      [doc({}, '2026-02-30T03:00:00Z'), 'invalid_timestamp'],
    ];
    for (const [bad, code] of cases) expect(() => verifyProfile(bad, A), code).toThrow(code);
    // A forged document signed by someone else for alice's primary.
    const forged = { ...d, signature: { ...d.signature, sig: signJcs(bob, d.payload) } };
    expect(() => verifyProfile(forged, A)).toThrow('invalid_signature');
  });

  it('cleans display names: controls out, trimmed, 64 code points, empty is none', () => {
    expect(cleanDisplayName('  Al\u0007ice \u00a0')).toBe('Alice');
    expect(cleanDisplayName('   ')).toBeNull();
    expect([...(cleanDisplayName('😀'.repeat(70)) ?? '')]).toHaveLength(64);
  });

  it('travels in a kind 0 that readers verify against the primary', () => {
    const ev = buildMetadataEvent(metadataContent(doc()), A, nostrSecretKey(alice), 1779678030);
    expect(ev.tags).toEqual([['q', addr(A)]]);
    expect(profileFromEvent(ev, A)?.updated_at).toBe('2026-05-25T03:00:00Z');
    expect(profileFromEvent(ev, B)).toBeNull();
    // A fresh object, as from a relay (nostr-tools caches a verdict on the event).
    expect(profileFromEvent({ ...JSON.parse(JSON.stringify(ev)), content: ev.content.replace('Alice', 'Alicf') }, A)).toBeNull();
  });
});

describe('peer cache', () => {
  const reveal = vi.fn(async (picture: string, key: Uint8Array | null) => ({ url: key ? 'clear' : picture, clear: !!key }));
  const newCache = () => new PeerCache(memoryKV(), B);

  it('is stale after 6 h, or when missing', () => {
    expect(isStale(undefined, 0)).toBe(true);
    const p = { display_name: null, picture: null, clear: true, updated_at: null, fetched_at: 1000 };
    expect(isStale(p, 1000 + STALE_AFTER_MS - 1)).toBe(false);
    expect(isStale(p, 1000 + STALE_AFTER_MS)).toBe(true);
  });

  it('refetches only when stale or forced, newest document wins, a failing source keeps the old', async () => {
    const cache = newCache();
    const older = verifyProfile(doc({}, '2026-05-25T03:00:00Z'), A);
    const newer = verifyProfile(doc({ display_name: 'Alice 2' }, '2026-05-25T04:00:00Z'), A);
    const source = vi.fn(async () => older);
    const base = { cache, seed: bob, peer: A, reveal, now: 0 };
    let p = await refreshPeer({ ...base, sources: [source, async () => newer] });
    expect(p?.display_name).toBe('Alice 2');
    expect(p?.picture).toBe('clear'); // bob has a wrap
    await refreshPeer({ ...base, sources: [source], now: STALE_AFTER_MS - 1 });
    expect(source).toHaveBeenCalledTimes(1);
    // Stale: refetched, but an older document never replaces a newer one.
    p = await refreshPeer({ ...base, sources: [source], now: STALE_AFTER_MS });
    expect(source).toHaveBeenCalledTimes(2);
    expect(p?.display_name).toBe('Alice 2');
    p = await refreshPeer({ ...base, sources: [async () => Promise.reject(new Error('down'))], force: true });
    expect(p?.display_name).toBe('Alice 2');
    // A stranger (no wrap) gets the noise.
    const carol = await refreshPeer({ ...base, cache: new PeerCache(memoryKV(), 'x'), seed: seedFor('carol'), sources: [async () => newer] });
    expect(carol?.clear).toBe(false);
    expect(carol?.picture).toBe(scrambled);
  });

  it('is sealed by the KV it is given', async () => {
    const kv = memoryKV();
    await new PeerCache(kv, B).set(A, { display_name: 'Alice', picture: null, clear: true, updated_at: null, fetched_at: 1 });
    expect(await new PeerCache(kv, B).get(A)).toMatchObject({ display_name: 'Alice' });
    expect([...kv.map.keys()]).toEqual([`peerprofile:${B}:${A}`]);
  });
});

describe('profile store', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });
  // A conversation the user wrote in (`wrote`), as Outbox.send leaves it.
  const conv = (peer: string, preview: string): Conversation => ({ peer_primary: peer, peer_handle: null, last_at: '', last_preview: preview, unread: 0, wrote: preview !== '' });

  it('counts peers the user has written to as contacts, not strangers who wrote first; updated_at always moves forward', () => {
    const stranger: Conversation = { ...conv(A, 'hi alice, I am a stranger'), wrote: undefined };
    expect(contactsOf([conv(B, 'hi'), conv(A, ''), stranger])).toEqual([B]);
    const now = new Date('2026-05-25T03:00:00Z');
    expect(nextUpdatedAt(now, null)).toBe('2026-05-25T03:00:00Z');
    expect(nextUpdatedAt(now, '2026-05-25T03:00:00Z')).toBe('2026-05-25T03:00:01Z');
  });

  it('publishes with a wrap for itself and every contact, and again when a contact appears', async () => {
    vi.useFakeTimers();
    const puts: { payload: ProfilePayload }[] = [];
    const fetchFn = vi.fn(async (url: string, init?: RequestInit) => {
      if (init?.method === 'PUT') puts.push(JSON.parse(init.body as string));
      return new Response(init?.method === 'PUT' ? '{}' : '', { status: init?.method === 'PUT' ? 200 : 404 });
    }) as unknown as typeof fetch;
    const chat = ({ conversations: [conv(B, 'hi')], conversation: () => undefined, transport: 'server' as const, relays: [] as string[], publishMetadata: async () => ({}) });
    const carol = seedFor('carol');
    const profiles = new Profiles({
      kv: memoryKV(),
      seed: alice,
      primary: A,
      handle: 'alice',
      server: 'kez.test',
      chat,
      now: () => new Date(Date.now()),
      fetch: fetchFn,
      pictures: { reveal: async () => null, publish: async () => ({ picture: scrambled, key: K }) },
    });
    await profiles.load();
    profiles.start();
    await profiles.save({ picture: 'data:image/jpeg;base64,/9j/', display_name: ' Alice ', visual: true });
    expect(puts).toHaveLength(1);
    const first = verifyProfile(puts[0], A);
    expect(first.display_name).toBe('Alice');
    expect(first.visual_keys).toHaveLength(16); // 2 real, padded (SPEC §14.3)
    expect(findKey(bob, first.visual_keys)).toEqual(K);
    expect(findKey(carol, first.visual_keys)).toBeNull();

    // Carol writes first: a stranger, no wrap, no republish.
    const fromCarol: Conversation = { ...conv(primaryFromSeed(carol), 'hello'), wrote: undefined };
    chat.conversations = [...chat.conversations, fromCarol];
    await vi.advanceTimersByTimeAsync(CHECK_EVERY_MS * 3);
    expect(puts).toHaveLength(1);
    // Alice answers her: now a contact.
    chat.conversations = [chat.conversations[0], { ...fromCarol, wrote: true }];
    await vi.advanceTimersByTimeAsync(CHECK_EVERY_MS + 10);
    expect(puts).toHaveLength(2);
    const second = verifyProfile(puts[1], A);
    expect(findKey(carol, second.visual_keys)).toEqual(K);
    expect(second.updated_at > first.updated_at).toBe(true);
    profiles.close();
  });

  it('over nostr, hands the kind 0 content to the transport (the document inside verifies)', async () => {
    const sent: Record<string, unknown>[] = [];
    const chat = {
      conversations: [conv(B, 'hi')],
      conversation: () => undefined,
      transport: 'server' as 'server' | 'nostr',
      relays: [] as string[],
      publishMetadata: async (c: Record<string, unknown>) => void sent.push(c),
    };
    const profiles = new Profiles({
      kv: memoryKV(),
      seed: alice,
      primary: A,
      handle: 'alice',
      server: 'kez.test',
      chat,
      now: () => new Date(),
      fetch: (async () => new Response('', { status: 404 })) as unknown as typeof fetch,
      pictures: { reveal: async () => null, publish: async () => ({ picture: scrambled, key: K }) },
    });
    await profiles.load();
    chat.transport = 'nostr';
    chat.relays = ['ws://relay.invalid'];
    await profiles.save({ picture: 'data:image/jpeg;base64,/9j/', display_name: 'Alice', visual: true });
    expect(sent).toHaveLength(1);
    expect(sent[0].name).toBe('alice@kez.test');
    // The picture once, inside the signed document (SPEC §14.6): no outer `picture`.
    expect(Object.keys(sent[0]).sort()).toEqual(['display_name', 'kez_profile', 'name']);
    expect((sent[0].kez_profile as { payload: { picture: string } }).payload.picture).toBe(scrambled);
    expect(findKey(bob, verifyProfile(sent[0].kez_profile, A).visual_keys)).toEqual(K);
    expect(profiles.publishError).toBeNull();
  });

  it('a restored device reads its own picture back through its self-wrap', async () => {
    const published = JSON.stringify(doc({ visual_keys: [wrapKey(K, B), wrapKey(K, A)] }, new Date().toISOString().slice(0, 19) + 'Z'));
    const urls: string[] = [];
    const fetchFn = (async (url: string) => {
      urls.push(url);
      return new Response(published, { status: 200 });
    }) as unknown as typeof fetch;
    const chat = { conversations: [], conversation: () => undefined, transport: 'server' as const, relays: [], publishMetadata: async () => ({}) };
    const reveal = async (picture: string, key: Uint8Array | null) => (key && key.every((b, i) => b === K[i]) ? { url: 'the face', clear: true } : null);
    const kv = memoryKV();
    const fresh = new Profiles({ kv, seed: alice, primary: A, handle: 'alice', server: 'kez.test', chat, now: () => new Date(), fetch: fetchFn, pictures: { reveal, publish: async () => ({ picture: scrambled, key: K }) } });
    await fresh.load();
    expect(urls).toEqual(['/v1/u/alice/profile']);
    expect(fresh.own).toMatchObject({ picture: 'the face', display_name: 'Alice', visual: true, published: scrambled });
    // Kept (sealed by the KV the session gives), so the next start needs no fetch.
    const again = new Profiles({ kv, seed: alice, primary: A, handle: 'alice', server: 'kez.test', chat, now: () => new Date(), fetch: fetchFn, pictures: { reveal, publish: async () => ({ picture: scrambled, key: K }) } });
    await again.load();
    expect(urls).toHaveLength(1);
    expect(again.own.picture).toBe('the face');
  });

  it('a restored device whose first read failed recovers its picture later, and stops trying after a few', async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-05-25T03:00:00Z'));
    const published = JSON.stringify(doc({ visual_keys: [wrapKey(K, A)] }, '2026-05-25T02:00:00Z'));
    let up = false;
    const urls: string[] = [];
    const fetchFn = (async (url: string) => {
      urls.push(url);
      return up ? new Response(published, { status: 200 }) : new Response('', { status: 503 });
    }) as unknown as typeof fetch;
    const chat = { conversations: [], conversation: () => undefined, transport: 'server' as const, relays: [], publishMetadata: async () => ({}) };
    const reveal = async (_p: string, key: Uint8Array | null) => (key ? { url: 'the face', clear: true } : null);
    const make = () => new Profiles({ kv: memoryKV(), seed: alice, primary: A, handle: 'alice', server: 'kez.test', chat, now: () => new Date(), fetch: fetchFn, pictures: { reveal, publish: async () => ({ picture: scrambled, key: K }) } });
    const restored = make();
    await restored.load();
    restored.start();
    await vi.advanceTimersByTimeAsync(CHECK_EVERY_MS);
    expect(restored.own.picture).toBeNull();
    up = true; // the server answers again
    await vi.advanceTimersByTimeAsync(10_000);
    expect(restored.own.picture).toBe('the face');
    const after = urls.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(urls.length).toBe(after); // recovered: no more own reads
    restored.close();
    // Nothing published (or never reachable): a bounded number of reads, then none.
    up = false;
    urls.length = 0;
    const never = make();
    await never.load();
    never.start();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(urls.length).toBeLessThanOrEqual(2 + RECOVERY_TRIES);
    expect(urls.length).toBeGreaterThan(2);
    never.close();
  });

  it('refreshes peers in the background when stale, and does not hammer a failing server', async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-05-25T03:00:00Z'));
    vi.spyOn(Math, 'random').mockReturnValue(0.25); // the per-peer jitter
    const bobDoc = JSON.stringify(
      buildProfile(bob, { handle: 'bob', server: 'kez.test', display_name: 'Bob', picture: null, visual_keys: [], updated_at: '2026-05-25T02:00:00Z' }),
    );
    let status = 200;
    const gets: string[] = [];
    const fetchFn = (async (url: string) => {
      gets.push(url);
      return new Response(status === 200 ? bobDoc : '', { status });
    }) as unknown as typeof fetch;
    const c = { ...conv(B, 'hi'), peer_handle: 'bob@kez.test' };
    const chat = { conversations: [c], conversation: () => c, transport: 'server' as const, relays: [], publishMetadata: async () => ({}) };
    const kv = memoryKV();
    await kv.set(`ownprofile:${A}`, { picture: null, display_name: null, visual: true, key: null, published: null, wrapped_for: [B], updated_at: null });
    const profiles = new Profiles({ kv, seed: alice, primary: A, handle: 'alice', server: 'kez.test', chat, now: () => new Date(), fetch: fetchFn, pictures: { reveal: async () => null, publish: async () => ({ picture: scrambled, key: K }) } });
    await profiles.load();
    profiles.start();
    await vi.advanceTimersByTimeAsync(CHECK_EVERY_MS * 3);
    // Its own document once (another device may have published), then bob's.
    expect(gets).toEqual(['/v1/u/alice/profile', '/v1/u/bob/profile']);
    gets.shift();
    expect(profiles.peer(B)?.display_name).toBe('Bob');
    // Stale after 6 h (plus a per-peer jitter): fetched again in the background; a failing server keeps the entry and waits before trying again.
    status = 500;
    await vi.advanceTimersByTimeAsync(STALE_AFTER_MS + 0.25 * STALE_JITTER_MS - CHECK_EVERY_MS * 4);
    expect(gets).toHaveLength(1); // not before its jitter
    await vi.advanceTimersByTimeAsync(CHECK_EVERY_MS * 2);
    expect(gets).toHaveLength(2);
    expect(profiles.peer(B)?.display_name).toBe('Bob');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(gets).toHaveLength(2);
    profiles.close();
  });
});
