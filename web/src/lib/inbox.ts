// Live delivery (SPEC §7.3, §7.4): an EventSource on the inbox stream with a
// 30 s polling heartbeat. On a stream error the source is closed and re-opened
// with a fresh signature and `since=<last seq>` (EventSource's own retry would
// reuse the stale URL), after 3 s doubling to 60 s until a stream opens again.
// A socket can die without an error reaching the EventSource (the network
// went away, a laptop slept): when the browser says it is offline, or a poll
// cannot reach the server while the stream looks open, the stream is dropped
// as after an error, and back online it opens again at once.
import { ApiError, type InboxItem } from './api';

// 'paused': the server closed this stream because newer tabs of the same
// handle hold all its stream slots (SPEC §7.4 `event: close`); this tab keeps
// the polling heartbeat and goes live again when it becomes visible.
// 'auth_failed': the server refuses this device's inbox signature (401), most
// likely because the device clock is off by more than 5 minutes.
export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'paused' | 'auth_failed';

export interface InboxDeps {
  streamUrl(since: number): string;
  poll(since: number): Promise<{ messages: InboxItem[]; next: number | null; newest?: number; used_percent?: number }>;
  lastSeq(): number;
  /**
   * The server's mailbox ends at `newest`, below our cursor (it was restored
   * from an older copy, SPEC §7.3/§7.4): set the cursor back to 0, so the
   * server replays everything it holds (seqs at or below `newest` may have
   * been reused for messages this device never saw), and drop by message id
   * what this device already has. Called before any later item is handed over.
   */
  rewind(newest: number): Promise<void> | void;
  /**
   * Best effort: deletes the server's copies up to `through`, which this
   * device has stored (SPEC §7.5). Called after items were handed over, only
   * while the last poll said the mailbox is at least RELEASE_AT_PERCENT full,
   * at most one call at a time, never twice for the same seq.
   */
  release?(through: number): Promise<unknown>;
  onItems(items: InboxItem[]): Promise<void> | void;
  /** An `event: ephemeral` (SPEC §7.7): its envelope, never stored, no seq. */
  onEphemeral?(envelope: unknown): void;
  onStatus(status: LiveStatus): void;
  onError?(err: unknown): void;
  EventSource?: typeof EventSource;
  /** First reconnect delay (3 s); doubles per failed attempt up to maxReconnectMs (60 s). */
  reconnectMs?: number;
  maxReconnectMs?: number;
  pollMs?: number;
  /**
   * Stream events arriving within this many ms are handed over as one batch
   * (default 20), so a long replay is stored once per batch, not once per
   * message; 0 hands each over at once.
   */
  batchMs?: number;
}

/**
 * Release what this device stored only once the last poll said the mailbox
 * is at least this full (`used_percent`, SPEC §7.3, §7.5). A release deletes
 * for every device of the identity: another browser, or one restored from
 * the recovery phrase, would silently lose what this one read. Below this,
 * retention (48 h) frees the mailbox and every device keeps getting
 * everything; at or above it, a full mailbox refusing new messages is worse.
 */
export const RELEASE_AT_PERCENT = 50;

/** Most stream events handed over in one batch. */
export const MAX_BATCH = 200;

