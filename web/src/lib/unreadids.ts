// Which received messages a conversation's unread count stands for (SPEC
// §8.6 "Own devices"), in memory only: the ids counted since load, newest
// last, per conversation. A `read` from another own device is matched
// against them without opening the thread, and the count it leaves is exact
// even when some arrivals were not counted (arrived deleted, muted, or while
// the thread was open). Counts from before the load are matched once per
// conversation against its stored thread (the caller's `fill`).

/** Ids kept per conversation (the newest): a count above it is matched on what is kept. */
export const MAX_UNREAD_IDS = 500;
/** Conversations tracked at once (the one tracked longest goes first). */
export const MAX_UNREAD_PEERS = 200;

interface Track {
  /** Counted ids, newest last. */
  ids: string[];
  /** Whether `ids` holds every counted message (since load, or filled from the thread). */
  full: boolean;
}

/** The ids behind each conversation's unread count, as far as this session saw them counted. */
export class UnreadIds {
  readonly #m = new Map<string, Track>();

  /** A message `id` from `peer` arrived; `counted` when it raised the unread count to `unread`. */
  arrived(peer: string, id: string, counted: boolean, unread: number): void {
    if (!counted) return;
    const t = this.#m.get(peer) ?? { ids: [], full: unread === 1 };
    this.#m.delete(peer);
    t.ids.push(id);
    if (t.ids.length > MAX_UNREAD_IDS) t.ids = t.ids.slice(-MAX_UNREAD_IDS);
    this.#m.set(peer, t);
    while (this.#m.size > MAX_UNREAD_PEERS) this.#m.delete(this.#m.keys().next().value!);
  }

  /** The count went to 0 (the thread was opened), or the conversation is gone. */
  cleared(peer: string): void {
    this.#m.delete(peer);
  }

  /** The ids behind a count of `unread`, when every one of them is known; else null. */
  ids(peer: string, unread: number): string[] | null {
    const t = this.#m.get(peer);
    return t && (t.full || t.ids.length >= unread) ? t.ids.slice(-unread) : null;
  }

  /** Whether a read not matched here might name a message counted before the load (the thread must be looked at once). */
  needsFill(peer: string, unread: number): boolean {
    const t = this.#m.get(peer);
    return unread > 0 && !(t && (t.full || t.ids.length >= unread));
  }

  /** The ids behind the count as the stored thread gives them (newest last): tracked as complete from now on. */
  fill(peer: string, ids: readonly string[]): void {
    this.#m.set(peer, { ids: ids.slice(-MAX_UNREAD_IDS), full: true });
  }

  /**
   * A `read` from another own device names `named`: the count left of
   * `unread` (the counted messages after the newest one named), or null
   * when it names none of those known here.
   */
  afterRead(peer: string, named: ReadonlySet<string>, unread: number): number | null {
    const t = this.#m.get(peer);
    if (!t || unread <= 0) return null;
    const recent = t.ids.slice(-unread);
    let last = -1;
    recent.forEach((id, i) => {
      if (named.has(id)) last = i;
    });
    if (last === -1) return null;
    t.ids = recent.slice(last + 1);
    t.full = true;
    return t.ids.length;
  }
}
