// The receiver's pure decisions (SPEC §13 client behaviour): bounds, missing
// chunks, stalls, and assembly in order.
import { describe, expect, it } from 'vitest';
import {
  admitChunk,
  assemble,
  isOrphan,
  isStalled,
  missingChunks,
  noteChunk,
  PEER_BUFFER_BYTES,
  PEER_TRANSFERS,
  POINTERLESS_MS,
  STALL_MS,
  STRANGER_BUFFER_BYTES,
  STRANGER_TRANSFERS,
  TOTAL_TRANSFERS,
  type Transfer,
} from '../src/lib/attachments/assembler';
import { CHUNK_SIZE } from '../src/lib/attachments/body';

const t = (over: Partial<Transfer> = {}): Transfer => ({ peer: 'p', file_id: 'f', count: 3, have: [], bytes: 0, first_at: 0, last_at: 0, ...over });

describe('admitChunk', () => {
  it('takes a new chunk, refuses a duplicate and a count that disagrees', () => {
    const x = t({ have: [0], bytes: CHUNK_SIZE });
    expect(admitChunk([x], 'p', { file_id: 'f', index: 1, count: 3 }, CHUNK_SIZE)).toBeNull();
    expect(admitChunk([x], 'p', { file_id: 'f', index: 0, count: 3 }, CHUNK_SIZE)).toBe('duplicate');
    expect(admitChunk([x], 'p', { file_id: 'f', index: 1, count: 4 }, CHUNK_SIZE)).toBe('count_mismatch');
  });

  it('bounds bytes per peer and transfers per peer and in total', () => {
    const full = t({ bytes: PEER_BUFFER_BYTES - 10 });
    expect(admitChunk([full], 'p', { file_id: 'f', index: 2, count: 3 }, 11)).toBe('peer_bytes');
    expect(admitChunk([full], 'q', { file_id: 'f', index: 2, count: 3 }, 11)).toBeNull();
    const many = Array.from({ length: PEER_TRANSFERS }, (_, i) => t({ file_id: `f${i}` }));
    expect(admitChunk(many, 'p', { file_id: 'new', index: 0, count: 3 }, 1)).toBe('peer_transfers');
    const all = Array.from({ length: TOTAL_TRANSFERS }, (_, i) => t({ peer: `p${i}`, file_id: 'f' }));
    expect(admitChunk(all, 'new', { file_id: 'f', index: 0, count: 3 }, 1)).toBe('total_transfers');
  });
});

describe('strangers (review r12 #5)', () => {
  it('share STRANGER_TRANSFERS transfers and STRANGER_BUFFER_BYTES; contacts keep the rest', () => {
    const xs = Array.from({ length: STRANGER_TRANSFERS }, (_, i) => t({ peer: `s${i}`, stranger: true }));
    expect(admitChunk(xs, 'new', { file_id: 'f', index: 0, count: 3 }, 1, true)).toBe('stranger_transfers');
    expect(admitChunk(xs, 'new', { file_id: 'f', index: 0, count: 3 }, 1)).toBeNull();
    const big = [t({ peer: 's', stranger: true, bytes: STRANGER_BUFFER_BYTES - 5 })];
    expect(admitChunk(big, 's2', { file_id: 'f', index: 0, count: 3 }, 6, true)).toBe('stranger_bytes');
    expect(admitChunk(big, 'c', { file_id: 'f', index: 0, count: 3 }, 6)).toBeNull();
  });

  it('chunks without a pointer expire POINTERLESS_MS after the first, however many follow', () => {
    const p = { msg_id: 'm', size: 3 * CHUNK_SIZE, sha256: '', chunks: 3 };
    expect(isOrphan(t({ first_at: 0, last_at: POINTERLESS_MS }), POINTERLESS_MS + 1)).toBe(true);
    expect(isOrphan(t({ first_at: 0, last_at: 0 }), POINTERLESS_MS)).toBe(false);
    expect(isOrphan(t({ first_at: 0, last_at: 0, pointer: p }), POINTERLESS_MS + 1)).toBe(false);
  });
});

describe('missing chunks and stalls', () => {
  it('lists what is missing, ascending', () => {
    const x = t({ count: 5 });
    for (const i of [4, 0, 2, 2]) noteChunk(x, i, 10, 1);
    expect(x.have).toEqual([0, 2, 4]);
    expect(x.bytes).toBe(30);
    expect(missingChunks(5, x.have)).toEqual([1, 3]);
  });

  it('stalls only with a pointer, incomplete, after STALL_MS without progress (counted from load too)', () => {
    const p = { msg_id: 'm', size: 3 * CHUNK_SIZE, sha256: '', chunks: 3 };
    expect(isStalled(t({ last_at: 0 }), STALL_MS + 1, 0)).toBe(false); // no pointer: nothing to show
    expect(isStalled(t({ pointer: p, last_at: 0 }), STALL_MS, 0)).toBe(false);
    expect(isStalled(t({ pointer: p, last_at: 0 }), STALL_MS + 1, 0)).toBe(true);
    expect(isStalled(t({ pointer: p, last_at: 0 }), STALL_MS + 1, 1000)).toBe(false);
    expect(isStalled(t({ pointer: p, have: [0, 1, 2] }), 10 * STALL_MS, 0)).toBe(false);
  });
});

describe('assemble', () => {
  const file = new Uint8Array(2 * CHUNK_SIZE + 100).map((_, i) => i % 251);
  const parts = [file.slice(0, CHUNK_SIZE), file.slice(CHUNK_SIZE, 2 * CHUNK_SIZE), file.slice(2 * CHUNK_SIZE)];

  it('puts the chunks together in index order', () => {
    const r = assemble(file.length, parts);
    expect(r.ok && r.bytes).toEqual(file);
  });

  it('refuses a missing chunk and wrong sizes', () => {
    expect(assemble(file.length, [parts[0], undefined, parts[2]])).toEqual({ ok: false, reason: 'missing' });
    expect(assemble(file.length, parts.slice(0, 2))).toEqual({ ok: false, reason: 'missing' });
    expect(assemble(file.length, [parts[0], parts[1].slice(1), parts[2]])).toEqual({ ok: false, reason: 'wrong_size' });
    expect(assemble(file.length + 1, parts)).toEqual({ ok: false, reason: 'wrong_size' });
  });
});
