// The own profile's wraps across devices and restores (SPEC §14.3: the
// published document's wraps of the same key are kept, only new contacts get
// one), padded with dummy wraps; thread openings revalidate past the HTTP
// cache (§14.7); nostr profiles are held to the handle asked for (§14.4).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { x25519 } from '@noble/curves/ed25519.js';
import { primaryFromSeed } from '../src/lib/identity';
import { memoryKV } from '../src/lib/kv';
import { fromHex } from '../src/lib/bytes';
import { buildProfile, verifyProfile, type ProfilePayload } from '../src/lib/profile/document';
import { backgroundDue, STALE_AFTER_MS, STALE_JITTER_MS } from '../src/lib/profile/peers';
import { fetchServerProfile, metadataContent } from '../src/lib/profile/publish';
import { profileFromEvent } from '../src/lib/profile/relayread';
import { buildMetadataEvent } from '../src/lib/nostr/hygiene';
import { nostrSecretKey } from '../src/lib/nostr/keys';
import { Profiles, CHECK_EVERY_MS, type OwnProfile } from '../src/lib/profile/profiles.svelte';
import { bucketFor, dummyWrap, nextWraps, ownWrap } from '../src/lib/profile/own-wraps';
import { findKey, unwrapKey, wrapKey, type KeyWrap } from '../src/lib/profile/wrap';
import type { Conversation } from '../src/lib/records';
import { seedFor } from './helpers';

const alice = seedFor('alice');
const [bob, carol, dave] = [seedFor('bob'), seedFor('carol'), seedFor('dave')];
const A = primaryFromSeed(alice);
const [B, C, D] = [bob, carol, dave].map(primaryFromSeed);
const K = seedFor('K');
const scrambled = `data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==#kez-visual-v1:${'0f'.repeat(16)}`;
const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19) + 'Z';
const wrote = (peer: string): Conversation => ({ peer_primary: peer, peer_handle: null, last_at: '', last_preview: 'hi', unread: 0, wrote: true });

function published(visual_keys: KeyWrap[], updated_at: string, display_name = 'Alice') {
  return buildProfile(alice, { handle: 'alice', server: 'kez.test', display_name, picture: scrambled, visual_keys, updated_at });
}

/** A home server holding alice's document: GET serves the newest PUT. */
function home(first: ReturnType<typeof published> | null) {
  const state = { doc: first ? JSON.stringify(first) : null, puts: [] as ProfilePayload[], inits: [] as (RequestInit | undefined)[] };
  const fetchFn = (async (_url: string, init?: RequestInit) => {
    state.inits.push(init);
    if (init?.method === 'PUT') {
      const p = verifyProfile(JSON.parse(init.body as string), A);
      // As the server (SPEC §14.5 step 13): only a strictly newer updated_at replaces.
      if (state.doc && p.updated_at <= verifyProfile(JSON.parse(state.doc), A).updated_at) return new Response('{"error":"stale_profile"}', { status: 409 });
      state.doc = init.body as string;
      state.puts.push(p);
      return new Response('{}', { status: 200 });
    }
    return new Response(state.doc ?? '', { status: state.doc ? 200 : 404 });
  }) as unknown as typeof fetch;
  return { state, fetchFn };
}

function device(fetchFn: typeof fetch, conversations: Conversation[], kv = memoryKV()) {
  const chat = { conversations, conversation: () => undefined, transport: 'server' as const, relays: [] as string[], publishMetadata: async () => ({}) };
  const reveal = async (_p: string, key: Uint8Array | null) => (key ? { url: 'the face', clear: true } : null);
  const profiles = new Profiles({ kv, seed: alice, primary: A, handle: 'alice', server: 'kez.test', chat, now: () => new Date(), fetch: fetchFn, pictures: { reveal, publish: async () => ({ picture: scrambled, key: K }) } });
  return { profiles, chat, kv };
}

