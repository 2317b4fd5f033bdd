// One KV record written in order from a list in memory (src/lib/recordwrites.ts).
import { describe, expect, it, vi } from 'vitest';
import { memoryKV } from '../src/lib/kv';
import { RecordWrites } from '../src/lib/recordwrites';

describe('RecordWrites', () => {
  it('writes the state current at its turn, in order; undefined deletes; skip writes nothing', async () => {
    const kv = memoryKV();
    let list = [1];
    let closed = false;
    const w = new RecordWrites(kv, 'rec', 'test record', () => closed);
    const first = w.write(() => (list.length ? { list } : undefined));
    list = [1, 2];
    await first;
    expect(await kv.get('rec')).toEqual({ list: [1, 2] });
    list = [];
    await w.write(() => (list.length ? { list } : undefined));
    expect(await kv.get('rec')).toBeUndefined();
    closed = true;
    await w.write(() => ({ list: [9] }));
    expect(await kv.get('rec')).toBeUndefined();
  });

  it('logs a storage error and goes on with the next write', async () => {
    const kv = memoryKV();
    const set = kv.set.bind(kv);
    let fail = true;
    kv.set = async (k: string, v: unknown) => {
      if (fail) throw new Error('quota');
      return set(k, v);
    };
    const log = vi.spyOn(console, 'debug').mockImplementation(() => {});
    const w = new RecordWrites(kv, 'rec', 'test record');
    await expect(w.write(() => ({ a: 1 }))).resolves.toBeUndefined();
    expect(log).toHaveBeenCalledWith('test record not saved:', expect.any(Error));
    fail = false;
    await w.write(() => ({ a: 2 }));
    expect(await kv.get('rec')).toEqual({ a: 2 });
    log.mockRestore();
  });
});
