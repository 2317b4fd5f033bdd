// Delivery receipts (SPEC §8.1 `ack`), both ways: acking what arrived here
// (batched, at most MAX_ACK_IDS ids per post, never two runs for one peer at
// once) and applying a peer's ack to what we sent (`delivered`, final). The
// decisions are the pure functions at the top; `Receipts` applies them.
// A receipt that could not be posted is retried (bounded, with backoff) and
// again whenever the connection comes back and at load: the conversation's
// `unacked` flag (sealed with the conversations, SPEC §8.2) says where to
// look, so a reload keeps the work.
import { ackBody, ackIds, MAX_ACK_IDS } from './envelope';
import { afterFailure } from './attachments/pacer';
import { newMessageId } from './bytes';
import type { EarlyAcks } from './history/earlyacks';
import { ChatClosedError, type ChatAccess, type ChatMessage } from './records';
import { rfc3339 } from './time';

/** How long a live ack waits for others arriving with it, to go out as one post. */
export const ACK_DELAY_MS = 500;

/**
 * Failed ack runs in a row for one peer before the retries stop until the
 * next trigger (connection live again, browser online, load, thread opened,
 * a new message): with the chunk pacer's backoff (2 s doubling to 60 s,
 * Retry-After on 429) that is about 4 minutes of trying.
 */
export const MAX_ACK_ATTEMPTS = 8;

/**
 * After ack run `attempt` (1-based) for a peer failed with `e`: the wait
 * before the next run, or null to stop (a final error such as 404, or the
 * bound). Shares the chunk sender's decisions (attachments/pacer.ts).
 */
export function ackRetryMs(e: unknown, attempt: number): number | null {
  if (attempt >= MAX_ACK_ATTEMPTS) return null;
  const d = afterFailure(e, attempt);
  return d.retry ? d.ms : null;
}

/** Whether the conversation may hold inbound messages without an accepted receipt (`undefined`: history from before the flag, looked at once). */
export function mayHaveUnacked(c: { unacked?: boolean }): boolean {
  return c.unacked !== false;
}

