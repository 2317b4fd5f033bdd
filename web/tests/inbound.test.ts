// The pure decisions of the inbound side (inbound.ts): inbox order and seq
// skipping (SPEC §7.2), relay event content (SPEC §12), dispatch by sealed
// kind (SPEC §8, §13) and the thread entry of a received message.
import { describe, expect, it } from 'vitest';
import type { InboxItem } from '../src/lib/api';
import { inboxOrder, incomingMessage, nostrEnvelope, routeOf } from '../src/lib/inbound';

const item = (seq: number, tag = ''): InboxItem => ({ seq, id: `m${seq}`, envelope: { tag }, received_at: '2026-01-01T00:00:00Z' });

describe('inboxOrder', () => {
  it('sorts by seq and keeps only seqs above lastSeq', () => {
    expect(inboxOrder([item(7), item(3), item(5), item(2)], 3).map((i) => i.seq)).toEqual([5, 7]);
    expect(inboxOrder([], 0)).toEqual([]);
  });

  it('takes each seq once, the first given', () => {
    const out = inboxOrder([item(4, 'a'), item(2), item(4, 'b')], 0);
    expect(out.map((i) => i.seq)).toEqual([2, 4]);
    expect(out[1].envelope).toEqual({ tag: 'a' });
  });

  it('skips seqs that are not safe integers', () => {
    const bad = [item(1.5), item(Number.NaN), item(2 ** 53), item(-1), item(Infinity)];
    expect(inboxOrder([...bad, item(1)], 0).map((i) => i.seq)).toEqual([1]);
  });

  it('leaves its input as it was', () => {
    const items = [item(2), item(1)];
    inboxOrder(items, 0);
    expect(items.map((i) => i.seq)).toEqual([2, 1]);
  });
});

describe('nostrEnvelope', () => {
  it('parses JSON content, undefined for anything else', () => {
    expect(nostrEnvelope({ content: '{"v":2}' })).toEqual({ v: 2 });
    expect(nostrEnvelope({ content: 'null' })).toBeNull();
    expect(nostrEnvelope({ content: '{"v":' })).toBeUndefined();
    expect(nostrEnvelope({ content: '' })).toBeUndefined();
  });
});

describe('routeOf', () => {
  it('sends acks to the receipts, texts to the thread, every file kind to the attachments', () => {
    expect(routeOf('ack')).toBe('ack');
    expect(routeOf('text')).toBe('text');
    expect(routeOf('file')).toBe('file');
    expect(routeOf('chunk')).toBe('file');
    expect(routeOf('need')).toBe('file');
  });
});

describe('incomingMessage', () => {
  it('writes sent_at as UTC Z, so an offset cannot pin a message to the top', () => {
    const m = incomingMessage({ id: 'x', body: 'hi', sent_at: '2026-01-02T00:30:00+14:00' });
    expect(m).toEqual({ id: 'x', dir: 'in', body: 'hi', sent_at: '2026-01-01T10:30:00Z', status: 'received', acked: false });
  });

  it('shows a file by its visible text and attachment', () => {
    const attachment = { name: 'cat.jpg' } as never;
    const m = incomingMessage({ id: 'y', body: '{"type":"kez-file-v1"}', sent_at: '2026-01-01T00:00:00Z' }, { body: 'cat.jpg', attachment });
    expect(m.body).toBe('cat.jpg');
    expect(m.attachment).toBe(attachment);
  });
});