describe('own wraps across devices', () => {
  afterEach(() => vi.useRealTimers());

  it('a restored device keeps the wraps of contacts it has no history of, and adds new ones', async () => {
    vi.useFakeTimers();
    const { state, fetchFn } = home(published([wrapKey(K, A), wrapKey(K, B)], stamp(Date.now() - 60_000)));
    const { profiles, chat } = device(fetchFn, []);
    await profiles.load(); // restore: recovered through the self-wrap
    expect(profiles.own.picture).toBe('the face');
    profiles.start();
    chat.conversations.push(wrote(D)); // she answers dave from the new device
    await vi.advanceTimersByTimeAsync(CHECK_EVERY_MS * 2);
    profiles.close();
    expect(state.puts).toHaveLength(1);
    const keys = state.puts[0].visual_keys;
    expect(findKey(bob, keys)).toEqual(K); // bob's wrap, from the old device, is still there
    expect(findKey(dave, keys)).toEqual(K);
    expect(findKey(alice, keys)).toEqual(K);
    expect(findKey(carol, keys)).toBeNull();
  });

  it('a second device saving its profile keeps the first device\'s wraps (read from the server first)', async () => {
    const now = Date.now();
    const { state, fetchFn } = home(published([wrapKey(K, A), wrapKey(K, B)], stamp(now - 30_000), 'Alice from phone'));
    const kv = memoryKV();
    const mine: OwnProfile = { picture: 'the face', display_name: 'Alice', visual: true, key: Buffer.from(K).toString('hex'), published: scrambled, wrapped_for: [C], wraps: [wrapKey(K, A), wrapKey(K, C)], updated_at: stamp(now - 120_000) };
    await kv.set(`ownprofile:${A}`, mine);
    const { profiles } = device(fetchFn, [wrote(C)], kv);
    await profiles.load();
    await profiles.save({ display_name: 'Alice from laptop', visual: true });
    expect(state.puts).toHaveLength(1);
    const p = state.puts[0];
    expect(p.display_name).toBe('Alice from laptop');
    expect(p.updated_at > stamp(now - 30_000)).toBe(true);
    expect(findKey(bob, p.visual_keys)).toEqual(K); // the phone's contact
    expect(findKey(carol, p.visual_keys)).toEqual(K); // this device's contact
  });

  it('on transport nostr the home server still gets the profile (contacts on `server` read it there; verify #1)', async () => {
    const { state, fetchFn } = home(null);
    const { profiles, chat } = device(fetchFn, [wrote(B)]);
    const sent: unknown[] = [];
    Object.assign(chat, { transport: 'nostr', relays: ['wss://relay.a'], publishMetadata: async (c: unknown) => (sent.push(c), {}) });
    await profiles.load();
    await profiles.save({ display_name: 'Alice', visual: true });
    expect(state.puts).toHaveLength(1);
    expect(sent).toHaveLength(1);
  });

  it('a device that finds a newer picture published elsewhere adopts it and wraps it for its own contacts', async () => {
    vi.useFakeTimers();
    const K2 = seedFor('K2');
    const now = Date.now();
    const { state, fetchFn } = home(published([wrapKey(K2, A), wrapKey(K2, B)], stamp(now - 30_000)));
    const kv = memoryKV();
    await kv.set(`ownprofile:${A}`, { picture: 'old face', display_name: 'Alice', visual: true, key: Buffer.from(K).toString('hex'), published: scrambled, wrapped_for: [C], wraps: [], updated_at: stamp(now - 120_000) });
    const { profiles } = device(fetchFn, [wrote(C)], kv);
    await profiles.load();
    profiles.start();
    await vi.advanceTimersByTimeAsync(CHECK_EVERY_MS * 2);
    profiles.close();
    expect(profiles.own.key).toBe(Buffer.from(K2).toString('hex'));
    expect(state.puts).toHaveLength(1);
    expect(findKey(carol, state.puts[0].visual_keys)).toEqual(K2);
    expect(findKey(bob, state.puts[0].visual_keys)).toEqual(K2);
  });
});

