// Read receipts and typing (SPEC §8.6): the throttle and timeout of typing,
// which messages a read marks, reciprocity, "Read" only ever going up, and
// that nothing of either is stored (KV or mailbox).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatStore, type Api } from '../src/lib/chat.svelte';
import type { EnvelopeV2, SealedMessage } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import { typingBody } from '../src/lib/livebody';
import { markRead, newlyRead, readBodies, readTargets, TYPING_SHOWN_MS, TypingSender } from '../src/lib/presence';
import { UnreadIds } from '../src/lib/unreadids';
import { Presence } from '../src/lib/presence.svelte';
import type { ChatAccess, ChatMessage } from '../src/lib/records';
import { aliceSeed, bobSeed, settle } from './chat-fixture';
import { FakeEventSource, FakeServer } from './helpers';

afterEach(() => {
  vi.useRealTimers();
});

const msg = (id: string, dir: 'in' | 'out', status: ChatMessage['status'], extra: Partial<ChatMessage> = {}): ChatMessage => ({
  id,
  dir,
  body: id,
  sent_at: '2026-05-25T03:00:00Z',
  status,
  ...extra,
});

describe('typing sender', () => {
  it('sends active at most every 3 s while there is text, paused once after it', () => {
    const t = new TypingSender();
    expect(t.input('p', true, 0)).toBe('active');
    expect(t.input('p', true, 1_000)).toBeNull();
    expect(t.input('p', true, 2_999)).toBeNull();
    expect(t.input('p', true, 3_000)).toBe('active');
    expect(t.input('q', true, 3_001)).toBe('active');
    expect(t.stop('p')).toBe('paused');
    expect(t.stop('p')).toBeNull();
    expect(t.input('q', false, 3_002)).toBe('paused');
    expect(t.input('q', false, 3_003)).toBeNull();
  });
});

describe('read rules', () => {
  it('marks only outgoing messages named by id or by an earlier id, once', () => {
    const thread = [
      msg('AAAAAAAAAAAAAAAAAAAAAA', 'out', 'sent'),
      msg('BBBBBBBBBBBBBBBBBBBBBB', 'in', 'received'),
      msg('CCCCCCCCCCCCCCCCCCCCCC', 'out', 'delivered', { prev_ids: ['DDDDDDDDDDDDDDDDDDDDDD'] }),
      msg('EEEEEEEEEEEEEEEEEEEEEE', 'out', 'delivered', { read: true }),
    ];
    const body = 'AAAAAAAAAAAAAAAAAAAAAA,BBBBBBBBBBBBBBBBBBBBBB,DDDDDDDDDDDDDDDDDDDDDD,EEEEEEEEEEEEEEEEEEEEEE';
    expect(readTargets(thread, body)!.map((m) => m.id)).toEqual(['AAAAAAAAAAAAAAAAAAAAAA', 'CCCCCCCCCCCCCCCCCCCCCC']);
    expect(readTargets(thread, 'not ids')).toBeNull();
  });

  it('a read implies delivered; failed or sent go up, never down', () => {
    const m = msg('AAAAAAAAAAAAAAAAAAAAAA', 'out', 'failed', { error: 'x', retryable: true });
    markRead(m);
    expect(m).toMatchObject({ status: 'delivered', read: true });
    expect(m.error).toBeUndefined();
  });

  it('opening a thread reads its newest unread received messages; bodies hold ≤ 100 ids', () => {
    const thread = [msg('a', 'in', 'received'), msg('b', 'out', 'sent'), msg('c', 'in', 'received'), msg('d', 'in', 'received')];
    expect(newlyRead(thread, 2)).toEqual(['c', 'd']);
    expect(newlyRead(thread, 0)).toEqual([]);
    const ids = Array.from({ length: 250 }, (_, i) => `id-${String(i).padStart(13, '0')}`);
    const bodies = readBodies(ids);
    expect(bodies.map((b) => b.split(',').length)).toEqual([100, 100, 50]);
  });

  it('a read from an own device leaves unread what came after the newest counted message it names', () => {
    // b, c, d raised the count to 1, 2, 3.
    const fresh = () => {
      const u = new UnreadIds();
      ['b', 'c', 'd'].forEach((id, i) => u.arrived('p', id, true, i + 1));
      return u;
    };
    expect(fresh().afterRead('p', new Set(['b', 'c']), 3)).toBe(1);
    expect(fresh().afterRead('p', new Set(['d']), 3)).toBe(0);
    // Names only what is read here already, or another thread's messages: no change.
    expect(fresh().afterRead('p', new Set(['b']), 2)).toBeNull();
    expect(fresh().afterRead('p', new Set(['zz']), 3)).toBeNull();
    expect(fresh().afterRead('p', new Set(['d']), 0)).toBeNull();
    // An arrival not counted (deleted on arrival, muted) stands for nothing (review i13 #15).
    const v = new UnreadIds();
    v.arrived('p', 'a', true, 1);
    v.arrived('p', 'b', false, 1);
    expect(v.ids('p', 1)).toEqual(['a']);
    expect(v.afterRead('p', new Set(['a']), 1)).toBe(0);
    // Counted before the load: matched only once filled from the stored thread.
    const w = new UnreadIds();
    w.arrived('p', 'e', true, 3);
    expect(w.needsFill('p', 3)).toBe(true);
    expect(w.afterRead('p', new Set(['c']), 3)).toBeNull();
    w.fill('p', ['c', 'd', 'e']);
    expect(w.needsFill('p', 3)).toBe(false);
    expect(w.afterRead('p', new Set(['c']), 3)).toBe(2);
  });
});

