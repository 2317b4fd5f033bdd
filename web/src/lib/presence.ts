// The rules of read receipts and typing (SPEC §8.6) that need no state of
// the store: when a typing signal goes out, which messages a read mark or a
// thread opening concern. presence.svelte.ts applies them; unit-tested alone.
import { ackIds, MAX_ACK_IDS } from './envelope';
import type { TypingState } from './livebody';
import type { ChatMessage } from './records';

/** `active` goes out at most this often while the user types. */
export const TYPING_EVERY_MS = 3_000;
/** A received `active` shows "typing…" this long unless refreshed. */
export const TYPING_SHOWN_MS = 6_000;
/** Messages becoming read within this window share one `read`. */
export const READ_BATCH_MS = 1_000;
/** Ephemeral ids remembered (in memory only) against replays. */
export const LIVE_SEEN_MAX = 2_000;
/** Own-devices `read` ids sent from here, remembered so their echo is skipped. */
export const OWN_READS_KEPT = 64;

/**
 * The typing signals of one device: `active` at most every
 * TYPING_EVERY_MS per thread while there is text, `paused` once after an
 * `active` when the text is gone, sent or the composer is left.
 */
export class TypingSender {
  readonly #lastActive = new Map<string, number>();

  /** The composer of `peer`'s thread changed at `now` (ms); what to send, if anything. */
  input(peer: string, hasText: boolean, now: number): TypingState | null {
    if (!hasText) return this.stop(peer);
    const last = this.#lastActive.get(peer);
    if (last !== undefined && now - last < TYPING_EVERY_MS && now >= last) return null;
    this.#lastActive.set(peer, now);
    return 'active';
  }

  /** Sent, emptied, blurred or closed: `paused` only if an `active` went out. */
  stop(peer: string): TypingState | null {
    return this.#lastActive.delete(peer) ? 'paused' : null;
  }
}

/**
 * The outgoing messages of `thread` a `read` body marks (by id, or by an
 * earlier id of a restamped message) that are not marked yet; null when the
 * body is not a valid id list.
 */
export function readTargets(thread: readonly ChatMessage[], body: string): ChatMessage[] | null {
  const ids = ackIds(body);
  if (!ids) return null;
  const read = new Set(ids);
  return thread.filter((m) => m.dir === 'out' && !m.read && (read.has(m.id) || m.prev_ids?.some((p) => read.has(p))));
}

/**
 * Mark `m` read: a read implies delivered, so the status goes up to
 * `delivered` and the mark is set; nothing ever goes down.
 */
export function markRead(m: ChatMessage): void {
  m.status = 'delivered';
  m.read = true;
  delete m.error;
  delete m.retryable;
}

/** The ids of the newest `unread` received messages of `thread`: what opening it makes read. */
export function newlyRead(thread: readonly ChatMessage[], unread: number): string[] {
  if (unread <= 0) return [];
  return thread
    .filter((m) => m.dir === 'in')
    .slice(-unread)
    .map((m) => m.id);
}

/** `ids` in `read` bodies of at most MAX_ACK_IDS each. */
export function readBodies(ids: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += MAX_ACK_IDS) out.push(ids.slice(i, i + MAX_ACK_IDS).join(','));
  return out;
}
