// The sender's pacing decisions (SPEC §13 client behaviour).
import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/lib/api';
import { PublishError } from '../src/lib/nostr/transport';
import {
  afterFailure,
  backoffMs,
  BACKOFF_MAX_MS,
  bucketsFor,
  MAX_ATTEMPTS,
  NOSTR_CHUNKS_PER_SEC,
  SERVER_CHUNKS_PER_MIN,
  takeAll,
  TokenBucket,
} from '../src/lib/attachments/pacer';

describe('afterFailure', () => {
  it('429 waits Retry-After', () => {
    expect(afterFailure(new ApiError(429, 'rate_limited', '', 7), 1)).toMatchObject({ retry: true, ms: 7000 });
  });
  it('507, 5xx, network and relays back off, doubling to a cap', () => {
    for (const e of [new ApiError(507, 'mailbox_full', ''), new ApiError(503, 'x', ''), new ApiError(0, 'network', ''), new PublishError([])]) {
      const d1 = afterFailure(e, 1);
      const d3 = afterFailure(e, 3);
      expect(d1.retry && d3.retry).toBe(true);
      if (d1.retry && d3.retry) expect(d3.ms).toBe(4 * d1.ms);
    }
    expect(backoffMs(100)).toBe(BACKOFF_MAX_MS);
    const w = afterFailure(new ApiError(507, 'mailbox_full', ''), 1);
    expect(w.retry && w.waiting).toMatch(/mailbox/);
  });
  it('gives up on final errors at once, on transient ones after MAX_ATTEMPTS', () => {
    expect(afterFailure(new ApiError(413, 'payload_too_large', ''), 1).retry).toBe(false);
    expect(afterFailure(new ApiError(404, 'unknown_recipient', ''), 1).retry).toBe(false);
    expect(afterFailure(new ApiError(429, 'rate_limited', '', 1), MAX_ATTEMPTS - 1).retry).toBe(true);
    expect(afterFailure(new ApiError(429, 'rate_limited', '', 1), MAX_ATTEMPTS).retry).toBe(false);
  });
});

describe('token buckets', () => {
  it('a burst of `capacity`, then one per refill interval', () => {
    let now = 0;
    const b = new TokenBucket(3, 60, () => now);
    expect([b.take(), b.take(), b.take()]).toEqual([0, 0, 0]);
    expect(b.take()).toBe(1000);
    now = 1000;
    expect(b.take()).toBe(1000); // the token refilled meanwhile went to the previous take
    now = 10_000;
    expect(b.take()).toBe(0);
  });

  it('server: SERVER_CHUNKS_PER_MIN; nostr: NOSTR_CHUNKS_PER_SEC; both: the stricter wait of the two', () => {
    const now = () => 0;
    const server = bucketsFor('server', now);
    const waits = Array.from({ length: SERVER_CHUNKS_PER_MIN + 1 }, () => takeAll(server));
    expect(waits.slice(0, -1).every((w) => w === 0)).toBe(true);
    expect(waits.at(-1)).toBe(60_000 / SERVER_CHUNKS_PER_MIN);
    const nostr = bucketsFor('nostr', now);
    for (let i = 0; i < NOSTR_CHUNKS_PER_SEC; i++) expect(takeAll(nostr)).toBe(0);
    expect(takeAll(nostr)).toBe(1000 / NOSTR_CHUNKS_PER_SEC);
    const both = bucketsFor('both', now);
    expect(both).toHaveLength(2);
    for (let i = 0; i < NOSTR_CHUNKS_PER_SEC; i++) takeAll(both);
    expect(takeAll(both)).toBe(1000 / NOSTR_CHUNKS_PER_SEC);
  });
});