export class InboxConnection {
  #es: EventSource | null = null;
  #reconnect: ReturnType<typeof setTimeout> | null = null;
  #poller: ReturnType<typeof setInterval> | null = null;
  #stopped = true;
  #polling = false;
  #everLive = false;
  #displaced = false;
  /** The current stream has opened (and not failed since). */
  #streaming = false;
  /** The last poll was refused with 401; cleared by a poll or stream that works. */
  #authFailed = false;
  #delay = 0;
  /** Stream events not yet handed to onItems (see InboxDeps.batchMs). */
  #batch: InboxItem[] = [];
  #batchTimer: ReturnType<typeof setTimeout> | null = null;
  #releasing = false;
  /**
   * `used_percent` of the last poll (0 until one says more, or when the
   * server doesn't say); reset by a release, which made it stale.
   */
  #usedPercent = 0;
  /** Highest seq released on the server (or found stored there already released). */
  #released = 0;
  #onVisible = () => {
    if (document.visibilityState !== 'visible') return;
    this.resume();
    void this.pollNow();
  };
  #onOffline = () => {
    if (this.#stopped || !this.#es) return;
    this.#dropStream();
    this.#scheduleReconnect();
  };
  #onOnline = () => {
    if (this.#stopped || this.#displaced || this.#es) return;
    if (this.#reconnect) clearTimeout(this.#reconnect);
    this.#reconnect = null;
    this.#delay = this.deps.reconnectMs ?? 3_000;
    this.#open();
    void this.pollNow();
  };

  constructor(private readonly deps: InboxDeps) {}

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#delay = this.deps.reconnectMs ?? 3_000;
    this.deps.onStatus('connecting');
    this.#open();
    this.#poller = setInterval(() => void this.pollNow(), this.deps.pollMs ?? 30_000);
    if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this.#onVisible);
    if (typeof window !== 'undefined') {
      window.addEventListener('offline', this.#onOffline);
      window.addEventListener('online', this.#onOnline);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#displaced = false;
    this.#es?.close();
    this.#es = null;
    this.#streaming = false;
    // Not yet processed, so not counted in lastSeq: they come again next time.
    if (this.#batchTimer) clearTimeout(this.#batchTimer);
    this.#batchTimer = null;
    this.#batch = [];
    if (this.#reconnect) clearTimeout(this.#reconnect);
    if (this.#poller) clearInterval(this.#poller);
    this.#reconnect = this.#poller = null;
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this.#onVisible);
    if (typeof window !== 'undefined') {
      window.removeEventListener('offline', this.#onOffline);
      window.removeEventListener('online', this.#onOnline);
    }
  }

  /** Closes the current stream as after an error (its pending batch handed over). */
  #dropStream(): void {
    this.#es?.close();
    this.#es = null;
    this.#flush();
    this.#streaming = false;
  }

  #open(): void {
    const ES = this.deps.EventSource ?? globalThis.EventSource;
    let es: EventSource;
    try {
      es = new ES(this.deps.streamUrl(this.deps.lastSeq()));
    } catch (err) {
      this.deps.onError?.(err);
      this.#scheduleReconnect();
      return;
    }
    this.#es = es;
    es.addEventListener('open', () => {
      if (this.#es !== es) return;
      this.#everLive = true;
      this.#streaming = true;
      this.#authFailed = false;
      this.#delay = this.deps.reconnectMs ?? 3_000;
      this.deps.onStatus('live');
    });
    es.addEventListener('message', (ev) => {
      if (this.#es !== es) return;
      let item: InboxItem;
      try {
        item = JSON.parse((ev as MessageEvent<string>).data) as InboxItem;
      } catch (err) {
        this.deps.onError?.(err);
        return;
      }
      this.#batch.push(item);
      const wait = this.deps.batchMs ?? 20;
      if (wait <= 0 || this.#batch.length >= MAX_BATCH) this.#flush();
      else this.#batchTimer ??= setTimeout(() => this.#flush(), wait);
    });
    es.addEventListener('ephemeral', (ev) => {
      if (this.#es !== es) return;
      try {
        this.deps.onEphemeral?.((JSON.parse((ev as MessageEvent<string>).data) as { envelope?: unknown }).envelope);
      } catch (err) {
        this.deps.onError?.(err);
      }
    });
    es.addEventListener('reset', (ev) => {
      if (this.#es !== es) return;
      let newest: unknown;
      try {
        newest = (JSON.parse((ev as MessageEvent<string>).data) as { newest?: unknown }).newest;
      } catch (err) {
        this.deps.onError?.(err);
        return;
      }
      if (!Number.isSafeInteger(newest) || (newest as number) < 0) return;
      // This stream goes on from `newest` (SPEC §7.4), past seqs that may hold
      // messages we never saw: drop it, rewind to 0 and open one from there.
      this.#flush();
      es.close();
      this.#es = null;
      this.#streaming = false;
      this.#released = 0;
      void this.#rewindAndReopen(newest as number);
    });
    es.addEventListener('close', () => {
      // Displaced by a newer stream: reconnecting now would just displace
      // another tab in turn, so wait until this tab is looked at again.
      if (this.#es !== es) return;
      es.close();
      this.#es = null;
      this.#streaming = false;
      this.#displaced = true;
      this.deps.onStatus('paused');
    });
    es.addEventListener('error', () => {
      if (this.#es !== es) return;
      this.#dropStream();
      this.#scheduleReconnect();
      // EventSource hides the HTTP status; a poll tells a refused signature
      // (401) from a network problem, and catches up meanwhile.
      void this.pollNow();
    });
  }

  /** After a stream's `reset`: rewind the cursor, then stream again from it. */
  async #rewindAndReopen(newest: number): Promise<void> {
    try {
      await this.deps.rewind(newest);
    } catch (err) {
      this.deps.onError?.(err);
    }
    if (!this.#stopped && !this.#es && !this.#displaced && !this.#reconnect) this.#open();
  }

  /** Hands the collected stream events over in one call. */
  #flush(): void {
    if (this.#batchTimer) clearTimeout(this.#batchTimer);
    this.#batchTimer = null;
    const items = this.#batch;
    this.#batch = [];
    if (items.length && !this.#stopped) void this.#hand(items);
  }

  /** onItems, then release what it stored if the mailbox is under pressure. */
  async #hand(items: InboxItem[]): Promise<void> {
    await this.deps.onItems(items);
    await this.#releaseStored();
  }

  /**
   * Releases the server's copies through the last stored seq (SPEC §7.5),
   * only when the last poll found the mailbox RELEASE_AT_PERCENT full.
   */
  async #releaseStored(): Promise<void> {
    const release = this.deps.release;
    const through = this.deps.lastSeq();
    if (!release || this.#stopped || this.#releasing || through <= this.#released) return;
    if (this.#usedPercent < RELEASE_AT_PERCENT) return;
    this.#releasing = true;
    try {
      await release(through);
      this.#released = through;
      // The mailbox is emptier now; the next poll says how full it is.
      this.#usedPercent = 0;
    } catch (err) {
      // Best effort: retention frees them anyway; the next page (or poll) tries again.
      console.debug('inbox release:', err);
    } finally {
      this.#releasing = false;
    }
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    this.deps.onStatus(this.#authFailed ? 'auth_failed' : this.#everLive ? 'reconnecting' : 'connecting');
    if (this.#reconnect) clearTimeout(this.#reconnect);
    const delay = this.#delay;
    // Back off so a refused or unreachable server isn't hammered every 3 s.
    this.#delay = Math.min(delay * 2, this.deps.maxReconnectMs ?? 60_000);
    this.#reconnect = setTimeout(() => {
      this.#reconnect = null;
      if (!this.#stopped) this.#open();
    }, delay);
  }

  /** A poll was refused (401) or, after that, accepted again. */
  #setAuthFailed(failed: boolean): void {
    if (this.#stopped || failed === this.#authFailed) return;
    this.#authFailed = failed;
    if (this.#streaming || this.#displaced) return; // a working stream says more
    if (failed) {
      this.deps.onStatus('auth_failed');
      return;
    }
    this.deps.onStatus(this.#everLive ? 'reconnecting' : 'connecting');
    if (this.#reconnect) {
      // Fixed (e.g. the clock was corrected): don't sit out the backoff.
      clearTimeout(this.#reconnect);
      this.#reconnect = null;
      this.#delay = this.deps.reconnectMs ?? 3_000;
      this.#open();
    }
  }

  /** Re-opens a stream the server displaced (called when the tab becomes visible). */
  resume(): void {
    if (this.#stopped || !this.#displaced) return;
    this.#displaced = false;
    this.deps.onStatus('connecting');
    this.#open();
  }

  /** Fetch everything after the last seq (heartbeat, tab becoming visible). */
  async pollNow(): Promise<void> {
    if (this.#stopped || this.#polling) return;
    this.#polling = true;
    try {
      for (let round = 0; round < 20 && !this.#stopped; round++) {
        const since = this.deps.lastSeq();
        const { messages, next, newest, used_percent } = await this.deps.poll(since);
        this.#setAuthFailed(false);
        this.#usedPercent = typeof used_percent === 'number' && Number.isFinite(used_percent) ? used_percent : 0;
        if (typeof newest === 'number' && Number.isSafeInteger(newest) && newest >= 0 && since > newest) {
          // A cursor ahead of the mailbox: rewind to 0 and ask again (SPEC §7.3).
          this.#released = 0;
          await this.deps.rewind(newest);
          continue;
        }
        if (messages.length) await this.deps.onItems(messages);
        // A page can end early by bytes (SPEC §7.3): only an empty one means done.
        if (next === null || messages.length === 0) break;
      }
      await this.#releaseStored();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.#setAuthFailed(true);
      // The server is unreachable, yet the stream looks open: its socket is
      // most likely dead without having said so. Drop it and try again.
      if (err instanceof ApiError && err.status === 0 && this.#streaming) {
        this.#dropStream();
        this.#scheduleReconnect();
      }
      this.deps.onError?.(err);
    } finally {
      this.#polling = false;
    }
  }
}
