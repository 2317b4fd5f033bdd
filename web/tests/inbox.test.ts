import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InboxConnection, RELEASE_AT_PERCENT, type LiveStatus } from '../src/lib/inbox';
import { makeInbox as make } from './inbox-fixture';
import { ApiError, releaseInbox, type InboxItem } from '../src/lib/api';
import { releaseSignedString } from '../src/lib/auth';

import { FakeEventSource as FakeES } from './helpers';

describe('InboxConnection', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeES.all = [];
  });
  afterEach(() => vi.useRealTimers());

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

  it('backs off reconnects from 3 s doubling to 60 s, and starts again at 3 s after a stream opens', async () => {
    const { conn } = make({ v: 0 });
    conn.start();
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      const n = FakeES.all.length;
      FakeES.all[n - 1].emit('error');
      let waited = 0;
      while (FakeES.all.length === n) {
        await vi.advanceTimersByTimeAsync(1_000);
        waited += 1_000;
      }
      waits.push(waited);
    }
    expect(waits).toEqual([3_000, 6_000, 12_000, 24_000, 48_000, 60_000, 60_000]);
    FakeES.all.at(-1)!.emit('open');
    FakeES.all.at(-1)!.emit('error');
    const n = FakeES.all.length;
    await vi.advanceTimersByTimeAsync(3_000);
    expect(FakeES.all).toHaveLength(n + 1);
    conn.stop();
  });

  it('reports auth_failed when the inbox refuses the signature (401), and reconnects at once when it is accepted again', async () => {
    const stale = () => new ApiError(401, 'stale_auth', '');
    const { conn, statuses, errors } = make({ v: 0 }, [stale(), stale()]);
    conn.start();
    FakeES.all[0].emit('error'); // EventSource can't tell a 401 from a dropped connection
    await vi.advanceTimersByTimeAsync(0);
    expect(statuses.at(-1)).toBe('auth_failed');
    expect(errors[0]).toBeInstanceOf(ApiError);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(FakeES.all).toHaveLength(2);
    FakeES.all[1].emit('error');
    await vi.advanceTimersByTimeAsync(0);
    // Not flickering back to "connecting" on every attempt.
    expect(statuses).toEqual(['connecting', 'connecting', 'auth_failed', 'auth_failed']);
    // The clock was fixed: the next poll works and the stream re-opens without waiting 6 s.
    await conn.pollNow();
    expect(statuses.at(-1)).toBe('connecting');
    expect(FakeES.all).toHaveLength(3);
    FakeES.all[2].emit('open');
    expect(statuses.at(-1)).toBe('live');
    conn.stop();
  });

  it('polls every 30 s from the last seq', async () => {
    const seq = { v: 2 };
    const { conn, polls, got } = make(seq, [[{ seq: 3, id: 'b', envelope: {}, received_at: '' }]]);
    conn.start();
    await vi.advanceTimersByTimeAsync(30_000);
    // A page may end early by bytes (SPEC §7.3), so it asks again until empty.
    expect(polls).toEqual([2, 3]);
    expect(got.map((g) => g.seq)).toEqual([3]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(polls).toEqual([2, 3, 3]);
    conn.stop();
  });

  it('keeps polling past a short page until one comes back empty', async () => {
    const seq = { v: 0 };
    const page = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ seq: from + i, id: `m${from + i}`, envelope: {}, received_at: '' }));
    const { conn, polls, got } = make(seq, [page(1, 17), page(18, 3)]);
    conn.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(polls).toEqual([0, 17, 20]);
    expect(got.map((g) => g.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    conn.stop();
  });

  it('hands a burst of stream events over as one batch, and the next burst as another', async () => {
    const batches: number[][] = [];
    const conn = new InboxConnection({
      streamUrl: (since) => `/stream?since=${since}`,
      poll: async () => ({ messages: [], next: null }),
      lastSeq: () => 0,
      rewind: () => {},
      onItems: (items) => void batches.push(items.map((i) => i.seq)),
      onStatus: () => {},
      EventSource: FakeES as unknown as typeof EventSource,
    });
    FakeES.all = [];
    conn.start();
    const es = FakeES.all[0];
    const ev = (seq: number) => ({ data: JSON.stringify({ seq, id: `m${seq}`, envelope: {}, received_at: '' }) });
    for (const seq of [1, 2, 3]) es.emit('message', ev(seq));
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(20);
    expect(batches).toEqual([[1, 2, 3]]);
    es.emit('message', ev(4));
    await vi.advanceTimersByTimeAsync(20);
    expect(batches).toEqual([[1, 2, 3], [4]]);
    // A stream error hands over what was collected at once.
    es.emit('message', ev(5));
    es.emit('error');
    expect(batches.at(-1)).toEqual([5]);
    conn.stop();
  });

  it('rewinds a cursor ahead of the mailbox on a poll to 0 and asks again from there (SPEC §7.3)', async () => {
    // The server was restored from an older copy: its mailbox ends at 3, our
    // cursor is at 9, and seqs up to 3 may hold messages we never saw.
    const seq = { v: 9 };
    const polls: number[] = [];
    const got: number[] = [];
    const at = (n: number) => ({ seq: n, id: `n${n}`, envelope: {}, received_at: '' });
    const pages = [
      { messages: [], next: null, newest: 3 },
      { messages: [at(1), at(2), at(3)], next: 3, newest: 3 },
      { messages: [], next: null, newest: 3 },
    ];
    const rewinds: number[] = [];
    const conn = new InboxConnection({
      streamUrl: (since) => `/stream?since=${since}`,
      poll: async (since) => (polls.push(since), pages.shift() ?? { messages: [], next: null, newest: 3 }),
      lastSeq: () => seq.v,
      rewind: (newest) => void (rewinds.push(newest), (seq.v = 0)),
      onItems: (items) => {
        got.push(...items.map((i) => i.seq));
        seq.v = Math.max(seq.v, ...items.map((i) => i.seq));
      },
      onStatus: () => {},
      EventSource: FakeES as unknown as typeof EventSource,
    });
    conn.start();
    await conn.pollNow();
    expect(rewinds).toEqual([3]);
    expect(polls).toEqual([9, 0, 3]);
    expect(got).toEqual([1, 2, 3]);
    expect(seq.v).toBe(3);
    conn.stop();
  });

  it('on a stream reset, drops that stream, rewinds to 0 and streams again from 0 (SPEC §7.4)', async () => {
    const seq = { v: 9 };
    const { conn, got } = make(seq);
    conn.start();
    const es = FakeES.all[0];
    es.emit('open');
    es.emit('reset', { data: '{"newest":3}' });
    expect(es.closed).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(seq.v).toBe(0);
    // The old stream went on from 3: whatever it still says is ignored.
    es.emit('message', { data: JSON.stringify({ seq: 4, id: 'n4', envelope: {}, received_at: '' }) });
    expect(got).toEqual([]);
    expect(FakeES.all).toHaveLength(2);
    const again = FakeES.all[1];
    expect(again.url).toMatch(/since=0$/);
    again.emit('open');
    again.emit('message', { data: JSON.stringify({ seq: 2, id: 'n2', envelope: {}, received_at: '' }) });
    expect(got.map((g) => g.seq)).toEqual([2]);
    // A malformed reset changes nothing.
    again.emit('reset', { data: '{"newest":-1}' });
    again.emit('reset', { data: 'nope' });
    expect(again.closed).toBe(false);
    expect(seq.v).toBe(2);
    conn.stop();
  });

  /** A connection whose polls say the mailbox is `state.used` % full. */
  function makeReleasing(state: { used: number; fail: boolean }) {
    const seq = { v: 0 };
    const released: number[] = [];
    const item = (n: number) => ({ seq: n, id: `m${n}`, envelope: {}, received_at: '' });
    const pages = [{ messages: [item(1), item(2)], next: 2, newest: 2 }];
    const conn = new InboxConnection({
      streamUrl: (since) => `/stream?since=${since}`,
      poll: async () => ({ ...(pages.shift() ?? { messages: [], next: null, newest: seq.v }), used_percent: state.used }),
      lastSeq: () => seq.v,
      rewind: () => {},
      onItems: (items) => void (seq.v = Math.max(seq.v, ...items.map((i) => i.seq))),
      release: async (through) => {
        released.push(through);
        if (state.fail) throw new Error('offline');
      },
      onStatus: () => {},
      EventSource: FakeES as unknown as typeof EventSource,
      batchMs: 0,
    });
    FakeES.all = [];
    conn.start();
    const message = async (n: number) => {
      FakeES.all[0].emit('message', { data: JSON.stringify(item(n)) });
      await vi.advanceTimersByTimeAsync(0);
    };
    return { conn, released, message };
  }

  it(`never releases below ${RELEASE_AT_PERCENT} % full, so every device of the identity keeps getting everything`, async () => {
    const state = { used: RELEASE_AT_PERCENT - 1, fail: false };
    const { conn, released, message } = makeReleasing(state);
    await conn.pollNow();
    await message(3);
    await conn.pollNow();
    await message(4);
    expect(released).toEqual([]);
    // A server that doesn't say how full the mailbox is: never release either.
    state.used = undefined as unknown as number;
    await conn.pollNow();
    await message(5);
    expect(released).toEqual([]);
    conn.stop();
  });

  it(`releases at ${RELEASE_AT_PERCENT} % full or more, after a poll and after stream batches, once per seq, retrying a failed one`, async () => {
    vi.spyOn(console, 'debug').mockImplementation(() => {});
    const state = { used: RELEASE_AT_PERCENT, fail: false };
    const { conn, released, message } = makeReleasing(state);
    await conn.pollNow();
    expect(released).toEqual([2]);
    await conn.pollNow(); // nothing new stored: nothing released again
    expect(released).toEqual([2]);
    state.fail = true;
    await message(3);
    expect(released).toEqual([2, 3]);
    // A failed release is tried again with the next stored batch.
    state.fail = false;
    await message(4);
    expect(released).toEqual([2, 3, 4]);
    // That release made the poll's figure stale: nothing more until a poll says so again.
    await message(5);
    expect(released).toEqual([2, 3, 4]);
    state.used = 20;
    await conn.pollNow();
    expect(released).toEqual([2, 3, 4]);
    state.used = 100;
    await conn.pollNow();
    expect(released).toEqual([2, 3, 4, 5]);
    conn.stop();
  });

  it('releases with a signed DELETE /v1/inbox/{handle}?through=n (SPEC §7.2, §7.5)', async () => {
    const calls: [string, RequestInit | undefined][] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        calls.push([url, init]);
        return new Response('{"deleted":2}', { status: 200, headers: { 'Content-Type': 'application/json' } });
      }),
    );
    try {
      expect(await releaseInbox('bob', 7, '1779678000:ab')).toEqual({ deleted: 2 });
      expect(calls[0][0]).toBe('/v1/inbox/bob?through=7');
      expect(calls[0][1]?.method).toBe('DELETE');
      expect((calls[0][1]?.headers as Record<string, string>)['X-Kez-Auth']).toBe('1779678000:ab');
      expect(releaseSignedString('kez.test', 'bob', 7, 1779678000)).toBe(
        'kez.chat.req.v2\nkez.test\nDELETE\n/v1/inbox/bob\nthrough=7\n1779678000',
      );
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
