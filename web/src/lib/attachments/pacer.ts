// How fast chunks go out, and what a failed chunk post leads to (SPEC §13
// client behaviour). Pure decisions plus a small token bucket; the sender
// (transfers.ts) sleeps as told.
import { ApiError } from '../api';
import { PublishError } from '../nostr/firstok';

/**
 * Chunks per minute on the server transport, and the burst: a sixth of the
 * server's default per-IP bucket for silent posts (240/min, §7.5), so
 * receipts, and others sending files behind the same address, still get
 * through while a file goes out. A 2 MB photo (26 chunks)
 * leaves in one burst; a 10 MiB file takes about 3 minutes.
 */
export const SERVER_CHUNKS_PER_MIN = 40;
/** Events per second over nostr (relays throttle faster publishers; the seed found ~5/s safe). */
export const NOSTR_CHUNKS_PER_SEC = 5;
/** Failed attempts in a row on one chunk before the transfer stops with a Retry button (the file is kept). */
export const MAX_ATTEMPTS = 12;
/** Backoff after a 507 or a network error: doubling from this… */
export const BACKOFF_MIN_MS = 2_000;
/** …up to this. */
export const BACKOFF_MAX_MS = 60_000;

/** What to do after a chunk post failed. */
export type Decision =
  /** Wait `ms`, then post the same chunk again; `waiting` says why (shown). */
  | { retry: true; ms: number; waiting: string }
  /** Stop: the message shows failed (Retry continues where it stopped). */
  | { retry: false; error: string };

/** Exponential backoff for attempt n (1-based), capped. */
export function backoffMs(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, attempt - 1));
}

/**
 * After attempt `attempt` (1-based) of a chunk failed with `e`: 429 waits
 * its Retry-After; 507 (mailbox or disk full: the recipient has to fetch
 * first), network errors, 5xx and relays refusing back off; anything else
 * (404, 413, 422) is final. After MAX_ATTEMPTS the transfer stops, never
 * drops: the Retry button picks it up.
 */
export function afterFailure(e: unknown, attempt: number): Decision {
  const error = e instanceof Error ? e.message : String(e);
  if (attempt >= MAX_ATTEMPTS) return { retry: false, error };
  if (e instanceof PublishError) return { retry: true, ms: backoffMs(attempt), waiting: 'Waiting for the relays…' };
  if (!(e instanceof ApiError)) return { retry: false, error };
  if (e.status === 429) {
    const secs = e.retryAfter && e.retryAfter > 0 ? e.retryAfter : backoffMs(attempt) / 1000;
    return { retry: true, ms: Math.min(BACKOFF_MAX_MS, secs * 1000), waiting: 'Waiting (sending too fast)…' };
  }
  if (e.status === 507) return { retry: true, ms: backoffMs(attempt), waiting: 'Waiting for room in their mailbox…' };
  if (e.status === 0 || e.status >= 500) return { retry: true, ms: backoffMs(attempt), waiting: 'Waiting for the connection…' };
  return { retry: false, error };
}

/**
 * A token bucket: `capacity` tokens, refilled at `perMinute`. take()
 * answers how long to wait before the token it took is there (0 = now).
 */
export class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    readonly capacity: number,
    readonly perMinute: number,
    readonly now: () => number = () => Date.now(),
  ) {
    this.#tokens = capacity;
    this.#at = now();
  }

  take(): number {
    const t = this.now();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((t - this.#at) * this.perMinute) / 60_000);
    this.#at = t;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 60_000) / this.perMinute);
  }
}

/** The buckets a chunk post takes a token from, for transport `server`/`nostr`/`both` (both: each). */
export function bucketsFor(transport: 'server' | 'nostr' | 'both', now?: () => number): TokenBucket[] {
  const out: TokenBucket[] = [];
  if (transport !== 'nostr') out.push(new TokenBucket(SERVER_CHUNKS_PER_MIN, SERVER_CHUNKS_PER_MIN, now));
  if (transport !== 'server') out.push(new TokenBucket(NOSTR_CHUNKS_PER_SEC, NOSTR_CHUNKS_PER_SEC * 60, now));
  return out;
}

/** Take a token from each bucket: the wait before posting (the longest of them). */
export function takeAll(buckets: readonly TokenBucket[]): number {
  return Math.max(0, ...buckets.map((b) => b.take()));
}
