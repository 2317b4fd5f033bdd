// The ways a sealed envelope travels (SPEC §12): the home server's
// POST /v1/messages, nostr relays, or both. ChatStore owns one Transports and
// keeps the chat logic (sealing, threads, receipts); this module only moves
// envelopes and relay events.
import { verifyEvent, type Event as NostrEvent } from 'nostr-tools/pure';
import type { InboxItem } from './api';
import { pollAuth, releaseAuth, streamAuth } from './auth';
import { seal } from './envelope';
import { InboxConnection, type LiveStatus } from './inbox';
import { liveProblemFor } from './live';
import { buildKezEvent, eventKindFor } from './nostr/events';
import { announceOnce, fetchMaxMessageLength } from './nostr/announce';
import { buildMetadataEvent } from './nostr/hygiene';
import { addr, nostrPublicKey, nostrSecretKey } from './nostr/keys';
import { NostrTransport, relayLabel, type RelayProblem, type RelayState } from './nostr/transport';
import { ChatClosedError, type Api, type ChatDeps, type Outgoing } from './records';

/** Which way messages and acks travel (SPEC §12): the home server, nostr relays, or both. */
export type TransportChoice = 'server' | 'nostr' | 'both';
export const TRANSPORTS: readonly TransportChoice[] = ['server', 'nostr', 'both'];

/** A relay URL the client accepts: ws:// or wss://, a host, no credentials. */
export function isRelayUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'wss:' || u.protocol === 'ws:') && !!u.hostname && !u.username && !u.password && !u.hash;
  } catch {
    return false;
  }
}

/** The transport an identity starts with: `both` when its server advertises relays, else `server`. */
export function defaultTransport(advertised: readonly string[]): TransportChoice {
  return advertised.length ? 'both' : 'server';
}

/** The first of `tasks` to succeed; if all fail, the error of the first (the server's, when it ran). */
export function firstSuccess<T>(tasks: Promise<T>[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const errors: unknown[] = [];
    let failed = 0;
    let done = false;
    tasks.forEach((t, i) =>
      t.then(
        (v) => {
          if (!done) {
            done = true;
            resolve(v);
          }
        },
        (e: unknown) => {
          errors[i] = e;
          if (++failed === tasks.length && !done) {
            done = true;
            reject(errors[0]);
          } else console.debug('one transport failed:', e);
        },
      ),
    );
  });
}

/** What the relay popover says of one relay: a problem (SPEC §12 hygiene) outranks the connection state. */
export function relayStatusText(state: RelayState | undefined, problem: RelayProblem | undefined): string {
  if (problem === 'auth_required') return 'auth required';
  if (problem === 'too_large') return 'message too large';
  if (state === 'connected') return 'connected';
  if (state === 'disconnected') return 'error: not connected';
  return 'connecting';
}

/** The deduplicated relay list of a configuration; throws on a URL that is not a relay's. */
export function checkedRelays(transport: TransportChoice, relays: readonly string[]): string[] {
  if (!TRANSPORTS.includes(transport)) throw new Error('unknown transport');
  const bad = relays.find((r) => !isRelayUrl(r));
  if (bad !== undefined) throw new Error(`Not a relay address (ws:// or wss://): ${bad}`);
  return [...new Set(relays)];
}

/** What Transports reads of its ChatStore. */
export interface TransportHost {
  /** The store's own deps: identity, sealed KV, advertised relays and (tests) network parts. */
  readonly deps: ChatDeps;
  readonly api: Api;
  now(): Date;
  /** Set once the store is closed (locking): never seal after that. */
  closed(): boolean;
  transport(): TransportChoice;
  relays(): readonly string[];
  /** The peer's verified handle (for the server transport). */
  peerHandle(peer: string): Promise<string>;
  /** The relays' states or problems changed (only for the transport currently in use). */
  onRelayStates(states: Record<string, RelayState>, problems: Record<string, RelayProblem>): void;
  /** The relay the peer's last event came from (SPEC §12: published there first). */
  peerRelay(peer: string): string | undefined;
  /** The store's KV key naming, for the announcement record. */
  key(part: string): string;
  /** The server's mailbox position (SPEC §7.3) and what to do with what arrives live. */
  lastSeq(): number;
  rewind(newest: number): Promise<void>;
  ingest(items: InboxItem[]): Promise<void>;
  /** The events the nostr subscription brings. */
  ingestNostr(ev: NostrEvent, relay: string): Promise<void>;
  /** The live indicator: set from the inbox stream, or from the relays with transport `nostr`. */
  setLive(s: LiveStatus): void;
  setLiveProblem(problem: string): void;

}

