// The peer-profile cache (SPEC §14 client): what each contact published,
// verified against the primary already known and, when a wrap is ours,
// unscrambled. Kept in the identity's sealed KV (§8.2), so the faces of
// contacts are not in clear at rest. An entry is stale after 6 h; a thread
// opening refreshes its peer regardless.
import type { KV } from '../kv';
import { findKey } from './wrap';
import type { ProfilePayload } from './document';

/** An entry older than this is refetched when next shown (milliseconds). */
export const STALE_AFTER_MS = 6 * 3600 * 1000;
/** Most peer entries kept (a bound on the cache, not on contacts). */
export const MAX_PEERS = 2000;

/** What the UI shows for a peer. */
export interface PeerProfile {
  display_name: string | null;
  /** A displayable data URL: the real picture, or the noise when no wrap was ours; null when none. */
  picture: string | null;
  /** false when `picture` is the scrambled noise. */
  clear: boolean;
  /** The document's `updated_at` (null: nothing published). */
  updated_at: string | null;
  /** When this entry was fetched (ms since the epoch). */
  fetched_at: number;
}

/** Whether an entry needs refetching at `now` (ms). */
export function isStale(p: PeerProfile | undefined, now: number): boolean {
  return !p || now - p.fetched_at >= STALE_AFTER_MS || p.fetched_at > now + 60_000;
}

/** The background refresh of a stale entry is spread over this much more (ms, times a per-peer jitter in [0, 1)). */
export const STALE_JITTER_MS = 2 * 3600 * 1000;

/**
 * Whether a background refresh of `p` is due at `now` (ms): missing, or
 * stale by STALE_AFTER_MS plus `jitter` × STALE_JITTER_MS, so the fetches of
 * a user's peers do not go out together (SPEC §14.7).
 */
export function backgroundDue(p: PeerProfile | undefined, now: number, jitter: number): boolean {
  if (!p || p.fetched_at > now + 60_000) return true;
  return now - p.fetched_at >= STALE_AFTER_MS + jitter * STALE_JITTER_MS;
}

/** Turns a published picture into what to show (canvas.ts revealPicture in the browser). */
export type Reveal = (picture: string, key: Uint8Array | null) => Promise<{ url: string; clear: boolean } | null>;

/** Where profiles come from (the home server and/or relays), already verified against the primary. */
export type ProfileSource = (peer: string) => Promise<ProfilePayload | null>;

/** The displayable entry of a verified payload for the reader `seed`. */
export async function toPeerProfile(seed: Uint8Array, p: ProfilePayload | null, reveal: Reveal, now: number): Promise<PeerProfile> {
  if (!p) return { display_name: null, picture: null, clear: true, updated_at: null, fetched_at: now };
  let shown: { url: string; clear: boolean } | null = null;
  if (p.picture) {
    try {
      shown = await reveal(p.picture, findKey(seed, p.visual_keys));
    } catch (e) {
      console.debug('a profile picture could not be shown:', (e as Error).message);
    }
  }
  return { display_name: p.display_name, picture: shown?.url ?? null, clear: shown?.clear ?? true, updated_at: p.updated_at, fetched_at: now };
}

/** The cache: one sealed KV record per peer under `peerprofile:<own primary>:<peer>`. */
export class PeerCache {
  readonly #mem = new Map<string, PeerProfile>();
  constructor(
    readonly kv: KV,
    readonly own: string,
  ) {}

  #key(peer: string): string {
    return `peerprofile:${this.own}:${peer}`;
  }

  async get(peer: string): Promise<PeerProfile | undefined> {
    if (this.#mem.has(peer)) return this.#mem.get(peer);
    const p = await this.kv.get<PeerProfile>(this.#key(peer));
    if (p) this.#remember(peer, p);
    return p;
  }

  async set(peer: string, p: PeerProfile): Promise<void> {
    this.#remember(peer, p);
    await this.kv.set(this.#key(peer), p);
  }

  #remember(peer: string, p: PeerProfile): void {
    this.#mem.delete(peer);
    this.#mem.set(peer, p);
    if (this.#mem.size > MAX_PEERS) {
      const oldest = this.#mem.keys().next().value;
      if (oldest !== undefined) this.#mem.delete(oldest);
    }
  }
}

/**
 * Refresh `peer` from `sources` when stale (or `force`d) and store it: the
 * newest verified document wins; a failing source is skipped. When every
 * source fails, the old entry stays.
 */
export async function refreshPeer(opts: {
  cache: PeerCache;
  seed: Uint8Array;
  peer: string;
  sources: ProfileSource[];
  reveal: Reveal;
  now: number;
  force?: boolean;
}): Promise<PeerProfile | undefined> {
  const old = await opts.cache.get(opts.peer);
  if (!opts.force && !isStale(old, opts.now)) return old;
  const results = await Promise.allSettled(opts.sources.map((s) => s(opts.peer)));
  const ok = results.filter((r): r is PromiseFulfilledResult<ProfilePayload | null> => r.status === 'fulfilled').map((r) => r.value);
  if (!ok.length) return old;
  let best: ProfilePayload | null = null;
  for (const p of ok) if (p && (!best || p.updated_at > best.updated_at)) best = p;
  // Never go back to an older document than the one shown; the same one needs no new reveal.
  if (old && best && old.updated_at && best.updated_at <= old.updated_at) {
    if (best.updated_at < old.updated_at) return old;
    const same = { ...old, fetched_at: opts.now };
    await opts.cache.set(opts.peer, same);
    return same;
  }
  const entry = await toPeerProfile(opts.seed, best, opts.reveal, opts.now);
  await opts.cache.set(opts.peer, entry);
  return entry;
}
