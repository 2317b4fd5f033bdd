// The handle directory: the pure decisions (what the start-chat form accepts,
// claimed handles, first-contact keys), then through ChatStores (starting
// chats, key changes).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, keyChangedText, type Conversation } from '../src/lib/chat.svelte';
import { claimToCheck, ContactBook, contactVerdict, fqhnOf, HandleDirectory, lookupProblem, startChatProblem } from '../src/lib/directory';
import { keyBlocks } from '../src/lib/format';
import { primaryFromSeed } from '../src/lib/identity';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, bobSeed, carolSeed, pull, setup } from './chat-fixture';
import { FakeServer, seedFor } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('directory decisions', () => {
  const me = { handle: 'alice', server: 'kez.test' };

  it('says why the start-chat form can’t take a KEZ, in the order the user can fix it', () => {
    expect(startChatProblem('', null, me)).toMatch(/^Type the KEZ .* alice@kez\.test\.$/);
    expect(startChatProblem('bob', 'other.example', me)).toBe('Only people on kez.test can be reached from here for now.');
    expect(startChatProblem('Bob', null, me)).toBe('KEZ handles are lower case — try “bob”.');
    expect(startChatProblem('b!', null, me)).toBe('“b!” isn’t a valid handle.');
    expect(startChatProblem('bo', 'kez.test', me)).toBe('“bo” isn’t a valid handle.');
    // One's own handle is a note to self (SPEC §8.3), not a problem.
    expect(startChatProblem('alice', null, me)).toBeNull();
    expect(startChatProblem('bob', null, me)).toBeNull();
    expect(startChatProblem('bob', 'kez.test', me)).toBeNull();
  });

  it('turns a failed lookup into a sentence', () => {
    expect(lookupProblem(new ApiError(404, 'not_found', ''), 'bob', 'kez.test')).toBe(
      'Nobody called “bob” is registered on kez.test. Check the spelling.',
    );
    const offline = new ApiError(0, 'network', '');
    expect(lookupProblem(offline, 'bob', 'kez.test')).toBe(offline.message);
    expect(offline.message).toMatch(/Can’t reach the server/);
    expect(lookupProblem('odd', 'bob', 'kez.test')).toBe('odd');
  });

  it('names handles with their server, and checks only claims on our own server', () => {
    expect(fqhnOf({ handle: 'bob', fqhn: 'bob@kez.test' }, 'other.example')).toBe('bob@kez.test');
    expect(fqhnOf({ handle: 'bob', fqhn: undefined }, 'kez.test')).toBe('bob@kez.test');
    expect(claimToCheck('bob@kez.test', 'kez.test')).toBe('bob');
    expect(claimToCheck('bob@KEZ.test', 'kez.test')).toBe('bob');
    expect(claimToCheck('bob@elsewhere.example', 'kez.test')).toBeNull();
    expect(claimToCheck('bob', 'kez.test')).toBeNull();
    expect(claimToCheck(null, 'kez.test')).toBeNull();
  });

  it('remembers a key at first contact and flags another key once', () => {
    expect(contactVerdict(undefined, 'k1', false)).toBe('remember');
    expect(contactVerdict('k1', 'k1', false)).toBe('same');
    expect(contactVerdict('k1', 'k2', false)).toBe('flag');
    expect(contactVerdict('k1', 'k2', true)).toBe('same');
  });

  it('ContactBook: seeds from history, flags, trusts, and writes only when changed', async () => {
    const kv = memoryKV();
    const book = new ContactBook(kv, 'contacts');
    expect(await book.load()).toBe(false);
    const conv = (peer: string, handle: string | null): Conversation => ({
      peer_primary: peer,
      peer_handle: handle,
      last_at: '',
      last_preview: '',
      unread: 0,
    });
    const convs = [conv('k1', 'bob@kez.test'), conv('k2', 'bob@kez.test'), conv('k3', null)];
    book.seed(convs);
    expect(convs.map((c) => c.key_changed_from)).toEqual([undefined, 'k1', undefined]);
    expect(book.known('bob@kez.test')).toBe('k1');
    const set = vi.spyOn(kv, 'set');
    await book.save();
    await book.save();
    expect(set).toHaveBeenCalledTimes(1);
    book.trust('bob@kez.test', 'k2');
    await book.save();
    expect(await kv.get('contacts')).toEqual({ 'bob@kez.test': 'k2' });
    const again = new ContactBook(kv, 'contacts');
    expect(await again.load()).toBe(true);
    expect(again.known('bob@kez.test')).toBe('k2');
  });

  it('HandleDirectory: asks once per primary, falls back to a confirmed claim, asks again after a miss', async () => {
    const server = new FakeServer('kez.test');
    const bp = server.add('bob', bobSeed);
    const api = server.api();
    let reverse = 0;
    let forward = 0;
    let reverseWorks = true;
    const dir = new HandleDirectory(
      {
        lookupPrimary: async (p) => {
          reverse++;
          if (!reverseWorks) throw new ApiError(0, 'network', '');
          return api.lookupPrimary(p);
        },
        lookupHandle: async (h) => (forward++, api.lookupHandle(h)),
      },
      'kez.test',
    );
    expect(await dir.resolve(bp, null)).toBe('bob@kez.test');
    expect(await dir.resolve(bp, 'mallory@kez.test')).toBe('bob@kez.test');
    expect(reverse).toBe(1);

    reverseWorks = false;
    const cp = server.add('carol', carolSeed);
    expect(await dir.resolve(cp, 'bob@kez.test')).toBeNull(); // the claim names someone else's key
    expect(await dir.resolve(cp, 'carol@elsewhere.example')).toBeNull(); // not asked: not our server
    expect(forward).toBe(1);
    expect(await dir.resolve(cp, 'carol@kez.test')).toBe('carol@kez.test');
    expect(forward).toBe(2);
    expect(reverse).toBe(4); // each miss was asked again
  });
});