export class Transports {
  readonly #host: TransportHost;
  #nostr: NostrTransport | null = null;
  #inbox: InboxConnection | null = null;
  #connected = false;
  #nostrEverLive = false;
  #announcing = false;
  /** Newest created_at accepted from a relay (unix s), as persisted. */
  #since = 0;
  /** The derived nostr key (SPEC §12), while a relay connection may need it; zeroed on close. */
  #nostrKey: Uint8Array | null = null;
  /** The last profile kind 0 this identity published (SPEC §14.6), once known. */
  #profileEvent: NostrEvent | null = null;

  constructor(host: TransportHost) {
    this.#host = host;
  }

  /** The persisted transport choice and relays (defaults from the advertised relays), and the nostr `since`. */
  async load(): Promise<{ transport: TransportChoice; relays: string[] }> {
    const { kv, advertisedRelays = [] } = this.#host.deps;
    const t = await kv.get<TransportChoice>(this.#host.key('transport'));
    const relays = await kv.get<string[]>(this.#host.key('relays'));
    this.#since = (await kv.get<number>(this.#host.key('nostr_since'))) ?? 0;
    return {
      transport: t && TRANSPORTS.includes(t) ? t : defaultTransport(advertisedRelays),
      relays: (Array.isArray(relays) ? relays : [...advertisedRelays]).filter(isRelayUrl),
    };
  }

  /** Persist the newest created_at accepted from a relay: the next subscription's `since` (SPEC §12). */
  async saveSince(): Promise<void> {
    const since = this.#nostr?.lastSeen ?? 0;
    if (since <= this.#since) return;
    this.#since = since;
    await this.#host.deps.kv.set(this.#host.key('nostr_since'), since);
  }

  /**
   * Seal `m` to `peer` once and send that envelope by the chosen transports:
   * posted to the peer's verified handle, and/or published to the relays
   * routed to the peer's addr. Resolves when the first one accepts it
   * (`via` = the relay, when a relay was first); with `nostr` the server is
   * never called.
   */
  async post(peer: string, m: Outgoing, opts?: { notify?: boolean }): Promise<{ via?: string }> {
    const host = this.#host;
    const useServer = host.transport() !== 'nostr';
    const useNostr = host.transport() !== 'server';
    // Server only: resolve the handle first, as before (nothing sealed for an unknown one).
    const to = useServer && !useNostr ? await host.peerHandle(peer) : null;
    // Locking wipes the seed once close() returns: never seal after that.
    if (host.closed()) throw new ChatClosedError();
    const { kind, id, sent_at, body } = m;
    const { seed, handle, server } = host.deps.me;
    const { envelope } = seal(seed, { kind, id, from_handle: `${handle}@${server}`, to: peer, sent_at, body });
    const tasks: Promise<{ via?: string }>[] = [];
    if (useServer)
      tasks.push(
        (async () => {
          const h = to ?? (await host.peerHandle(peer));
          if (opts) await host.api.postMessage(h, id, envelope, opts);
          else await host.api.postMessage(h, id, envelope);
          return {};
        })(),
      );
    if (useNostr) tasks.push(this.#publish(peer, eventKindFor(kind), envelope));
    // Only after the envelope is sealed: a send isn't held up by bookkeeping.
    if (useNostr) void this.#announce();
    return firstSuccess(tasks);
  }

  /** The envelope as a kind 4243 (may push) or 4244 (silent) event to the peer's addr, on every relay. */
  async #publish(peer: string, eventKind: number, envelope: unknown): Promise<{ via?: string }> {
    const t = this.#ensureNostr();
    const createdAt = Math.floor(this.#host.now().getTime() / 1000);
    const ev = buildKezEvent(eventKind, envelope, addr(peer), createdAt);
    const { relay } = await t.publish(ev, this.#host.peerRelay(peer));
    return { via: relayLabel(relay) };
  }

  /**
   * Publish a kind 0 (`content` as its JCS text, tagged with the own addr)
   * signed by the derived key, on every relay; resolves with the first relay
   * that accepted it. The seam for profiles (SPEC §14).
   */
  async publishMetadata(content: Record<string, unknown>): Promise<{ relay: string }> {
    const t = this.#ensureNostr();
    const now = Math.floor(this.#host.now().getTime() / 1000);
    const ev = buildMetadataEvent(content, this.#host.deps.me.primary, this.#key(), now);
    const ok = await t.publish(ev);
    // The one kind 0 of this identity from now on: announcements republish it (SPEC §12).
    this.#profileEvent = ev;
    if (!this.#host.closed()) await this.#host.deps.kv.set(this.#host.key('nostr_profile_event'), ev);
    return ok;
  }

  /**
   * The identity's profile kind 0, if it has one: the last published here,
   * else the one remembered in the sealed KV, else the newest kind 0 of the
   * derived key on the relays that carries a `kez_profile` (a restored
   * device). Null when there is none: then the minimal kind 0 may go out.
   */
  async #findProfileEvent(t: NostrTransport): Promise<NostrEvent | null> {
    if (this.#profileEvent) return this.#profileEvent;
    const kept = await this.#host.deps.kv.get<NostrEvent>(this.#host.key('nostr_profile_event'));
    if (kept && verifyEvent({ ...kept })) return (this.#profileEvent = kept);
    const pk = nostrPublicKey(this.#key());
    const found = (await t.query({ kinds: [0], authors: [pk] }).catch(() => []))
      .filter((e) => e.kind === 0 && e.pubkey === pk && hasProfile(e.content) && verifyEvent({ ...e }))
      .sort((a, b) => b.created_at - a.created_at);
    return found[0] ?? null;
  }

  #key(): Uint8Array {
    return (this.#nostrKey ??= nostrSecretKey(this.#host.deps.me.seed));
  }

  /**
   * Once per identity and relay set (SPEC §12): the relay list and a kind 0,
   * the profile's when there is one (never the minimal one over it). A
   * profile published while this ran goes out again after it. Errors are
   * only logged.
   */
  async #announce(): Promise<void> {
    const host = this.#host;
    if (this.#announcing || host.closed()) return;
    this.#announcing = true;
    const t = this.#ensureNostr();
    let used: NostrEvent | null = null;
    try {
      const published = await announceOnce({
        profileEvent: async () => (used = await this.#findProfileEvent(t)),
        kv: host.deps.kv,
        recordKey: host.key('nostr_announced'),
        relays: t.relays,
        primary: host.deps.me.primary,
        fqhn: `${host.deps.me.handle}@${host.deps.me.server}`,
        secretKey: this.#key(),
        now: Math.floor(host.now().getTime() / 1000),
        publish: (ev) => t.publish(ev),
      });
      const latest = this.#profileEvent;
      if (published && latest && latest !== used) await t.publish(latest);
    } catch (e) {
      console.debug('nostr: relay list / kind 0 not published:', e);
    }
  }

  /** NIP-11 limits of the advertised relays (the others' cannot be read under the page's CSP). */
  #readLimits(t: NostrTransport): void {
    const fetchFn = this.#host.deps.fetchRelayInfo;
    if (!fetchFn) return;
    for (const r of t.relays.filter((r) => (this.#host.deps.advertisedRelays ?? []).includes(r)))
      void fetchMaxMessageLength(r, fetchFn).then((n) => {
        if (n !== null) t.setLimit(r, n);
      });
  }

  /** The nostr transport, created on first use (sending works before or without subscribe()). */
  #ensureNostr(): NostrTransport {
    if (this.#nostr) return this.#nostr;
    const host = this.#host;
    const t = new NostrTransport({
      relays: [...host.relays()],
      pool: host.deps.nostrPool?.(),
      now: () => Math.floor(host.now().getTime() / 1000),
      authKey: this.#key(),
      onState: (s, p) => {
        if (this.#nostr !== t) return;
        host.onRelayStates(s, p);
        this.#nostrLive();
      },
      stateEveryMs: host.deps.nostrStateEveryMs,
    });
    this.#nostr = t;
    host.onRelayStates(t.states, t.problems);
    this.#readLimits(t);
    return t;
  }

  /** With transport `nostr` only, the live status is the relays'. */
  #nostrLive(): void {
    if (this.#host.transport() !== 'nostr' || !this.#connected || !this.#nostr) return;
    if (this.#nostr.connected > 0) {
      this.#nostrEverLive = true;
      this.#host.setLive('live');
    } else this.#host.setLive(this.#nostrEverLive ? 'reconnecting' : 'connecting');
  }

  /** Live delivery by the chosen transports: the own addr on the relays, the server's inbox stream. */
  connect(): void {
    if (this.#connected) return;
    this.#connected = true;
    const host = this.#host;
    if (host.transport() !== 'server' && host.relays().length) {
      this.#ensureNostr().subscribe(addr(host.deps.me.primary), this.#since, (ev, relay) =>
        // Runs unasked: a storage error must not become an unhandled rejection.
        host.ingestNostr(ev, relay).catch((e: unknown) => {
          if (!(e instanceof ChatClosedError)) console.debug('nostr ingest:', e);
        }),
      );
      this.#nostrLive();
      void this.#announce();
    }
    if (host.transport() !== 'nostr') this.#connectInbox();
  }

  #connectInbox(): void {
    if (this.#inbox) return;
    const host = this.#host;
    const { seed, server, handle } = host.deps.me;
    const api = host.api;
    this.#inbox = new InboxConnection({
      streamUrl: (since) => api.streamUrl(handle, streamAuth(seed, server, handle, host.now()), since),
      poll: (since) => api.pollInbox(handle, since, pollAuth(seed, server, handle, since, host.now())),
      lastSeq: () => host.lastSeq(),
      rewind: (newest) => host.rewind(newest),
      release: (through) => api.releaseInbox(handle, through, releaseAuth(seed, server, handle, through, host.now())),
      onItems: (items) => host.ingest(items),
      onStatus: (s) => host.setLive(s),
      onError: (e) => {
        const problem = liveProblemFor(e);
        if (problem !== undefined) host.setLiveProblem(problem);
        console.debug('inbox:', e);
      },
      EventSource: host.deps.EventSource,
      reconnectMs: host.deps.reconnectMs,
      pollMs: host.deps.pollMs,
    });
    this.#inbox.start();
  }

  pollNow(): Promise<void> {
    return this.#inbox?.pollNow() ?? Promise.resolve();
  }

  /** Stop live delivery and drop the relay connections (a later post opens new ones on the current relays). */
  close(): void {
    this.#connected = false;
    this.#inbox?.stop();
    this.#inbox = null;
    this.#nostr?.close();
    this.#nostr = null;
    this.#announcing = false;
    this.#nostrKey?.fill(0);
    this.#nostrKey = null;
  }
}

/** A kind 0 `content` that carries a profile document (SPEC §14.6), not the minimal announcement. */
function hasProfile(content: string): boolean {
  try {
    const c = JSON.parse(content) as { kez_profile?: unknown } | null;
    return typeof c?.kez_profile === 'object' && c.kez_profile !== null;
  } catch {
    return false;
  }
}
