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
import { later } from '../src/lib/settingsync';
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
    const posts = acksTo(server, 'bob');

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
    expect(posts).toBeGreaterThan(0);
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
});
