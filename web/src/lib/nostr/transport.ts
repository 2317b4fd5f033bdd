// The client's nostr transport (SPEC §12): publish KEZ events to every relay,
// subscribe to the own addr on every relay, verify every event ourselves
// (relays are not trusted) and drop event ids already handled. Relay
// hygiene (hygiene.ts): NIP-42 AUTH when a relay refuses for want of it,
// NIP-11 limits, the peer's last relay first. Reading and publishing use
// separate pools, so separate connections (review r11 #3): the connection
// that asks for the own addr (and may AUTH with the derived key) never
// carries an event to a peer, and the publishing one AUTHs, if asked, with a
// throwaway key. Built on nostr-tools' SimplePool; tests pass fakes (PoolLike).
import { generateSecretKey, type Event } from 'nostr-tools/pure';
import { SimplePool } from 'nostr-tools/pool';
import { KIND_ACK, KIND_EPHEMERAL, KIND_MESSAGE, verifyKezEvent } from './events';
import { firstOk, PublishError } from './firstok';
import { buildAuthEvent, preferFirst, relaysFor } from './hygiene';
import { BoundedSet, normalize, relayLabel, SEEN_EVENTS, subscribeSince } from './bookkeeping';

export { BoundedSet, OVERLAP_SECS, relayLabel, SEEN_EVENTS, subscribeSince } from './bookkeeping';

export { PublishError };


/** The part of a nostr-tools AbstractRelay the AUTH answer uses. */
export interface RelayLike {
  readonly url: string;
  send(message: string): Promise<void> | void;
  onnotice: (msg: string) => void;
  /** Whether its socket is open now (nostr-tools keeps reconnecting it after a drop). */
  readonly connected?: boolean;
}

/** The part of nostr-tools' SimplePool the transport uses. */
export interface PoolLike {
  /** The pool's connection to `url` (nostr-tools: ensureRelay); absent = no NIP-42. */
  ensureRelay?(url: string): Promise<RelayLike>;
  publish(relays: string[], event: Event): Promise<string>[];
  subscribe(
    relays: string[],
    filter: { kinds: number[]; '#q': string[]; since: number },
    params: { onevent: (e: Event) => void; oneose?: () => void; onclose?: (reasons: unknown) => void },
  ): { close: (reason?: string) => void };
  /** Stored events of `filter` (REQ until EOSE or `maxWait` ms); absent = the transport cannot query. */
  querySync?(relays: string[], filter: { kinds: number[]; authors: string[] }, params?: { maxWait?: number }): Promise<Event[]>;
  listConnectionStatus(): Map<string, boolean>;
  destroy(): void;
}

export type RelayState = 'connecting' | 'connected' | 'disconnected';
/**
 * Why a relay did not take the last event or subscription: it wants NIP-42
 * AUTH and refused ours (or sent no challenge), or the event was longer than
 * its NIP-11 max_message_length. Cleared by its next success.
 */
export type RelayProblem = 'auth_required' | 'too_large';

/** A relay refusal that more authentication may cure (NIP-01 machine-readable prefixes). */
const AUTH_REFUSAL = /^(auth-required|restricted):/;

export interface NostrTransportOptions {
  relays: string[];
  /** Reading (the own subscription); default a SimplePool with reconnect. */
  pool?: PoolLike;
  /** Publishing; default a second SimplePool (the same as `pool` when only that is given: tests). */
  publishPool?: PoolLike;
  /** Unix seconds (default: the device clock). */
  now?: () => number;
  /** Called whenever a relay's state or problem may have changed. */
  onState?: (states: Record<string, RelayState>, problems: Record<string, RelayProblem>) => void;
  /** The identity's derived nostr key (SPEC §12): signs NIP-42 AUTH on the reading connection only. Without it no AUTH there. */
  authKey?: Uint8Array;
  /** Delay before re-subscribing on a relay whose subscription closed (default 3 s, doubling to 60 s). */
  resubscribeMs?: number;
  /** How often relay connection states are refreshed (default 2 s; 0 = never). */
  stateEveryMs?: number;
}

/** The reading connection (own addr, derived-key AUTH) or the publishing one (throwaway AUTH). */
type Side = 'read' | 'write';

type Sub = { addr: string; onEvent: (e: Event, relay: string) => void; closers: Map<string, { close: () => void }> };

