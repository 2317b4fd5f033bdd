// The client's nostr transport (SPEC §12): publish KEZ events to every relay,
// subscribe to the own addr on every relay, verify every event ourselves
// (relays are not trusted) and drop event ids already handled. Built on
// nostr-tools' SimplePool; tests pass a fake pool (PoolLike).
import type { Event } from 'nostr-tools/pure';
import { SimplePool } from 'nostr-tools/pool';
import { normalizeURL } from 'nostr-tools/utils';
import { KIND_ACK, KIND_MESSAGE, LOOKBACK_SECS, verifyKezEvent } from './events';

/** How far before the last seen created_at a (re)subscription starts. */
export const OVERLAP_SECS = 300;
/** Event ids remembered against relays repeating themselves (SPEC §12: at least 10,000). */
export const SEEN_EVENTS = 10_000;

/** The part of nostr-tools' SimplePool the transport uses. */
export interface PoolLike {
  publish(relays: string[], event: Event): Promise<string>[];
  subscribe(
    relays: string[],
    filter: { kinds: number[]; '#q': string[]; since: number },
    params: { onevent: (e: Event) => void; onclose?: (reasons: unknown) => void },
  ): { close: (reason?: string) => void };
  listConnectionStatus(): Map<string, boolean>;
  destroy(): void;
}

export type RelayState = 'connecting' | 'connected' | 'disconnected';

/** Thrown by publish() when no relay accepted the event. */
export class PublishError extends Error {
  constructor(public readonly reasons: string[]) {
    super('No relay accepted the message.');
    this.name = 'PublishError';
  }
}

export interface NostrTransportOptions {
  relays: string[];
  pool?: PoolLike;
  /** Unix seconds (default: the device clock). */
  now?: () => number;
  /** Called whenever a relay's state may have changed. */
  onState?: (states: Record<string, RelayState>) => void;
  /** Delay before re-subscribing on a relay whose subscription closed (default 3 s, doubling to 60 s). */
  resubscribeMs?: number;
  /** How often relay connection states are refreshed (default 2 s; 0 = never). */
  stateEveryMs?: number;
}

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

type Sub = { addr: string; onEvent: (e: Event, relay: string) => void; closers: Map<string, { close: () => void }> };

export class NostrTransport {
  readonly relays: readonly string[];
  readonly #pool: PoolLike;
  readonly #now: () => number;
  readonly #seen = new BoundedSet(SEEN_EVENTS);
  readonly #onState?: (s: Record<string, RelayState>) => void;
  readonly #resubMs: number;
  #sub: Sub | null = null;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #delays = new Map<string, number>();
  #stateTimer: ReturnType<typeof setInterval> | null = null;
  #states: Record<string, RelayState> = {};
  #closed = false;
  /** Highest accepted created_at (unix s); the next subscription starts OVERLAP_SECS before it. */
  lastSeen = 0;

  constructor(opts: NostrTransportOptions) {
    this.relays = [...new Set(opts.relays)];
    this.#pool = opts.pool ?? new SimplePool({ enableReconnect: true, enablePing: true });
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.#onState = opts.onState;
    this.#resubMs = opts.resubscribeMs ?? 3_000;
    for (const r of this.relays) this.#states[r] = 'connecting';
    const every = opts.stateEveryMs ?? 2_000;
    if (every > 0) this.#stateTimer = setInterval(() => this.refreshStates(), every);
  }

