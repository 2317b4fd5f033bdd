import { describe, expect, it } from 'vitest';
import { memoryKV } from '../src/lib/kv';
import { BackupStore, backupFileName, backupFileText } from '../src/lib/backup';
import { primaryFromSeed, seedToPhrase } from '../src/lib/identity';
import { seedFor } from './helpers';

const seed = seedFor('backup-user');
const primary = primaryFromSeed(seed);

describe('backup reminder state', () => {
  it('no record: not pending (older identities, restores)', async () => {
    expect(await new BackupStore(memoryKV()).isPending(primary)).toBe(false);
  });

  it('Later sets it, per identity; done clears it and keeps the dates', async () => {
    const kv = memoryKV();
    const s = new BackupStore(kv);
    await s.defer(primary, new Date('2026-11-30T01:00:00Z'));
    expect(await s.isPending(primary)).toBe(true);
    expect(await s.isPending(primaryFromSeed(seedFor('other')))).toBe(false);
    await s.done(primary, 'saved', new Date('2026-11-30T02:00:00Z'));
    expect(await s.isPending(primary)).toBe(false);
    expect(kv.map.get(`backup:${primary}`)).toEqual({
      v: 1,
      pending: false,
      deferred_at: '2026-11-30T01:00:00.000Z',
      done_at: '2026-11-30T02:00:00.000Z',
      how: 'saved',
    });
    // Not secret: the record holds no words.
    const words = seedToPhrase(seed).split(' ');
    expect(JSON.stringify(kv.map.get(`backup:${primary}`))).not.toContain(words[0] + ' ' + words[1]);
  });
});

describe('backup download', () => {
  it('file name from the handle, else the key; only safe characters', () => {
    expect(backupFileName('alice', primary)).toBe('kez-recovery-alice.txt');
    expect(backupFileName(null, primary)).toBe(`kez-recovery-${primary.slice(8, 16)}.txt`);
    expect(backupFileName('../Evil/x', null)).toBe('kez-recovery-evilx.txt');
  });

  it('content is one line of what it is and the 24 words, nothing else', () => {
    const phrase = seedToPhrase(seed);
    const text = backupFileText(phrase);
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^kez-chat recovery phrase \(24 words\)/);
    expect(lines[1]).toBe(phrase);
    expect(lines[2]).toBe('');
    expect(text).not.toContain('ed25519:');
  });
});