export class NostrTransport {
  readonly relays: readonly string[];
  readonly #pool: PoolLike;
  readonly #pubPool: PoolLike;
  readonly #now: () => number;
  readonly #seen = new BoundedSet(SEEN_EVENTS);
  readonly #onState?: (s: Record<string, RelayState>, p: Record<string, RelayProblem>) => void;
  readonly #authKey?: Uint8Array;
  /** The challenge each relay was last answered for, per connection (one AUTH per challenge). */
  readonly #authed = { read: new Map<string, string>(), write: new Map<string, string>() };
  /** NIP-11 max_message_length per relay (bytes), where known. */
  readonly #limits = new Map<string, number>();
  #problems: Record<string, RelayProblem> = {};
  readonly #resubMs: number;
  #sub: Sub | null = null;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #delays = new Map<string, number>();
  #stateTimer: ReturnType<typeof setInterval> | null = null;
  #states: Record<string, RelayState> = {};
  /**
   * The relay object each subscription lives on (from ensureRelay). Its
   * `connected` is the truth: nostr-tools 2.25's pool forgets a relay in
   * listConnectionStatus() when a connect attempt fails, while the relay
   * object keeps reconnecting and keeps the subscription (review r11 #1).
   */
  readonly #relayObjs = new Map<string, RelayLike>();
  #closed = false;
  /** Highest accepted created_at (unix s); the next subscription starts OVERLAP_SECS before it. */
  lastSeen = 0;

