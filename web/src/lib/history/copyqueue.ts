// The self-copies waiting to go (SPEC §8.3): a persisted part of the send
// queue. Transports.post files the copy of an original here once the
// original was accepted (never before), and this queue posts the copies one
// at a time, oldest first, with the send queue's rules: a 429 waits its
// Retry-After and pauses the other posts of the silent bucket (ops; copies
// go with notify false, SPEC §7.5), never the texts (their own bucket),
// network errors and 5xx back off 2 s doubling to 60 s (attachments/pacer),
// after MAX_ATTEMPTS (pacer) in a row it moves behind the copies waiting
// after it (so one a relay keeps refusing holds none up), and once each
// waiting copy failed in turn the queue rests until the connection comes back or
// the app loads again; a final error (404, 413…) drops the copy. The record
// (`self_copies`, sealed like every chat record, SPEC §8.2) is rewritten on
// every change, so a copy survives a closed tab, a lock, a reload. The
// message's own status never waits on its copy, nor changes with it.
import { Wakeable } from '../wakeable';
import { afterFailure } from '../attachments/pacer';
import { ApiError } from '../api';
import type { SealedMessage } from '../envelope';
import type { KV } from '../kv';
import { isTransient, RESTAMP_AFTER_MS } from '../outboxrules';
import { ChatClosedError } from '../records';
import { parseRfc3339 } from '../time';
import { RecordWrites } from '../recordwrites';

/** Copies waiting at most; past it the oldest is dropped (logged). */
export const MAX_PENDING_COPIES = 500;
/** JSON bytes of the record at most (inline files travel whole, SPEC §13); past it the oldest is dropped. */
export const MAX_PENDING_COPY_BYTES = 4 * 1024 * 1024;
/**
 * A copy whose original's sent_at is older than this is dropped unsent: the
 * other devices would refuse it as stale (SPEC §8, 7 days), a day of margin.
 */
export const COPY_MAX_AGE_MS = RESTAMP_AFTER_MS;

/** One copy to post: what Transports.postCopy seals into a `sent` message. */
export interface PendingCopy {
  /** The original as it was sealed to the peer, `sig` included. */
  message: SealedMessage;
  /** The peer's `handle@server` when the original went, or null (looked up when the copy goes). */
  to_handle: string | null;
}

/** What the queue uses of the ChatStore, the transports and the send queue. */
export interface CopyQueueDeps {
  kv: KV;
  /** The record's KV key. */
  key: string;
  closed(): boolean;
  now(): Date;
  /** Seal and post/publish one copy by the current transports; rejects with the network's error. */
  send(c: PendingCopy): Promise<void>;
  /** Sit out the silent bucket's 429 pause (Outbox.pause('silent')). */
  pause(): Promise<void>;
  /** Extend that pause by `ms` from now (Outbox.hold(ms, 'silent')). */
  hold(ms: number): void;
  sleep(ms: number): Promise<void>;
}

/** Whether `v`, read back from the record, is a copy this queue can post. */
function isPendingCopy(v: unknown): v is PendingCopy {
  const c = v as Partial<PendingCopy> | null;
  const m = c?.message as unknown as Record<string, unknown> | undefined;
  if (typeof m !== 'object' || m === null || !(c!.to_handle === null || typeof c!.to_handle === 'string')) return false;
  return ['id', 'to', 'from', 'from_handle', 'sent_at', 'kind', 'body', 'sig'].every((k) => typeof m[k] === 'string');
}

/** `items` without the oldest ones past the bounds (count and JSON bytes); what was dropped is logged. */
export function bounded(items: PendingCopy[]): PendingCopy[] {
  let out = items.slice(-MAX_PENDING_COPIES);
  let bytes = new TextEncoder().encode(JSON.stringify(out)).length;
  while (out.length > 1 && bytes > MAX_PENDING_COPY_BYTES) {
    bytes -= new TextEncoder().encode(JSON.stringify(out[0])).length + 1;
    out = out.slice(1);
  }
  if (out.length < items.length) console.debug(`self-copies: ${items.length - out.length} dropped (queue full)`);
  return out;
}

/** The persisted self-copies of one ChatStore, and the one worker posting them. */
export class CopyQueue {
  readonly #d: CopyQueueDeps;
  #items: PendingCopy[] = [];
  #running = false;
  /** wake() came while the worker ran: it does not rest this time. */
  #woken = false;
  /** The waits between attempts (wake() ends them early). */
  readonly #waits: Wakeable;
  /** load() ran: writes may go (before it they would replace the stored record). */
  #loaded = false;
  /** The record's writes, one after another. */
  readonly #writes: RecordWrites;

  constructor(deps: CopyQueueDeps) {
    this.#d = deps;
    this.#waits = new Wakeable((ms) => deps.sleep(ms));
    this.#writes = new RecordWrites(deps.kv, deps.key, 'self-copies', () => deps.closed());
  }

