// The transport's small bookkeeping (SPEC §12): the replay set, the
// subscription's `since`, relay labels and URL normalisation.
import { normalizeURL } from 'nostr-tools/utils';

/** How far back a relay event may be (s): SPEC §12's two days; events.ts re-exports it. */
export const LOOKBACK_SECS = 172_800;

/** How far before the last seen created_at a (re)subscription starts. */
export const OVERLAP_SECS = 300;
/** Event ids remembered against relays repeating themselves (SPEC §12: at least 10,000). */
export const SEEN_EVENTS = 10_000;

/** The relay's host, for "via relay.x". */
export function relayLabel(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

/** A bounded FIFO set of ids. */
export class BoundedSet {
  readonly #set = new Set<string>();
  constructor(readonly capacity: number) {}
  has(id: string): boolean {
    return this.#set.has(id);
  }
  add(id: string): void {
    if (this.#set.has(id)) return;
    this.#set.add(id);
    if (this.#set.size > this.capacity) {
      const oldest = this.#set.values().next().value;
      if (oldest !== undefined) this.#set.delete(oldest);
    }
  }
  get size(): number {
    return this.#set.size;
  }
}

/** The `since` of a subscription: `last` minus the overlap, never before the 48 h lookback. */
export function subscribeSince(last: number, now: number): number {
  return Math.max(last - OVERLAP_SECS, now - LOOKBACK_SECS, 0);
}

/** nostr-tools' normal form of a relay URL (lowercase host, trailing slash), or the URL itself if it does not parse. */
export function normalize(url: string): string {
  try {
    return normalizeURL(url);
  } catch {
    return url;
  }
}
