// Block and mute follow the identity (SPEC §8.7), through real ChatStores on
// the fake server: a snapshot posted by one device to the own mailbox makes
// the identity's other device (and one restored later) drop and never ack a
// blocked sender, mute the same conversations, and an older snapshot never
// undoes a newer one.
import { describe, expect, it } from 'vitest';
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, bobSeed, noWait, pull, settle } from './chat-fixture';
import { FakeServer } from './helpers';
import { KEEP_STAMP_MS, later, REPOST_AFTER_MS, SettingsSync } from '../src/lib/settingsync';
import type { ChatAccess } from '../src/lib/records';
import { BLOCK_LIST_FULL, MAX_BLOCKED } from '../src/lib/blocklist.svelte';
import { primaryFromSeed } from '../src/lib/identity';
import { seedFor } from './helpers';

const settleAll = async () => {
  for (let i = 0; i < 4; i++) await settle();
};

function world() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const alice: Me = { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' };
  const store = (me: Me) => new ChatStore({ kv: memoryKV(), me, api: server.api(), ackDelayMs: 0, sleep: noWait, stallCheck: false });
  const bob = store({ seed: bobSeed, handle: 'bob', primary: bp, server: 'kez.test' });
  return { server, ap, bp, phone: store(alice), laptop: store(alice), restored: () => store(alice), bob };
}

const acksTo = (server: FakeServer, handle: string) => server.posts.filter((p) => p.to === `${handle}@kez.test`).length;

describe('settings that follow the identity', () => {
  it('a block on one device: the other drops and never acks the blocked sender', async () => {
    const { server, ap, bp, phone, laptop, bob } = world();
    await Promise.all([phone.load(), laptop.load(), bob.load()]);
    await bob.startChat('alice');
    await bob.send(ap, 'before');
    await pull(phone, server, 'alice');
    await pull(laptop, server, 'alice');
    await settleAll();
    expect(laptop.threads[bp].map((m) => m.body)).toEqual(['before']);

    await phone.convo.setBlocked(bp, true);
    await bob.send(ap, 'while blocked');
    await settleAll();
    const before = acksTo(server, 'bob');
    await pull(laptop, server, 'alice');
    await settleAll();
    expect(laptop.convo.blocked(bp)).toBe(true);
    expect(laptop.threads[bp].map((m) => m.body)).toEqual(['before']);
    // No receipt from the laptop: bob never sees "delivered".
    expect(acksTo(server, 'bob')).toBe(before);
    await pull(bob, server, 'bob');
    expect(bob.threads[ap].find((m) => m.body === 'while blocked')?.status).toBe('sent');
    // The snapshot is silent and never acked: alice's mailbox got it with notify false, bob's nothing.
    expect(server.posts.filter((p) => p.to === 'alice@kez.test' && !p.notify).length).toBeGreaterThan(0);
    // Before the block the laptop did ack: the check above is not vacuous.
    expect(bob.threads[ap].find((m) => m.body === 'before')?.status).toBe('delivered');
  });

  it('a restored device, mute, unblock from the other side, and an older snapshot loses', async () => {
    const { server, ap, bp, phone, laptop, restored, bob } = world();
    await Promise.all([phone.load(), laptop.load(), bob.load()]);
    await bob.startChat('alice');
    await bob.send(ap, 'hi');
    await pull(phone, server, 'alice');
    await pull(laptop, server, 'alice');
    await phone.convo.setMuted(bp, true);
    await phone.convo.setBlocked(bp, true);
    const third = restored();
    await third.load();
    await pull(third, server, 'alice');
    await settleAll();
    expect(third.convo.blocked(bp)).toBe(true);
    expect(third.conversation(bp)?.muted).toBe(true);

    // The laptop unblocks and unmutes: the phone follows.
    await pull(laptop, server, 'alice');
    await laptop.convo.setBlocked(bp, false);
    await laptop.convo.setMuted(bp, false);
    await pull(phone, server, 'alice');
    await settleAll();
    expect(phone.convo.blocked(bp)).toBe(false);
    expect(phone.conversation(bp)?.muted).toBeUndefined();
    expect(later({ sent_at: '2026-01-01T00:00:01Z', id: 'a' }, { sent_at: '2026-01-01T00:00:00Z', id: 'z' })).toBe(true);
    expect(later({ sent_at: '2026-01-01T00:00:00Z', id: 'a' }, { sent_at: '2026-01-01T00:00:00Z', id: 'b' })).toBe(false);
  });

  it('a full block list refuses one more, with a sentence, and keeps every block', async () => {
    const { bp, phone } = world();
    await phone.load();
    const many = Array.from({ length: MAX_BLOCKED }, (_, i) => primaryFromSeed(seedFor(`blocked ${i}`)));
    await phone.convo.blocks.replace(many);
    expect(await phone.convo.setBlocked(bp, true)).toBe(BLOCK_LIST_FULL);
    expect(phone.convo.blocked(bp)).toBe(false);
    expect(phone.convo.blocks.list).toEqual(many);
  });

  it('re-posts a snapshot older than a day at load: same id and sent_at, then a new stamp after 6 days', async () => {
    const kv = memoryKV();
    let now = new Date('2026-05-25T03:00:00Z');
    const bp = primaryFromSeed(bobSeed);
    const chat = { closed: false, now: () => now, conversations: () => [] } as unknown as ChatAccess;
    const make = () => new SettingsSync({ chat, kv, key: 'k', own: primaryFromSeed(aliceSeed), blocked: () => [bp], replaceBlocked: async () => {} });
    const first = make();
    await first.load();
    expect(await first.stale()).toBeNull(); // nothing ever synced: nothing to re-post
    const m = await first.changed();
    expect(m.sent_at).toBe('2026-05-25T03:00:00Z');
    // A second change in the same second is still later (never a race on the random id).
    const m2 = await first.changed();
    expect(later(m2, m)).toBe(true);
    const again = make();
    await again.load();
    expect(await again.stale()).toBeNull(); // fresh
    now = new Date(Date.parse(m2.sent_at) + REPOST_AFTER_MS + 1000);
    expect(await again.stale()).toEqual(m2);
    now = new Date(Date.parse(m2.sent_at) + KEEP_STAMP_MS + 1000);
    const fresh = await again.stale();
    expect(fresh?.id).not.toBe(m2.id);
    expect(fresh?.sent_at).toBe(now.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    expect(fresh?.body).toBe(m2.body);
  });
});
