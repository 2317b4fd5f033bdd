import { describe, expect, it, vi } from 'vitest';
import { memoryKV } from '../src/lib/kv';
import { sealedKV } from '../src/lib/sealedkv';
import { seedFor } from './helpers';

const secret = { body: 'meet at the old bridge at 9 🌉', peer: 'bob@kez.test' };

describe('sealedKV (chat history at rest)', () => {
  it('round-trips values and stores no plaintext', async () => {
    const raw = memoryKV();
    const kv = sealedKV(raw, seedFor('alice'));
    await kv.set('chat:x:msgs:y', [secret]);
    expect(await kv.get('chat:x:msgs:y')).toEqual([secret]);
    const stored = raw.map.get('chat:x:msgs:y') as { iv: Uint8Array; ct: Uint8Array };
    const bytes = new TextDecoder('utf-8', { fatal: false }).decode(stored.ct);
    expect(bytes).not.toContain('bridge');
    expect(JSON.stringify(raw.map.get('chat:x:msgs:y'))).not.toContain('bob@kez.test');
    expect(stored.iv).toHaveLength(12);
    // A fresh nonce per write.
    await kv.set('chat:x:msgs:y', [secret]);
    expect((raw.map.get('chat:x:msgs:y') as { iv: Uint8Array }).iv).not.toEqual(stored.iv);
  });

  it('reads records it cannot open as missing: other identity, swapped slot, damage', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const raw = memoryKV();
    await sealedKV(raw, seedFor('alice')).set('a', secret);
    expect(await sealedKV(raw, seedFor('mallory')).get('a')).toBeUndefined();
    raw.map.set('b', raw.map.get('a'));
    expect(await sealedKV(raw, seedFor('alice')).get('b')).toBeUndefined();
    const damaged = raw.map.get('a') as { ct: Uint8Array };
    damaged.ct[0] ^= 1;
    expect(await sealedKV(raw, seedFor('alice')).get('a')).toBeUndefined();
  });

  it('reads plaintext left by an older version and seals it on the next write', async () => {
    const raw = memoryKV();
    await raw.set('seq', 42);
    const kv = sealedKV(raw, seedFor('alice'));
    expect(await kv.get('seq')).toBe(42);
    await kv.set('seq', 43);
    expect(raw.map.get('seq')).toMatchObject({ kez_sealed: 1 });
    expect(await kv.get('seq')).toBe(43);
    expect(await kv.get('missing')).toBeUndefined();
  });
});