  constructor(opts: NostrTransportOptions) {
    this.relays = [...new Set(opts.relays)];
    this.#pool = opts.pool ?? new SimplePool({ enableReconnect: true, enablePing: true });
    this.#pubPool = opts.publishPool ?? opts.pool ?? new SimplePool({ enablePing: true });
    this.#authKey = opts.authKey;
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

  /**
   * Re-read the connection states (the subscription's relay object first,
   * else the pool's list); tells onState when something changed.
   */
  refreshStates(): void {
    if (this.#closed) return;
    const status = this.#pool.listConnectionStatus();
    let changed = false;
    for (const r of this.relays) {
      const obj = this.#relayObjs.get(r)?.connected;
      const up = typeof obj === 'boolean' ? obj : (status.get(r) ?? status.get(normalize(r)));
      const next: RelayState = up === true ? 'connected' : up === false ? 'disconnected' : this.#states[r] === 'connected' ? 'disconnected' : this.#states[r];
      if (next !== this.#states[r]) {
        this.#states[r] = next;
        changed = true;
      }
    }
    if (changed) this.#tell();
  }

  /** Each relay's current problem, if any. */
  get problems(): Record<string, RelayProblem> {
    return { ...this.#problems };
  }

  #tell(): void {
    this.#onState?.(this.states, this.problems);
  }

  #setState(relay: string, s: RelayState): void {
    if (this.#closed || this.#states[relay] === s) return;
    this.#states[relay] = s;
    this.#tell();
  }

  #setProblem(relay: string, p: RelayProblem | null): void {
    if (this.#closed || (this.#problems[relay] ?? null) === p) return;
    if (p) this.#problems[relay] = p;
    else delete this.#problems[relay];
    this.#tell();
  }

  /** A relay's NIP-11 max_message_length (bytes), learnt by the caller. */
  setLimit(relay: string, maxMessageLength: number): void {
    this.#limits.set(normalize(relay), maxMessageLength);
  }

  /**
   * NIP-42: answer the relay's last challenge with a kind 22242 event, once
   * per challenge: on the reading connection signed by the derived key, on
   * the publishing one by a fresh throwaway key (never the derived key: that
   * would tie the events sent there to the identity). `new` when sent now,
   * `done` when sent before, `none` without a key or a challenge. After an
   * answer a refused request may be sent again: the relay reads it after the
   * AUTH on the same connection.
   */
  async #auth(url: string, side: Side): Promise<'new' | 'done' | 'none'> {
    const pool = this.#poolOf(side);
    if ((side === 'read' && !this.#authKey) || !pool.ensureRelay || this.#closed) return 'none';
    const relay = await pool.ensureRelay(url);
    const challenge = (relay as unknown as { challenge?: unknown }).challenge;
    if (typeof challenge !== 'string' || !challenge) return 'none';
    if (this.#authed[side].get(url) === challenge) return 'done';
    this.#authed[side].set(url, challenge);
    const key = side === 'read' ? this.#authKey! : generateSecretKey();
    await relay.send(JSON.stringify(['AUTH', buildAuthEvent(relay.url, challenge, key)]));
    return 'new';
  }

  /**
   * One relay's publish, sent again once after AUTH when the relay refused it
   * for want of one, or (nostr-relay 1.14 answers such refusals with an empty
   * event id) did not answer while its challenge was unanswered.
   */
  async #publishOne(url: string, event: Event, first: Promise<string>, side: Side): Promise<void> {
    try {
      await first;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const refused = AUTH_REFUSAL.test(msg);
      const auth = refused || /timed out/.test(msg) ? await this.#auth(url, side).catch(() => 'none' as const) : 'none';
      if (auth === 'none' || (auth === 'done' && !refused)) {
        if (msg.startsWith('auth-required:')) this.#setProblem(url, 'auth_required');
        throw e;
      }
      try {
        await this.#poolOf(side).publish([url], event)[0];
      } catch (e2) {
        this.#setProblem(url, 'auth_required');
        throw e2;
      }
    }
    this.#setProblem(url, null);
  }

  /**
   * Publish to every relay whose NIP-11 limit the event fits (the others get
   * problem `too_large` and never see it); resolves with the relay that
   * answered `OK true`: `preferred` (the peer's last relay) when it does,
   * else the first other. Rejects with PublishError when none does.
   */
  publish(event: Event, preferred?: string | null): Promise<{ relay: string }> {
    return this.#publishBy('write', event, preferred);
  }

  /**
   * The identity's own housekeeping events (kind 10002, kind 0, signed by the
   * derived key), published like publish() but on the reading connection,
   * which already speaks for the identity: never next to events to peers.
   */
  publishOwn(event: Event): Promise<{ relay: string }> {
    return this.#publishBy('read', event);
  }

  #poolOf(side: Side): PoolLike {
    return side === 'read' ? this.#pool : this.#pubPool;
  }

  #publishBy(side: Side, event: Event, preferred?: string | null): Promise<{ relay: string }> {
    if (this.#closed) return Promise.reject(new PublishError(['closed']));
    if (!this.relays.length) return Promise.reject(new PublishError(['no relays']));
    const { fit, tooLarge } = relaysFor(event, this.relays, this.#limits);
    for (const r of tooLarge) this.#setProblem(r, 'too_large');
    if (!fit.length) return Promise.reject(new PublishError(tooLarge.map((r) => `${r}: too large (max_message_length ${this.#limits.get(normalize(r))} bytes)`)));
    const targets = preferFirst(fit, preferred);
    const attempts = this.#poolOf(side).publish(targets, event).map((p, i) => this.#publishOne(targets[i], event, p, side));
    return firstOk(targets, attempts, targets[0] === preferred, (relay) => this.#setState(relay, 'connected'));
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
    const filter = { kinds: [KIND_MESSAGE, KIND_ACK, KIND_EPHEMERAL], '#q': [sub.addr], since: subscribeSince(this.lastSeen || this.#now(), this.#now()) };
    const closer = this.#pool.subscribe([relay], filter, {
      onevent: (e) => {
        if (this.#sub !== sub) return;
        this.#setState(relay, 'connected');
        this.#setProblem(relay, null);
        this.#delays.delete(relay);
        this.#accept(sub, e, relay);
      },
      // The relay took the REQ and sent what it had: the subscription is up,
      // so the next drop starts the backoff afresh (review r11 #14).
      oneose: () => {
        if (this.#sub !== sub || sub.closers.get(relay) !== closer) return;
        this.#delays.delete(relay);
        this.#setState(relay, 'connected');
      },
      onclose: (reasons) => {
        if (this.#sub !== sub || sub.closers.get(relay) !== closer) return;
        sub.closers.delete(relay);
        const reason = String(Array.isArray(reasons) ? reasons[0] : reasons);
        if (AUTH_REFUSAL.test(reason)) {
          this.#refused(sub, relay);
          return;
        }
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
    // A relay may refuse the REQ with a NOTICE instead of CLOSED (nostr-relay does).
    void this.#pool.ensureRelay?.(relay).then(
      (r) => {
        if (this.#sub === sub) this.#relayObjs.set(relay, r);
        r.onnotice = (msg) => {
          if (AUTH_REFUSAL.test(String(msg)) && this.#sub === sub && sub.closers.get(relay) === closer) {
            closer.close();
            sub.closers.delete(relay);
            this.#refused(sub, relay);
          }
        };
      },
      () => undefined,
    );
  }

  /** The relay refused our subscription for want of AUTH: answer its challenge and ask again, once per challenge. */
  #refused(sub: Sub, relay: string): void {
    void this.#auth(relay, 'read')
      .catch(() => 'none' as const)
      .then((auth) => {
        if (this.#sub !== sub) return;
        if (auth === 'new') {
          this.#setProblem(relay, null);
          this.#open(sub, relay);
        } else this.#setProblem(relay, 'auth_required');
      });
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
    // Ephemeral events (SPEC §8.6) are never stored: they must not move `since`.
    if (e.kind !== KIND_EPHEMERAL) this.lastSeen = Math.max(this.lastSeen, Math.min(e.created_at, now));
    sub.onEvent(e, relay);
  }

  /**
   * The events of `filter` stored on the relays (NIP-01 REQ until EOSE, at
   * most `maxWaitMs`), unchecked: the caller verifies what it uses. [] when
   * closed, without relays, or with a pool that cannot query.
   */
  async query(filter: { kinds: number[]; authors: string[] }, maxWaitMs = 5_000): Promise<Event[]> {
    if (this.#closed || !this.relays.length || !this.#pool.querySync) return [];
    return this.#pool.querySync([...this.relays], filter, { maxWait: maxWaitMs });
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
    const pools = new Set([this.#pool, this.#pubPool]);
    setTimeout(() => pools.forEach((p) => p.destroy()), 0);
  }
}