describe('Presence typing display', () => {
  it('shows typing for 6 s unless refreshed; paused, a message or the switch clears it', async () => {
    vi.useFakeTimers();
    const p = new Presence({
      chat: { closed: false, now: () => new Date() } as unknown as ChatAccess,
      kv: memoryKV(),
      key: (k) => k,
      post: async () => {},
      activePeer: () => null,
    });
    const typing = (state: 'active' | 'paused', id: string) =>
      p.accept({ kind: 'typing', from: 'peer', body: typingBody(state), id, sent_at: new Date().toISOString() } as SealedMessage);
    await typing('active', 'id-000000000000001');
    expect(p.typing.peer).toBe(true);
    vi.advanceTimersByTime(TYPING_SHOWN_MS - 1);
    expect(p.typing.peer).toBe(true);
    vi.advanceTimersByTime(1);
    expect(p.typing.peer).toBeUndefined();
    await typing('active', 'id-000000000000002');
    vi.advanceTimersByTime(4_000);
    await typing('active', 'id-000000000000003');
    vi.advanceTimersByTime(4_000);
    expect(p.typing.peer).toBe(true);
    await typing('paused', 'id-000000000000004');
    expect(p.typing.peer).toBeUndefined();
    await typing('active', 'id-000000000000005');
    p.heard('peer', 'id-000000000000006');
    expect(p.typing.peer).toBeUndefined();
    // An old one (a relay kept it) is not shown.
    const old = new Date(Date.now() - TYPING_SHOWN_MS - 1_000).toISOString();
    await p.accept({ kind: 'typing', from: 'peer', body: typingBody('active'), id: 'id-000000000000008', sent_at: old } as SealedMessage);
    expect(p.typing.peer).toBeUndefined();
    await p.setTypingOn(false);
    await typing('active', 'id-000000000000007');
    expect(p.typing.peer).toBeUndefined();
    expect(p.has('id-000000000000007')).toBe(true);
  });
});

/** alice and bob with live streams (FakeEventSource) and ephemeral posts delivered by hand. */
async function live() {
  FakeEventSource.all = [];
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const ephemeral: { to: string; id: string; envelope: EnvelopeV2 }[] = [];
  const api: Api = { ...server.api(), postEphemeral: async (to, id, envelope) => void ephemeral.push({ to, id, envelope }) };
  const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;
  const kvs = { alice: memoryKV(), bob: memoryKV() };
  const store = (seed: Uint8Array, handle: 'alice' | 'bob', primary: string) =>
    new ChatStore({ kv: kvs[handle], me: { seed, handle, primary, server: 'kez.test' }, api, ackDelayMs: 0, EventSource, selfCopies: false });
  const alice = store(aliceSeed, 'alice', ap);
  const bob = store(bobSeed, 'bob', bp);
  for (const s of [alice, bob]) {
    await s.load();
    s.connect();
  }
  const stream = (to: string) => FakeEventSource.all.find((e) => e.url.includes(`/v1/inbox/${to.split('@')[0]}/stream`))!;
  /** Hand every ephemeral post so far to its recipient's live stream, as the server would (SPEC §7.7). */
  const deliver = async () => {
    for (const e of ephemeral.splice(0)) stream(e.to).emit('ephemeral', { data: JSON.stringify({ id: e.id, envelope: e.envelope }) });
    for (let i = 0; i < 10; i++) await settle();
  };
  const pull = async (s: ChatStore, handle: string) => {
    const { messages } = await server.api().pollInbox(handle, s.lastSeq, server.pollAuth(handle, s.lastSeq));
    await s.ingest(messages);
  };
  return { server, ap, bp, alice, bob, ephemeral, deliver, pull, kvs };
}

