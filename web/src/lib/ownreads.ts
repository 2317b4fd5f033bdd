// The STORED own `read` (SPEC §8.6 "Own devices"), kept cheap. Every batch
// of reading already goes EPHEMERAL to the live own devices; this is only
// for the devices closed now or restored later, which catch up from the own
// mailbox. A stored post counts against the device network's sender share of
// the own mailbox (§7.5), with the self-copies: one per batch would double a
// heavy user's own posts. So per conversation it names only the NEWEST
// message read there (the receiving rule lowers the count to what came after
// it), at most once per OWN_READ_STORE_MS while reading goes on, and at once
// when the page is hidden or the thread is left. Pending state is in memory
// only: never retried, never kept in IndexedDB, dropped with the conversation.

/** How long after the first read not yet stored the stored own `read` goes out. */
export const OWN_READ_STORE_MS = 30_000;

interface Pending {
  /** The newest message read in the conversation, not yet named by a stored `read`. */
  id: string;
  timer: ReturnType<typeof setTimeout>;
}

/** The pending stored own `read`s, one per conversation; `send(peer, id)` posts one naming `id`. */
export class StoredOwnReads {
  readonly #send: (peer: string, id: string) => void;
  readonly #pending = new Map<string, Pending>();
  /** Hiding the page flushes: a tab closed or frozen next would lose what is pending. */
  readonly #onVisibility = (): void => {
    if (document.visibilityState === 'hidden') this.flush();
  };

  constructor(send: (peer: string, id: string) => void) {
    this.#send = send;
    if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this.#onVisibility);
  }

  /** `id` (the newest message read now in `peer`'s conversation) is to be stored; the 30 s start at the first one pending. */
  read(peer: string, id: string): void {
    const p = this.#pending.get(peer);
    if (p) p.id = id;
    else this.#pending.set(peer, { id, timer: setTimeout(() => this.#flushOne(peer), OWN_READ_STORE_MS) });
  }

  /** Post every pending one now (page hidden, thread left), except `keep`'s (the thread still open). */
  flush(keep?: string): void {
    for (const peer of [...this.#pending.keys()]) if (peer !== keep) this.#flushOne(peer);
  }

  /** The conversation was deleted: what was read there is not told. */
  drop(peer: string): void {
    clearTimeout(this.#pending.get(peer)?.timer);
    this.#pending.delete(peer);
  }

  /** Locking: nothing pending is sent, no timer or listener left behind. */
  close(): void {
    for (const peer of [...this.#pending.keys()]) this.drop(peer);
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this.#onVisibility);
  }

  #flushOne(peer: string): void {
    const p = this.#pending.get(peer);
    if (!p) return;
    this.drop(peer);
    this.#send(peer, p.id);
  }
}