describe('ChatStore starting a chat', () => {
  it('starts chats only with registered people (oneself: the note to self)', async () => {
    const { alice, ap, bp } = setup();
    await alice.load();
    expect(await alice.startChat('alice')).toBe(ap);
    await expect(alice.startChat('nobody1')).rejects.toThrow(/Nobody called “nobody1” is registered/);
    await expect(alice.startChat('bob@other.example')).rejects.toThrow(/Only people on kez.test/);
    // Capitals are folded (SPEC §3), not refused; look-alike non-ASCII is not.
    expect(await alice.startChat('Bob')).toBe(bp);
    expect(await alice.startChat(' @BOB@Kez.Test ')).toBe(bp);
    await expect(alice.startChat('\u212Aob')).rejects.toThrow(/isn’t a valid handle/);
    await expect(alice.startChat('')).rejects.toThrow(/Type the KEZ/);
    expect(await alice.startChat('bob@kez.test')).toBe(bp);
    expect(await alice.startChat('@bob')).toBe(bp);
    expect(alice.conversations.map((c) => c.peer_handle)).toEqual(['alice@kez.test', 'bob@kez.test']);
  });
});

describe('ChatStore key change (same handle, different primary)', () => {
  const bob2Seed = seedFor('bob, after resetting his identity');

  it('remembers the key at first contact and warns when starting a chat finds another', async () => {
    const { server, bp, alice, akv, me, ap } = setup();
    await alice.load();
    expect(await alice.startChat('bob')).toBe(bp);
    expect(alice.knownKey('bob@kez.test')).toBe(bp);
    expect(alice.conversation(bp)?.key_changed_from).toBeUndefined();

    const bp2 = server.add('bob', bob2Seed); // "bob" now points to another key
    expect(await alice.startChat('bob')).toBe(bp2);
    expect(alice.conversations).toHaveLength(2);
    expect(alice.conversation(bp2)?.key_changed_from).toBe(bp);
    expect(alice.conversation(bp)?.key_changed_from).toBeUndefined();
    expect(alice.knownKey('bob@kez.test')).toBe(bp); // still the first one
    expect(keyChangedText('bob@kez.test')).toBe(
      'bob@kez.test’s key changed since you last talked. Only continue if bob told you they reset their identity.',
    );

    // survives a reload (the remembered key is a KV record like the rest)
    await expect(akv.get(`chat:${ap}:contacts`)).resolves.toEqual({ 'bob@kez.test': bp });
    const again = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: server.api() });
    await again.load();
    expect(again.knownKey('bob@kez.test')).toBe(bp);
    expect(again.conversation(bp2)?.key_changed_from).toBe(bp);
  });

  it('warns when a message arrives from the handle under another key; first contact by message is remembered', async () => {
    const { server, ap, bp, alice, me } = setup();
    await alice.load();
    await alice.startChat('bob');
    const bp2 = server.add('bob', bob2Seed);
    const bob2 = new ChatStore({ kv: memoryKV(), me: me(bob2Seed, 'bob', bp2), api: server.api(), ackDelayMs: 0 });
    await bob2.load();
    await bob2.startChat('alice');
    await bob2.send(ap, 'it’s me, new phone');
    const cp = server.add('carol', carolSeed);
    const carol = new ChatStore({ kv: memoryKV(), me: me(carolSeed, 'carol', cp), api: server.api(), ackDelayMs: 0 });
    await carol.load();
    await carol.startChat('alice');
    await carol.send(ap, 'hi from carol');

    await pull(alice, server, 'alice');
    expect(alice.conversation(bp2)?.peer_handle).toBe('bob@kez.test'); // verified with the directory
    expect(alice.conversation(bp2)?.key_changed_from).toBe(bp);
    expect(alice.conversation(cp)?.key_changed_from).toBeUndefined();
    expect(alice.knownKey('carol@kez.test')).toBe(cp);
  });

  it('stops warning once the user says the person confirmed the reset', async () => {
    const { server, bp, alice } = setup();
    await alice.load();
    await alice.startChat('bob');
    const bp2 = server.add('bob', bob2Seed);
    await alice.startChat('bob');
    await alice.trustKey(bp2);
    expect(alice.conversation(bp2)?.key_changed_from).toBeUndefined();
    expect(alice.knownKey('bob@kez.test')).toBe(bp2);
    await alice.startChat('bob');
    expect(alice.conversation(bp2)?.key_changed_from).toBeUndefined();
    expect(alice.conversation(bp)?.key_changed_from).toBeUndefined();
  });

  it('flags the later of two conversations with one handle in history from before the remembered keys', async () => {
    const { server, ap, bp, me } = setup();
    const bp2 = primaryFromSeed(bob2Seed);
    const kv = memoryKV();
    const conv = (peer: string): Conversation => ({ peer_primary: peer, peer_handle: 'bob@kez.test', last_at: '', last_preview: '', unread: 0 });
    await kv.set(`chat:${ap}:convs`, [conv(bp), conv(bp2)]);
    const alice = new ChatStore({ kv, me: me(aliceSeed, 'alice', ap), api: server.api() });
    await alice.load();
    expect(alice.conversation(bp)?.key_changed_from).toBeUndefined();
    expect(alice.conversation(bp2)?.key_changed_from).toBe(bp);
    expect(await kv.get(`chat:${ap}:contacts`)).toEqual({ 'bob@kez.test': bp });
    expect((await kv.get<Conversation[]>(`chat:${ap}:convs`))?.[1].key_changed_from).toBe(bp);
  });

  it('splits a primary into 16 blocks of 4 for reading aloud', () => {
    const { scheme, blocks } = keyBlocks('ed25519:' + '0123456789abcdef'.repeat(4));
    expect(scheme).toBe('ed25519:');
    expect(blocks).toHaveLength(16);
    expect(blocks.slice(0, 4)).toEqual(['0123', '4567', '89ab', 'cdef']);
    expect(blocks.join('')).toBe('0123456789abcdef'.repeat(4));
  });
});
