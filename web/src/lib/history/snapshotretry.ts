// When a settings snapshot (SPEC §8.7) whose post failed is tried again, in
// memory (history/snapshotretry.ts; named copyretry.ts while self-copies,
// SPEC §8.3, used it: they are a persisted queue now, copyqueue.ts). Apart from selfcopy.ts, which the
// envelope opener imports: this one needs the network errors.
import { ApiError } from '../api';
import { PublishError } from '../nostr/firstok';

/** Tries of one snapshot's post after the first (transient errors only). */
export const SNAPSHOT_RETRIES = 3;
/** Longest wait before a retry (ms), whatever Retry-After says. */
export const MAX_SNAPSHOT_WAIT_MS = 60_000;

/**
 * How long to wait before trying a snapshot again after `e` on try
 * `attempt` (0-based), or null to give up: only errors that may pass (no
 * connection, 429, 5xx incl. 507, no relay), at most SNAPSHOT_RETRIES times,
 * after the server's Retry-After when it gave one, else 2, 4, 8 s.
 */
export function snapshotRetryDelay(e: unknown, attempt: number): number | null {
  if (attempt >= SNAPSHOT_RETRIES) return null;
  const transient = e instanceof PublishError || (e instanceof ApiError && (e.status === 0 || e.status === 429 || e.status >= 500));
  if (!transient) return null;
  const ra = e instanceof ApiError ? e.retryAfter : undefined;
  return Math.min(ra !== undefined && ra > 0 ? ra * 1000 : 2000 * 2 ** attempt, MAX_SNAPSHOT_WAIT_MS);
}