describe('publishing twice at once', () => {
  it('a save while an automatic republish runs is published after it, not refused as stale', async () => {
    const { state, fetchFn } = home(null);
    const { profiles } = device(fetchFn, [wrote(B)]);
    await profiles.load();
    await Promise.all([profiles.publish(), profiles.save({ display_name: 'Alice', visual: true })]);
    expect(profiles.publishError).toBeNull();
    expect(state.puts.map((p) => p.display_name)).toEqual(['Alice', 'Alice']);
    expect(profiles.publishing).toBe(false);
  });
});

describe('padding with dummy wraps', () => {
  it('pads to buckets; dummies look like wraps, open for nobody, and the owner drops its own', () => {
    expect([1, 16, 17, 33, 512, 513].map(bucketFor)).toEqual([16, 16, 32, 64, 512, 513]);
    const first = nextWraps({ seed: alice, key: K, own: A, carried: [], readers: [B] });
    expect(first).toHaveLength(16);
    for (const w of first) {
      expect(w.epk).toMatch(/^[0-9a-f]{64}$/);
      expect(w.nonce).toMatch(/^[0-9a-f]{24}$/);
      expect(w.ct).toMatch(/^[A-Za-z0-9_-]{64}$/);
      expect(() => x25519.getSharedSecret(seedFor('x'), fromHex(w.epk, 32))).not.toThrow(); // a real curve point
    }
    const opens = (seed: Uint8Array) => first.filter((w) => unwrapKey(seed, w)).length;
    expect([opens(alice), opens(bob), opens(carol)]).toEqual([1, 1, 0]);
    // Fifteen more contacts, one at a time: the owner's dummies make room instead of piling up.
    let list = first;
    for (let i = 0; i < 15; i++) list = nextWraps({ seed: alice, key: K, own: A, carried: list, readers: [primaryFromSeed(seedFor(`c${i}`))] });
    expect(list).toHaveLength(32); // 17 real
    expect(findKey(bob, list)).toEqual(K);
    // The owner's wraps are deterministic: a contact another device already wrapped for is not wrapped again.
    expect(ownWrap(alice, K, C)).toEqual(ownWrap(alice, K, C));
    const withCarol = nextWraps({ seed: alice, key: K, own: A, carried: first, readers: [C] });
    const again = nextWraps({ seed: alice, key: K, own: A, carried: withCarol, readers: [C, B] });
    expect(again.filter((w) => unwrapKey(carol, w))).toHaveLength(1);
    expect(again.filter((w) => unwrapKey(bob, w))).toHaveLength(1);
    // Someone else's dummy (another owner) is kept like a real wrap: it cannot be told apart.
    const foreign = dummyWrap(bob, K, 0);
    expect(nextWraps({ seed: alice, key: K, own: A, carried: [...first, foreign], readers: [] })).toContainEqual(foreign);
  });

  it('two publishes with the same contacts give the same list: kept wraps do not tell contacts from dummies (review: verify #2)', () => {
    const one = nextWraps({ seed: alice, key: K, own: A, carried: [], readers: [B] });
    const two = nextWraps({ seed: alice, key: K, own: A, carried: one, readers: [B] });
    const key = (w: { epk: string }) => w.epk;
    expect(new Set(two.map(key))).toEqual(new Set(one.map(key)));
    expect(one).toHaveLength(16);
  });
});