async function until(what: string, cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('ChatStore read receipts and typing', () => {
  it('typing crosses as ephemeral posts, throttled, and is never stored', async () => {
    const { ap, bp, alice, bob, ephemeral, deliver, server, kvs } = await live();
    await alice.startChat('bob');
    await bob.startChat('alice');
    bob.presence.composing(ap, 'h');
    bob.presence.composing(ap, 'he');
    await until('the active post', () => ephemeral.length === 1);
    const ids = ephemeral.map((e) => e.id);
    await deliver();
    expect(alice.presence.typing[bp]).toBe(true);
    bob.presence.stopTyping(ap);
    await until('the paused post', () => ephemeral.length === 1);
    ids.push(ephemeral[0].id);
    await deliver();
    expect(alice.presence.typing[bp]).toBeUndefined();
    // Nothing stored: no mailbox entry, no KV record holding their ids.
    expect(server.boxes.get('alice')).toHaveLength(0);
    const stored = JSON.stringify([...kvs.alice.map.values(), ...kvs.bob.map.values()]);
    for (const id of ids) expect(stored).not.toContain(id);
  });

  it('a blocked peer’s typing and read are not applied (SPEC §8.7)', async () => {
    const { ap, bp, alice, bob, ephemeral, deliver, pull } = await live();
    await alice.presence.setReadOn(true);
    await bob.presence.setReadOn(true);
    await alice.startChat('bob');
    await bob.startChat('alice');
    await alice.send(bp, 'one');
    expect(await alice.convo.setBlocked(bp, true)).toBeNull();
    bob.presence.composing(ap, 'h');
    await pull(bob, 'bob');
    await bob.openThread(ap);
    await until('the typing and read posts', () => ephemeral.filter((e) => e.to.startsWith('alice')).length === 2);
    await deliver();
    expect(alice.presence.typing[bp]).toBeUndefined();
    expect(alice.threads[bp][0].read).toBeUndefined();
  });

  it('read receipts are off by default: none sent, none shown', async () => {
    const { ap, alice, bob, ephemeral, pull } = await live();
    await alice.startChat('bob');
    expect(alice.presence.readOn).toBe(false);
    await alice.send(bob.me.primary, 'hello');
    await pull(bob, 'bob');
    await bob.openThread(ap);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(ephemeral.filter((e) => e.to.startsWith('alice'))).toHaveLength(0);
  });

  it('with both on, opening the thread marks the message Read; with the reader’s on but the sender’s off, nothing shows', async () => {
    const { ap, bp, alice, bob, ephemeral, deliver, pull, server } = await live();
    await alice.presence.setReadOn(true);
    await bob.presence.setReadOn(true);
    await alice.startChat('bob');
    await alice.send(bp, 'one');
    await pull(bob, 'bob');
    await until('bob’s delivery receipt', () => server.boxes.get('alice')!.length > 0);
    await pull(alice, 'alice');
    expect(alice.threads[bp][0]).toMatchObject({ status: 'delivered' });
    expect(alice.threads[bp][0].read).toBeUndefined();
    await bob.openThread(ap);
    await until('the read post', () => ephemeral.some((e) => e.to.startsWith('alice')));
    await deliver();
    expect(alice.threads[bp][0]).toMatchObject({ status: 'delivered', read: true });

    // Reciprocal: alice turns hers off; bob's next read is ignored.
    await alice.presence.setReadOn(false);
    await alice.send(bp, 'two');
    await pull(bob, 'bob'); // bob is viewing: read at once
    await until('the second read post', () => ephemeral.some((e) => e.to.startsWith('alice')));
    await deliver();
    expect(alice.threads[bp][1].read).toBeUndefined();
  });

  it('a late ack after a read keeps "Read" (only up)', async () => {
    const { ap, bp, alice, bob, ephemeral, deliver, pull, server } = await live();
    await alice.presence.setReadOn(true);
    await bob.presence.setReadOn(true);
    await alice.startChat('bob');
    await alice.send(bp, 'hi');
    await bob.openThread(ap);
    await pull(bob, 'bob'); // arrives while viewing: read, and acked
    await until('the read post', () => ephemeral.some((e) => e.to.startsWith('alice')));
    await deliver(); // the read comes first ...
    expect(alice.threads[bp][0]).toMatchObject({ status: 'delivered', read: true });
    await until('bob’s delivery receipt', () => server.boxes.get('alice')!.length > 0);
    await pull(alice, 'alice'); // ... then the ack
    expect(alice.threads[bp][0]).toMatchObject({ status: 'delivered', read: true });
  });
});

describe('reading on one device clears the unread count on the others (TODO #174, SPEC §8.6 "Own devices")', () => {
  it('sends a read to oneself even with read receipts off; the other device counts only what came after', async () => {
    FakeEventSource.all = [];
    const server = new FakeServer('kez.test');
    const ap = server.add('alice', aliceSeed);
    const bp = server.add('bob', bobSeed);
    const ephemeral: { to: string; id: string; envelope: EnvelopeV2 }[] = [];
    const api: Api = { ...server.api(), postEphemeral: async (to, id, envelope) => void ephemeral.push({ to, id, envelope }) };
    const EventSource = FakeEventSource as unknown as typeof globalThis.EventSource;
    const store = (seed: Uint8Array, handle: 'alice' | 'bob', primary: string) =>
      new ChatStore({ kv: memoryKV(), me: { seed, handle, primary, server: 'kez.test' }, api, ackDelayMs: 0, EventSource, selfCopies: false });
    const alice = store(aliceSeed, 'alice', ap);
    const [bob1, bob2] = [store(bobSeed, 'bob', bp), store(bobSeed, 'bob', bp)];
    for (const s of [alice, bob1, bob2]) {
      await s.load();
      s.connect();
    }
    const pull = async (s: ChatStore) => {
      const { messages } = await server.api().pollInbox('bob', s.lastSeq, server.pollAuth('bob', s.lastSeq));
      await s.ingest(messages);
    };
    // Every live stream of the recipient's handle gets the ephemeral post (SPEC §7.7): both of bob's devices.
    const deliver = async () => {
      for (const e of ephemeral.splice(0)) {
        const local = e.to.split('@')[0];
        for (const s of FakeEventSource.all.filter((x) => x.url.includes(`/v1/inbox/${local}/stream`))) s.emit('ephemeral', { data: JSON.stringify({ id: e.id, envelope: e.envelope }) });
      }
      for (let i = 0; i < 10; i++) await settle();
    };

    await alice.startChat('bob');
    await alice.send(bp, 'one');
    await alice.send(bp, 'two');
    await pull(bob1);
    await pull(bob2);
    expect([bob1.conversation(ap)!.unread, bob2.conversation(ap)!.unread]).toEqual([2, 2]);
    expect(bob1.presence.readOn).toBe(false);

    await bob1.openThread(ap);
    await until('the own-devices read', () => ephemeral.length > 0);
    // To bob's own handle only: alice learns nothing (receipts are off).
    expect(ephemeral.map((e) => e.to)).toEqual(['bob@kez.test']);
    // A message that came after, not yet read anywhere, stays unread on bob2.
    await alice.send(bp, 'three');
    await pull(bob2);
    expect(bob2.conversation(ap)!.unread).toBe(3);
    await deliver();
    expect(bob2.conversation(ap)!.unread).toBe(1);
    expect(bob2.totalUnread).toBe(1);
    expect(bob1.conversation(ap)!.unread).toBe(0);
    // Ephemeral: nothing in the mailbox but the three messages.
    expect(server.boxes.get('bob')).toHaveLength(3);
    for (const s of [alice, bob1, bob2]) await s.close();
  });
});
