// The STORED own `read` (SPEC §8.6 "Own devices"), kept cheap. Every batch
// of reading already goes EPHEMERAL to the live own devices; this is only
// for the devices closed now or restored later, which catch up from the own
// mailbox. A stored post counts against the device network's sender share of
// the own mailbox (§7.5), with the self-copies: one per batch (or per thread
// left, in a slow chat one per message) would double a heavy user's own
// posts. So per conversation it names every id read there since the last
// stored one (the newest MAX_ACK_IDS), at most once per OWN_READ_STORE_MS
// (a fallback, trailing from the first read not yet stored), and at once
// when the page is hidden (`visibilitychange`) or closed (`pagehide`), then
// with `keepalive` so the post outlives the page, and when the app locks.
// Pending state is in memory only: never retried, never kept in IndexedDB,
// dropped with the conversation.
import { MAX_ACK_IDS } from './envelope';

/** How long after the first read not yet stored the stored own `read` goes out, unless the page is hidden first. */
export const OWN_READ_STORE_MS = 5 * 60_000;

interface Pending {
  /** The ids read in the conversation not yet named by a stored `read`, oldest first. */
  ids: Set<string>;
  timer: ReturnType<typeof setTimeout>;
}

/** Posts one stored own `read` naming `ids` for `peer`'s conversation; `keepalive` when the page is going away. Settles when the post is done (never rejects). */
export type SendStoredRead = (peer: string, ids: string[], keepalive: boolean) => Promise<void> | void;

/** The pending stored own `read`s, one per conversation. */
export class StoredOwnReads {
  readonly #send: SendStoredRead;
  readonly #pending = new Map<string, Pending>();
  /** Hidden: a tab closed, frozen or discarded next would lose what is pending. */
  readonly #onVisibility = (): void => {
    if (document.visibilityState === 'hidden') this.flush(true);
  };
  /** Closed or navigated away (older Safari fires no `visibilitychange` then). */
  readonly #onPageHide = (): void => this.flush(true);

  constructor(send: SendStoredRead) {
    this.#send = send;
    if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this.#onVisibility);
    if (typeof window !== 'undefined') window.addEventListener('pagehide', this.#onPageHide);
  }

  /** `ids` (oldest first) were read now in `peer`'s conversation; the timer starts at the first one pending. */
  read(peer: string, ids: readonly string[]): void {
    let p = this.#pending.get(peer);
    if (!p) {
      p = { ids: new Set(), timer: setTimeout(() => this.#flushOne(peer, false), OWN_READ_STORE_MS) };
      this.#pending.set(peer, p);
    }
    for (const id of ids) p.ids.add(id);
    // Keep the newest MAX_ACK_IDS (a Set iterates in insertion order).
    for (const id of p.ids) {
      if (p.ids.size <= MAX_ACK_IDS) break;
      p.ids.delete(id);
    }
  }

  /** Post every pending one now (the page hidden or closed). */
  flush(keepalive: boolean): void {
    for (const peer of [...this.#pending.keys()]) this.#flushOne(peer, keepalive);
  }

  /** The conversation was deleted: what was read there is not stored. */
  drop(peer: string): void {
    clearTimeout(this.#pending.get(peer)?.timer);
    this.#pending.delete(peer);
  }

  /**
   * Locking (or this tab giving way to another): what is pending is posted
   * now, as when the page is hidden (a device restored later would
   * otherwise show what was read here as unread); no timer or listener is
   * left behind. Settles once those posts are done, so the caller can wipe
   * the keys after.
   */
  close(): Promise<void> {
    const posts = [...this.#pending.keys()].map((peer) => this.#flushOne(peer, false));
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this.#onVisibility);
    if (typeof window !== 'undefined') window.removeEventListener('pagehide', this.#onPageHide);
    return Promise.all(posts).then(() => undefined);
  }

  #flushOne(peer: string, keepalive: boolean): Promise<void> | void {
    const p = this.#pending.get(peer);
    if (!p) return;
    this.drop(peer);
    if (p.ids.size) return this.#send(peer, [...p.ids], keepalive);
  }
}
