// The replay guard's id list (SPEC §8 `replay`).
import { describe, expect, it } from 'vitest';
import { seal, openEnvelope } from '../src/lib/envelope';
import { primaryFromSeed } from '../src/lib/identity';
import { memoryKV, type KV } from '../src/lib/kv';
import { SEEN_CAPACITY, SeenIds } from '../src/lib/seen';
import { rfc3339 } from '../src/lib/time';
import { aliceSeed, bobSeed } from './chat-fixture';

describe('SeenIds', () => {
  it('remembers 10,000 ids, persisted, FIFO', async () => {
    const kv: KV = memoryKV();
    const seen = new SeenIds(kv, 'seen');
    await seen.load();
    expect(SEEN_CAPACITY).toBeGreaterThanOrEqual(10_000);
    for (let i = 0; i < SEEN_CAPACITY + 5; i++) seen.add(`id-${i}`);
    await seen.flush();
    expect(seen.size).toBe(SEEN_CAPACITY);
    expect(seen.has('id-4')).toBe(false);
    expect(seen.has('id-5')).toBe(true);
    expect(seen.add('id-5')).toBe(false);
    const again = new SeenIds(kv, 'seen');
    await again.load();
    expect(again.has(`id-${SEEN_CAPACITY + 4}`)).toBe(true);
    expect(again.size).toBe(SEEN_CAPACITY);
  });

  it('openEnvelope consults it', () => {
    const bobPrimary = primaryFromSeed(bobSeed);
    const { envelope, message } = seal(aliceSeed, {
      kind: 'text',
      id: 'aaaaaaaaaaaaaaaaaaaaaa',
      from_handle: 'alice@kez.test',
      to: bobPrimary,
      sent_at: rfc3339(),
      body: 'x',
    });
    expect(openEnvelope(bobSeed, envelope, { seen: () => false })).toEqual(message);
    expect(() => openEnvelope(bobSeed, envelope, { seen: (id) => id === message.id })).toThrow('replay');
  });
});