/** Whether `thread` still holds an inbound message without an accepted receipt (incl. a file not complete yet). */
export function hasUnacked(thread: readonly ChatMessage[]): boolean {
  return thread.some((m) => m.dir === 'in' && !m.acked);
}

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
  readonly #runs = new Map<string, Promise<unknown>>();

  run<T = void>(key: string, fn: () => Promise<T>): Promise<T> {
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
  /** Per peer: failed runs in a row (bounded by MAX_ACK_ATTEMPTS). */
  readonly #failures = new Map<string, number>();
  /** Per peer: the backoff timer of the next retry. */
  readonly #retries = new Map<string, ReturnType<typeof setTimeout>>();

  /** Acked ids this device had no message for yet (a self-copy still to come, SPEC §8.3); absent in some unit tests. */
  readonly early: EarlyAcks | undefined;

  constructor(chat: ChatAccess, delayMs = ACK_DELAY_MS, early?: EarlyAcks) {
    this.#chat = chat;
    this.#delayMs = delayMs;
    this.early = early;
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

  /** Drop every batched ack and retry still waiting (the `unacked` flags keep the work for the next load or reconnect). */
  cancel(): void {
    for (const t of [...this.#timers.values(), ...this.#retries.values()]) clearTimeout(t);
    this.#timers.clear();
    this.#retries.clear();
  }

  /** Acknowledge every unacked inbound message from `peer`, in batches. Never rejects. */
  ackPending(peer: string): Promise<void> {
    const retry = this.#retries.get(peer);
    if (retry) clearTimeout(retry);
    this.#retries.delete(peer);
    return this.#runs.run(peer, () => this.#ackNow(peer));
  }

  /**
   * The connection is back, or the store loaded: every conversation that may
   * hold unacked messages gets a fresh run (the retry count starts again).
   * Never rejects.
   */
  async retryAll(): Promise<void> {
    const peers = this.#chat
      .conversations()
      .filter(mayHaveUnacked)
      .map((c) => c.peer_primary);
    await Promise.all(
      peers.map((peer) => {
        this.#failures.delete(peer);
        return this.ackPending(peer);
      }),
    );
  }

  /** Never rejects: runs unasked (timer, openThread, retryAll); a failure schedules a bounded retry. */
  async #ackNow(peer: string): Promise<void> {
    try {
      if (this.#chat.closed) return;
      // Read from the KV (in the write queue) only when not in memory: at load or a reconnect.
      const thread = this.#chat.loadedThread(peer) ?? (await this.#chat.serial(() => this.#chat.thread(peer)));
      for (const ids of ackBatches(unackedIds(thread))) {
        if (this.#chat.closed) return;
        const err = await this.#send(peer, ids);
        if (err !== null) return this.#failed(peer, err);
      }
      this.#failures.delete(peer);
      await this.#chat.serial(() => this.#settleFlag(peer));
    } catch (e) {
      if (!(e instanceof ChatClosedError)) console.debug('ack:', e);
    }
  }

  /** A run failed with `e`: retry after the backoff, or stop until the next trigger. */
  #failed(peer: string, e: unknown): void {
    const attempt = (this.#failures.get(peer) ?? 0) + 1;
    this.#failures.set(peer, attempt);
    const ms = ackRetryMs(e, attempt);
    if (ms === null || this.#chat.closed || this.#retries.has(peer)) return;
    this.#retries.set(
      peer,
      setTimeout(() => {
        this.#retries.delete(peer);
        void this.ackPending(peer);
      }, ms),
    );
  }

  /** Queued: the conversation's `unacked` flag brought up to date with its thread. */
  async #settleFlag(peer: string): Promise<void> {
    const c = this.#chat.conversation(peer);
    const left = hasUnacked(this.#chat.loadedThread(peer) ?? []);
    if (!c || c.unacked === left) return;
    c.unacked = left;
    await this.#chat.saveConvs();
  }

  /** One signed ack for `ids`; null once posted, else the error (the run is retried). */
  async #send(peer: string, ids: string[]): Promise<unknown> {
    try {
      const ack = { kind: 'ack', id: newMessageId(), sent_at: rfc3339(this.#chat.now()), body: ackBody(ids) } as const;
      // A receipt never causes a Web Push (SPEC §7.1).
      await this.#chat.post(peer, ack, { notify: false });
    } catch (e) {
      return e ?? new Error('ack failed');
    }
    // Closed meanwhile: left unacked, so the next unlock acks again (idempotent).
    if (this.#chat.closed) return new ChatClosedError();
    await this.#chat.serial(async () => {
      for (const m of coveredBy(this.#chat.loadedThread(peer) ?? [], ids)) m.acked = true;
      await this.#chat.saveThread(peer);
    });
    return null;
  }

  /**
   * A peer's ack arrived (its ack_sig already verified against `peer` by the
   * opener): mark what it names delivered. Only the conversation's peer can
   * confirm what we sent them, so an ack from anyone else changes nothing.
   * Runs inside the store's write queue (from ingest).
   */
  async applyAck(peer: string, body: string): Promise<void> {
    const thread = this.#chat.conversation(peer) ? await this.#chat.thread(peer) : [];
    const ids = ackIds(body);
    const delivered = deliveredBy(thread, ids);
    for (const m of delivered) {
      m.status = 'delivered';
      m.error = undefined;
    }
    if (delivered.length) await this.#chat.saveThread(peer);
    // Ids naming no message here: its self-copy may still come (another device sent it); it is filed delivered then.
    const unknown = (ids ?? []).filter((id) => !thread.some((m) => m.id === id || m.prev_ids?.includes(id)));
    // Kept in memory, written with the batch (EarlyAcks.flush); a peer with a conversation here has its own quota.
    if (unknown.length) this.early?.add(peer, unknown, !!this.#chat.conversation(peer), this.#chat.now().getTime());
  }

  /** Queued (Inbound, as a self-copy is filed): whether `peer` acked `id` before this device had it (earlyAckUsed forgets it). */
  ackedBefore(peer: string, id: string): boolean {
    return this.early?.has(peer, id) ?? false;
  }
}
