// Delivery receipts (SPEC §8.1 `ack`), both ways: acking what arrived here
// (batched, at most MAX_ACK_IDS ids per post, never two runs for one peer at
// once) and applying a peer's ack to what we sent (`delivered`, final). The
// decisions are the pure functions at the top; `Receipts` applies them.
import { ackBody, ackIds, MAX_ACK_IDS } from './envelope';
import { newMessageId } from './bytes';
import { ChatClosedError, type ChatAccess, type ChatMessage } from './records';
import { rfc3339 } from './time';

/** How long a live ack waits for others arriving with it, to go out as one post. */
export const ACK_DELAY_MS = 500;

/**
 * Ids of inbound messages whose receipt the server hasn't accepted yet, in
 * thread order. A file only once it is complete and checked (SPEC §13), so
 * "delivered" on a file means all of it.
 */
export function unackedIds(thread: readonly ChatMessage[]): string[] {
  return thread.filter((m) => m.dir === 'in' && !m.acked && (!m.attachment || m.attachment.state === 'ready')).map((m) => m.id);
}

/**
 * `ids` cut into acks of at most `max` ids, in order, so catching up on a
 * long thread costs a few posts (acks count against the same per-IP rate
 * limit as texts).
 */
export function ackBatches(ids: readonly string[], max = MAX_ACK_IDS): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += max) out.push(ids.slice(i, i + max));
  return out;
}

/** Inbound messages an ack we posted for `ids` covers. */
export function coveredBy(thread: readonly ChatMessage[], ids: readonly string[]): ChatMessage[] {
  const acked = new Set(ids);
  return thread.filter((m) => m.dir === 'in' && acked.has(m.id));
}

/**
 * Outbound messages a peer's ack (its ids, or null for a body that isn't a
 * list of ids) turns `delivered`: those not delivered yet whose id, or an id
 * they had before a re-stamp (`prev_ids`), it names.
 */
export function deliveredBy(thread: readonly ChatMessage[], ids: readonly string[] | null): ChatMessage[] {
  const acked = new Set(ids);
  return thread.filter((m) => m.dir === 'out' && m.status !== 'delivered' && (acked.has(m.id) || m.prev_ids?.some((p) => acked.has(p))));
}

/**
 * Runs chained per key: a run starts after the previous one for its key,
 * however that ended (a rejected run must not skip every later one); keys
 * don't wait for each other. Finished chains are forgotten.
 */
export class KeyedChain {
  readonly #runs = new Map<string, Promise<void>>();

  run(key: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.#runs.get(key) ?? Promise.resolve()).then(fn, fn);
    this.#runs.set(key, run);
    void run
      .catch(() => undefined)
      .finally(() => {
        if (this.#runs.get(key) === run) this.#runs.delete(key);
      });
    return run;
  }

  /** Keys with a run queued or in progress. */
  get size(): number {
    return this.#runs.size;
  }
}

/** The receipts of one ChatStore. */
export class Receipts {
  readonly #chat: ChatAccess;
  readonly #delayMs: number;
  /** Per peer: a batched live ack waiting to go out. */
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Per peer: the ack runs (runs for one peer never overlap). */
  readonly #runs = new KeyedChain();

  constructor(chat: ChatAccess, delayMs = ACK_DELAY_MS) {
    this.#chat = chat;
    this.#delayMs = delayMs;
  }

  /** Batch the delivery receipts of messages arriving together into one post. */
  schedule(peer: string): void {
    if (this.#timers.has(peer) || this.#chat.closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(peer);
      void this.ackPending(peer);
    }, this.#delayMs);
    this.#timers.set(peer, timer);
  }

  /** Drop every batched ack still waiting (what it would have acked is acked on the next open). */
  cancel(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  /** Acknowledge every unacked inbound message from `peer`, in batches. Never rejects. */
  ackPending(peer: string): Promise<void> {
    return this.#runs.run(peer, () => this.#ackNow(peer));
  }

  /** Never rejects: runs unasked (timer, openThread), and what failed is retried on the next open. */
  async #ackNow(peer: string): Promise<void> {
    try {
      const thread = this.#chat.loadedThread(peer);
      if (!thread) return;
      for (const ids of ackBatches(unackedIds(thread))) {
        if (this.#chat.closed || !(await this.#send(peer, ids))) return;
      }
    } catch (e) {
      if (!(e instanceof ChatClosedError)) console.debug('ack:', e);
    }
  }

  /** One signed ack for `ids`; false if it could not be posted (retried on the next open). */
  async #send(peer: string, ids: string[]): Promise<boolean> {
    try {
      const ack = { kind: 'ack', id: newMessageId(), sent_at: rfc3339(this.#chat.now()), body: ackBody(ids) } as const;
      // A receipt never causes a Web Push (SPEC §7.1).
      await this.#chat.post(peer, ack, { notify: false });
    } catch {
      return false;
    }
    // Closed meanwhile: left unacked, so the next unlock acks again (idempotent).
    if (this.#chat.closed) return false;
    await this.#chat.serial(async () => {
      for (const m of coveredBy(this.#chat.loadedThread(peer) ?? [], ids)) m.acked = true;
      await this.#chat.saveThread(peer);
    });
    return true;
  }

  /**
   * A peer's ack arrived (its ack_sig already verified against `peer` by the
   * opener): mark what it names delivered. Only the conversation's peer can
   * confirm what we sent them, so an ack from anyone else changes nothing.
   * Runs inside the store's write queue (from ingest).
   */
  async applyAck(peer: string, body: string): Promise<void> {
    const thread = this.#chat.conversation(peer) ? await this.#chat.thread(peer) : [];
    const delivered = deliveredBy(thread, ackIds(body));
    for (const m of delivered) {
      m.status = 'delivered';
      m.error = undefined;
    }
    if (delivered.length) await this.#chat.saveThread(peer);
  }
}