describe('fetching', () => {
  it('a thread opening revalidates past the HTTP cache; background refreshes do not, and wait a per-peer jitter', async () => {
    const inits: (RequestInit | undefined)[] = [];
    const f = (async (_u: string, init?: RequestInit) => (inits.push(init), new Response('', { status: 404 }))) as unknown as typeof fetch;
    await fetchServerProfile('bob', 'kez.test', B, f, true);
    await fetchServerProfile('bob', 'kez.test', B, f);
    expect(inits.map((i) => i?.cache)).toEqual(['no-cache', undefined]);

    const c: Conversation = { ...wrote(B), peer_handle: 'bob@kez.test' };
    const { state, fetchFn } = home(null);
    const chat = { conversations: [c], conversation: () => c, transport: 'server' as const, relays: [] as string[], publishMetadata: async () => ({}) };
    const profiles = new Profiles({ kv: memoryKV(), seed: alice, primary: A, handle: 'alice', server: 'kez.test', chat, now: () => new Date(), fetch: fetchFn, pictures: { reveal: async () => null, publish: async () => ({ picture: scrambled, key: K }) } });
    await profiles.refresh(B, true);
    expect(state.inits.at(-1)?.cache).toBe('no-cache');

    const p = { display_name: null, picture: null, clear: true, updated_at: null, fetched_at: 0 };
    expect(backgroundDue(undefined, 0, 0.9)).toBe(true);
    expect(backgroundDue(p, STALE_AFTER_MS, 0)).toBe(true);
    expect(backgroundDue(p, STALE_AFTER_MS + 0.5 * STALE_JITTER_MS - 1, 0.5)).toBe(false);
    expect(backgroundDue(p, STALE_AFTER_MS + 0.5 * STALE_JITTER_MS, 0.5)).toBe(true);
  });

  it('a peer whose conversation moved since the last fetch is revalidated within a minute, not before, once per minute at most', async () => {
    vi.useFakeTimers();
    try {
      let now = Date.parse('2026-11-30T12:00:00Z');
      vi.setSystemTime(now);
      const c: Conversation = { ...wrote(B), peer_handle: 'bob@kez.test', last_at: '2026-11-30T11:00:00Z' };
      const bobs: (RequestInit | undefined)[] = [];
      const fetchFn = (async (url: string, init?: RequestInit) => {
        if (url.includes('/v1/u/bob/')) bobs.push(init);
        return new Response('', { status: 404 });
      }) as unknown as typeof fetch;
      const chat = { conversations: [c], conversation: () => c, transport: 'server' as const, relays: [] as string[], publishMetadata: async () => ({}) };
      const profiles = new Profiles({ kv: memoryKV(), seed: alice, primary: A, handle: 'alice', server: 'kez.test', chat, now: () => new Date(now), fetch: fetchFn, pictures: { reveal: async () => null, publish: async () => ({ picture: scrambled, key: K }) } });
      await profiles.refresh(B, true);
      const fresh = () => bobs.filter((i) => i?.cache === 'no-cache').length;
      expect(fresh()).toBe(1);
      profiles.start();
      const tick = async (ms: number) => {
        now += ms;
        await vi.advanceTimersByTimeAsync(ms);
      };
      // Bob writes 10 s after the fetch: nothing yet, then one revalidation once the fetch is a minute old.
      c.last_at = new Date(now + 10_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      await tick(30_000);
      expect(fresh()).toBe(1);
      await tick(32_000);
      expect(fresh()).toBe(2);
      // Nothing new since: no more.
      await tick(120_000);
      expect(fresh()).toBe(2);
      profiles.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a kind 0 whose document names another handle or server is not trusted', () => {
    const d = buildProfile(alice, { handle: 'alice', server: 'kez.test', display_name: 'Alice', picture: null, visual_keys: [], updated_at: '2026-05-25T03:00:00Z' });
    const ev = buildMetadataEvent(metadataContent(d), A, nostrSecretKey(alice), 1779678030);
    expect(profileFromEvent(ev, A, { handle: 'alice', server: 'kez.test' })?.display_name).toBe('Alice');
    expect(profileFromEvent(ev, A, { handle: 'mallory', server: 'kez.test' })).toBeNull();
    expect(profileFromEvent(ev, A, { handle: 'alice', server: 'other.example' })).toBeNull();
  });
});
