// A stream whose socket died without an error reaching the EventSource (the
// network went away, a laptop slept) must not go on saying "live": the
// browser going offline, or a poll that cannot reach the server while the
// stream looks open, drops it as an error would (new-user trial, TODO #213).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { makeInbox } from './inbox-fixture';
import { FakeEventSource as FakeES } from './helpers';

describe('InboxConnection on a dead connection', () => {
  let win: EventTarget;
  beforeEach(() => {
    vi.useFakeTimers();
    FakeES.all = [];
    win = new EventTarget();
    vi.stubGlobal('window', win);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it('drops the stream when the browser goes offline, and opens one at once when it is back', async () => {
    const seq = { v: 7 };
    const { conn, statuses, polls } = makeInbox(seq);
    conn.start();
    FakeES.all[0].emit('open');
    expect(statuses.at(-1)).toBe('live');

    win.dispatchEvent(new Event('offline'));
    expect(FakeES.all[0].closed).toBe(true);
    expect(statuses.at(-1)).toBe('reconnecting');

    win.dispatchEvent(new Event('online'));
    expect(FakeES.all).toHaveLength(2);
    expect(FakeES.all[1].url).toBe('/stream?auth=2&since=7');
    await vi.advanceTimersByTimeAsync(0);
    expect(polls).toEqual([7]);
    FakeES.all[1].emit('open');
    expect(statuses.at(-1)).toBe('live');
    // The reconnect the offline drop scheduled does not open a third.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeES.all).toHaveLength(2);

    conn.stop();
    win.dispatchEvent(new Event('offline'));
    win.dispatchEvent(new Event('online'));
    expect(FakeES.all).toHaveLength(2);
  });

  it('drops a stream that looks open when a poll cannot reach the server', async () => {
    const unreachable = new ApiError(0, 'network', 'network error');
    const { conn, statuses } = makeInbox({ v: 0 }, [unreachable]);
    conn.start();
    FakeES.all[0].emit('open');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(FakeES.all[0].closed).toBe(true);
    expect(statuses.at(-1)).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(FakeES.all).toHaveLength(2);
    FakeES.all[1].emit('open');
    expect(statuses.at(-1)).toBe('live');
    conn.stop();
  });

  it('keeps a live stream when a poll is refused for another reason', async () => {
    const { conn, statuses } = makeInbox({ v: 0 }, [new ApiError(503, 'unavailable', '')]);
    conn.start();
    FakeES.all[0].emit('open');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(FakeES.all[0].closed).toBe(false);
    expect(statuses.at(-1)).toBe('live');
    conn.stop();
  });
});