  /** Each relay's state, as last seen. */
  get states(): Record<string, RelayState> {
    return { ...this.#states };
  }

  /** Relays connected now. */
  get connected(): number {
    return Object.values(this.#states).filter((s) => s === 'connected').length;
  }

  /** Re-read the pool's connection states; tells onState when something changed. */
  refreshStates(): void {
    if (this.#closed) return;
    const status = this.#pool.listConnectionStatus();
    let changed = false;
    for (const r of this.relays) {
      const up = status.get(r) ?? status.get(normalize(r));
      const next: RelayState = up === true ? 'connected' : up === false ? 'disconnected' : this.#states[r] === 'connected' ? 'disconnected' : this.#states[r];
      if (next !== this.#states[r]) {
        this.#states[r] = next;
        changed = true;
      }
    }
    if (changed) this.#onState?.(this.states);
  }

  #setState(relay: string, s: RelayState): void {
    if (this.#closed || this.#states[relay] === s) return;
    this.#states[relay] = s;
    this.#onState?.(this.states);
  }

  /**
   * Publish to every relay; resolves with the first relay that answers
   * `OK true` (the others go on in the background), rejects with
   * PublishError when none does.
   */
  publish(event: Event): Promise<{ relay: string }> {
    if (this.#closed) return Promise.reject(new PublishError(['closed']));
    if (!this.relays.length) return Promise.reject(new PublishError(['no relays']));
    const attempts = this.#pool.publish([...this.relays], event);
    return new Promise((resolve, reject) => {
      const reasons: string[] = new Array(attempts.length);
      let failed = 0;
      let done = false;
      attempts.forEach((p, i) => {
        const relay = this.relays[i];
        p.then(
          () => {
            this.#setState(relay, 'connected');
            if (!done) {
              done = true;
              resolve({ relay });
            }
          },
          (e: unknown) => {
            reasons[i] = `${relay}: ${e instanceof Error ? e.message : String(e)}`;
            if (++failed === attempts.length && !done) {
              done = true;
              reject(new PublishError(reasons));
            }
          },
        );
      });
    });
  }

  /**
   * Kinds 4243 and 4244 routed to `addr`, on every relay, from `since`
   * (the last created_at seen, unix s; 0 = none) minus the overlap, at most
   * 48 h back. Each event reaches `onEvent` once, after the SPEC §12 checks.
   * One subscription per transport: a second call replaces the first.
   */
  subscribe(addr: string, since: number, onEvent: (e: Event, relay: string) => void): () => void {
    this.unsubscribe();
    this.lastSeen = Math.max(this.lastSeen, since);
    const sub: Sub = { addr, onEvent, closers: new Map() };
    this.#sub = sub;
    for (const relay of this.relays) this.#open(sub, relay);
    return () => {
      if (this.#sub === sub) this.unsubscribe();
    };
  }

  unsubscribe(): void {
    const sub = this.#sub;
    this.#sub = null;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (sub) for (const c of sub.closers.values()) c.close();
  }

  /** One subscription on one relay; re-opened with backoff when the relay closes it. */
  #open(sub: Sub, relay: string): void {
    if (this.#closed || this.#sub !== sub) return;
    const filter = { kinds: [KIND_MESSAGE, KIND_ACK], '#q': [sub.addr], since: subscribeSince(this.lastSeen || this.#now(), this.#now()) };
    const closer = this.#pool.subscribe([relay], filter, {
      onevent: (e) => {
        if (this.#sub !== sub) return;
        this.#setState(relay, 'connected');
        this.#delays.delete(relay);
        this.#accept(sub, e, relay);
      },
      onclose: () => {
        if (this.#sub !== sub || sub.closers.get(relay) !== closer) return;
        sub.closers.delete(relay);
        this.#setState(relay, 'disconnected');
        const delay = this.#delays.get(relay) ?? this.#resubMs;
        this.#delays.set(relay, Math.min(delay * 2, 60_000));
        const t = setTimeout(() => {
          this.#timers.delete(t);
          this.#open(sub, relay);
        }, delay);
        this.#timers.add(t);
      },
    });
    sub.closers.set(relay, closer);
  }

  #accept(sub: Sub, e: Event, relay: string): void {
    if (!e || typeof e.id !== 'string' || this.#seen.has(e.id)) return;
    const now = this.#now();
    const v = verifyKezEvent(e, now);
    if (!v.ok) {
      console.debug(`nostr: dropped event from ${relayLabel(relay)}: ${v.reason}`);
      return;
    }
    if (v.addr !== sub.addr) return;
    this.#seen.add(e.id);
    // Never past now: a clock ahead must not push the next `since` forward.
    this.lastSeen = Math.max(this.lastSeen, Math.min(e.created_at, now));
    sub.onEvent(e, relay);
  }

  /** Stop for good: subscriptions closed, connections dropped. */
  close(): void {
    this.unsubscribe();
    this.#closed = true;
    if (this.#stateTimer) clearInterval(this.#stateTimer);
    this.#stateTimer = null;
    // nostr-tools sends CLOSE once the connection promise settles: close the
    // sockets after that, or the browser logs "WebSocket is already in
    // CLOSING or CLOSED state" (the pool's own close would send CLOSE too).
    const pool = this.#pool;
    setTimeout(() => pool.destroy(), 0);
  }
}

function normalize(url: string): string {
  try {
    return normalizeURL(url);
  } catch {
    return url;
  }
}