  /** Copies waiting, oldest first (tests, diagnostics). */
  get pending(): readonly PendingCopy[] {
    return this.#items;
  }

  /**
   * Read the record (at load); copies added before it stay after the stored
   * ones, and are written then (no write before the load: it would replace
   * the stored copies). Starts nothing: wake() does.
   */
  async load(): Promise<void> {
    const rec = await this.#d.kv.get<{ v?: number; copies?: unknown[] }>(this.#d.key);
    const stored = rec?.v === 1 && Array.isArray(rec.copies) ? rec.copies.filter(isPendingCopy) : [];
    const added = this.#items.filter((c) => !stored.some((s) => same(s, c)));
    this.#items = bounded([...stored, ...added]);
    this.#loaded = true;
    if (added.length) await this.#save();
  }

  /**
   * Queue the copy of an original that was just accepted: on disk when this
   * resolves (a tab closed right after still sends it at the next load; a
   * failed write is logged, the copy then lives in memory only, SPEC §8.3),
   * posted after every copy queued before it. Never rejects.
   */
  async add(c: PendingCopy): Promise<void> {
    if (this.#d.closed()) return;
    // A re-send of an accepted original (the server answers 200) queues nothing twice.
    if (!this.#items.some((x) => same(x, c))) this.#items = bounded([...this.#items, c]);
    await this.#save();
    this.wake();
  }

  /** The conversation with `peer` was deleted here: its copies not yet handed to the network are dropped. */
  async forget(peer: string): Promise<void> {
    const left = this.#items.filter((c) => c.message.to !== peer);
    if (left.length === this.#items.length) return;
    this.#items = left;
    await this.#save();
  }

  /** Load, or the connection is back: the worker runs (again) and a wait between attempts ends now. */
  wake(): void {
    this.#waits.wakeAll();
    this.#woken = this.#running;
    if (!this.#running && this.#items.length && !this.#d.closed()) void this.#run();
  }

  /** The store closed (lock): a wait between attempts ends now (the worker stops), and the writes begun before it finish. */
  close(): Promise<void> {
    this.#waits.wakeAll();
    return this.#writes.settled();
  }

  /** Post the copies oldest first until none is left, the store closed, or one rests (MAX_ATTEMPTS). */
  async #run(): Promise<void> {
    this.#running = true;
    this.#woken = false;
    try {
      let attempt = 0;
      let last: PendingCopy | undefined;
      /** Copies moved behind the others in this run: when one comes round again, every copy failed in turn. */
      const rotated = new Set<PendingCopy>();
      for (let c = this.#items[0]; c && !this.#d.closed(); c = this.#items[0]) {
        // The count is per copy: a new head (the last one went, or was dropped) starts again.
        if (c !== last) [last, attempt] = [c, 0];
        if (this.#d.now().getTime() - parseRfc3339(c.message.sent_at) > COPY_MAX_AGE_MS) {
          await this.#drop(c, 'too old');
          continue;
        }
        await this.#d.pause();
        // Forgotten (conversation deleted) or closed while it waited.
        if (this.#items[0] !== c || this.#d.closed()) continue;
        const error = await this.#try(c);
        if (error === null) {
          await this.#drop(c);
          continue;
        }
        if (error instanceof ChatClosedError) return;
        const next = afterFailure(error, ++attempt);
        if (!isTransient(error)) {
          await this.#drop(c, error);
        } else if (!next.retry && this.#items.length > 1 && !rotated.has(c)) {
          // One a relay keeps refusing (too large, blocked…) must not hold up the copies behind it.
          rotated.add(c);
          this.#items = [...this.#items.filter((x) => x !== c), c];
          await this.#save();
        } else if (!next.retry && !this.#woken) {
          // Rests on disk: wake() (back online) or the next load tries again.
          return;
        } else if (!next.retry) {
          [this.#woken, attempt] = [false, 0];
        } else {
          if (error instanceof ApiError && error.status === 429) this.#d.hold(next.ms);
          await this.#waits.wait(next.ms);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** One post of `c`: null once accepted, else the error. */
  async #try(c: PendingCopy): Promise<unknown> {
    try {
      await this.#d.send(c);
      return null;
    } catch (e) {
      return e ?? new Error('self-copy failed');
    }
  }

  async #drop(c: PendingCopy, why?: unknown): Promise<void> {
    if (why !== undefined) console.debug('self-copy not filed:', why);
    this.#items = this.#items.filter((x) => x !== c);
    await this.#save();
  }

  /** Write the record as it is now (deleted when empty), after the writes before; never rejects. */
  #save(): Promise<void> {
    if (!this.#loaded) return this.#writes.settled();
    return this.#writes.write(() => (this.#items.length ? { v: 1, copies: this.#items } : undefined));
  }
}

/** The same copy: one original (peer and id). */
function same(a: PendingCopy, b: PendingCopy): boolean {
  return a.message.id === b.message.id && a.message.to === b.message.to;
}
