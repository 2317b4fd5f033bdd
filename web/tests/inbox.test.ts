import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InboxConnection, type LiveStatus } from '../src/lib/inbox';
import type { InboxItem } from '../src/lib/api';

class FakeES {
  static all: FakeES[] = [];
  listeners: Record<string, ((ev: any) => void)[]> = {};
  closed = false;
  constructor(public url: string) {
    FakeES.all.push(this);
  }
  addEventListener(t: string, fn: (ev: any) => void) {
    (this.listeners[t] ??= []).push(fn);
  }
  emit(t: string, ev: any = {}) {
    for (const fn of this.listeners[t] ?? []) fn(ev);
  }
  close() {
    this.closed = true;
  }
}

describe('InboxConnection', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeES.all = [];
  });
  afterEach(() => vi.useRealTimers());

  function make(seqRef: { v: number }, polled: InboxItem[][] = []) {
    const statuses: LiveStatus[] = [];
    const got: InboxItem[] = [];
    let n = 0;
    const polls: number[] = [];
    const conn = new InboxConnection({
      streamUrl: (since) => `/stream?auth=${++n}&since=${since}`,
      poll: async (since) => {
        polls.push(since);
        const messages = polled.shift() ?? [];
        return { messages, next: messages.length ? messages[messages.length - 1].seq : null };
      },
      lastSeq: () => seqRef.v,
      onItems: (items) => {
        got.push(...items);
        seqRef.v = Math.max(seqRef.v, ...items.map((i) => i.seq));
      },
      onStatus: (s) => statuses.push(s),
      EventSource: FakeES as unknown as typeof EventSource,
    });
    return { conn, statuses, got, polls };
  }

  it('goes live, delivers events, reconnects after 3 s with fresh auth and since', async () => {
    const seq = { v: 4 };
    const { conn, statuses, got } = make(seq);
    conn.start();
    expect(statuses).toEqual(['connecting']);
    expect(FakeES.all[0].url).toBe('/stream?auth=1&since=4');
    FakeES.all[0].emit('open');
    expect(statuses.at(-1)).toBe('live');
    FakeES.all[0].emit('message', { data: JSON.stringify({ seq: 5, id: 'a', envelope: {}, received_at: '' }) });
    expect(got.map((g) => g.seq)).toEqual([5]);

    FakeES.all[0].emit('error');
    expect(FakeES.all[0].closed).toBe(true);
    expect(statuses.at(-1)).toBe('reconnecting');
    vi.advanceTimersByTime(2_999);
    expect(FakeES.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeES.all).toHaveLength(2);
    expect(FakeES.all[1].url).toBe('/stream?auth=2&since=5');
    // events from the old source are ignored
    FakeES.all[0].emit('message', { data: JSON.stringify({ seq: 9, id: 'z', envelope: {}, received_at: '' }) });
    expect(got).toHaveLength(1);
    FakeES.all[1].emit('open');
    expect(statuses.at(-1)).toBe('live');
    conn.stop();
    expect(FakeES.all[1].closed).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(FakeES.all).toHaveLength(2);
  });

  it('pauses instead of reconnecting when a newer tab displaces the stream, and resumes on demand', async () => {
    const seq = { v: 1 };
    const { conn, statuses, polls } = make(seq);
    conn.start();
    FakeES.all[0].emit('open');
    FakeES.all[0].emit('close', { data: '{"reason":"stream_limit"}' });
    expect(FakeES.all[0].closed).toBe(true);
    expect(statuses.at(-1)).toBe('paused');
    // No reconnect storm between tabs: nothing re-opens by itself...
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeES.all).toHaveLength(1);
    // ...but the polling heartbeat goes on.
    expect(polls).toEqual([1, 1]);
    // Looking at the tab again goes live.
    conn.resume();
    expect(statuses.at(-1)).toBe('connecting');
    expect(FakeES.all).toHaveLength(2);
    FakeES.all[1].emit('open');
    expect(statuses.at(-1)).toBe('live');
    conn.resume(); // not displaced: a no-op
    expect(FakeES.all).toHaveLength(2);
    conn.stop();
  });

  it('says "connecting" (not "reconnecting") until the first successful open', () => {
    const { conn, statuses } = make({ v: 0 });
    conn.start();
    FakeES.all[0].emit('error');
    expect(statuses).toEqual(['connecting', 'connecting']);
    conn.stop();
  });

  it('polls every 30 s from the last seq', async () => {
    const seq = { v: 2 };
    const { conn, polls, got } = make(seq, [[{ seq: 3, id: 'b', envelope: {}, received_at: '' }]]);
    conn.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(polls).toEqual([2]);
    expect(got.map((g) => g.seq)).toEqual([3]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(polls).toEqual([2, 3]);
    conn.stop();
  });
});
