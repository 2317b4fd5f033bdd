// The ways a sealed envelope travels (SPEC §12): the home server's
// POST /v1/messages, nostr relays, or both. ChatStore owns one Transports and
// keeps the chat logic (sealing, threads, receipts); this module only moves
// envelopes and relay events. What it reads of the store: transporthost.ts.
// The nostr side (nostr-tools, secp256k1: nostr/kit.ts) is loaded with
// import() the first time relays are used, not with the app.
import type { Event as NostrEvent } from 'nostr-tools/pure';
import { pollAuth, releaseAuth, streamAuth } from './auth';
import { seal } from './envelope';
import type { PendingCopy } from './history/copyqueue';
import { sentBody, wantsCopy } from './history/selfcopy';
import { InboxConnection, type LiveStatus } from './inbox';
import { liveProblemFor } from './live';
import { addr } from './nostr/addr';
import { relayLabel } from './nostr/bookkeeping';
import { eventKindFor, KIND_SILENT } from './nostr/kinds';
import type * as NostrKit from './nostr/kit';
import type { NostrTransport } from './nostr/transport';
import { ChatClosedError, PostCancelledError, type Outgoing, type PostOptions } from './records';
import type { TransportHost } from './transporthost';
import { defaultTransport, firstSuccess, isRelayUrl, sameRelay, TRANSPORTS, type TransportChoice } from './relays';

export { checkedRelays, crossServerNote, defaultTransport, firstSuccess, isRelayUrl, relayStatusText, sameRelay, sameRelaySet, TRANSPORTS, type TransportChoice } from './relays';
export type { TransportHost } from './transporthost';

type Kit = typeof NostrKit;
let kitLoading: Promise<Kit> | undefined;
/** nostr/kit.ts, loaded once; a failed load (offline before it was cached) is tried again next time. */
function loadKit(): Promise<Kit> {
  kitLoading ??= import('./nostr/kit').catch((e: unknown) => {
    kitLoading = undefined;
    throw e;
  });
  return kitLoading;
}

export class Transports {
  readonly #host: TransportHost;
  #nostr: NostrTransport | null = null;
  #inbox: InboxConnection | null = null;
  #connected = false;
  #nostrEverLive = false;
  /** The inbox stream's last status (transports `server` and `both`). */
  #inboxStatus: LiveStatus = 'connecting';
  #announcing = false;
  /** Newest created_at accepted from a relay (unix s), as persisted. */
  #since = 0;
  /** The derived nostr key (SPEC §12), while a relay connection may need it; zeroed on close. */
  #nostrKey: Uint8Array | null = null;
  /** The last profile kind 0 this identity published (SPEC §14.6), once known. */
  #profileEvent: NostrEvent | null = null;
  /** Bumped by connect() and close(): a subscription whose kit arrives after a close() is not made. */
  #generation = 0;

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
  async post(peer: string, m: Outgoing, options?: PostOptions): Promise<{ via?: string }> {
    const { cancelled, ...rest } = options ?? {};
    const opts = options && 'notify' in rest ? rest : undefined;
    const host = this.#host;
    const useServer = host.transport() !== 'nostr';
    const useNostr = host.transport() !== 'server';
    // Server only: resolve the handle first, as before (nothing sealed for an unknown one).
    const to = useServer && !useNostr ? await host.peerHandle(peer) : null;
    // Locking wipes the seed once close() returns: never seal after that.
    if (host.closed()) throw new ChatClosedError();
    // The conversation was deleted while this post waited (for the handle): nothing goes out.
    if (cancelled?.()) throw new PostCancelledError();
    const { kind, id, sent_at, body } = m;
    const { seed, handle, server } = host.deps.me;
    const { message, envelope } = seal(seed, { kind, id, from_handle: `${handle}@${server}`, to: peer, sent_at, body });
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
    const result = await firstSuccess(tasks);
    // After the original was accepted, never before (SPEC §8.3), and not for a conversation deleted meanwhile:
    // into the persisted queue (history/copyqueue.ts), on disk before this resolves; never rejects.
    if (host.deps.selfCopies !== false && wantsCopy(kind, peer, host.deps.me.primary) && !cancelled?.())
      await host.queueCopy({ message, to_handle: to });
    return result;
  }

  /**
   * A read receipt or typing signal (SPEC §8.6): sealed once, posted
   * ephemeral (§7.7) and/or published as kind 24244; never self-copied,
   * never retried. Resolves when one transport took it. One to the own
   * primary (the own devices' `read`) goes over the server only, never to a
   * relay: a 24244 to the own addr would tell the peer when we read (§8.6);
   * without the server it is not sent at all. `stored` (own primary only):
   * the cheap STORED own `read` instead, in the own mailbox with notify
   * false (`keepalive` as the page goes), for devices not live (§8.6).
   */
  async postLive(peer: string, m: Outgoing, stored = false, keepalive = false): Promise<void> {
    const host = this.#host;
    const toOwn = peer === host.deps.me.primary;
    if (stored && !toOwn) throw new Error('only the own devices’ read is stored');
    const useServer = host.transport() !== 'nostr' && (stored || !!host.api.postEphemeral);
    const useNostr = !toOwn && host.transport() !== 'server' && host.relays().length > 0;
    if (host.closed()) throw new ChatClosedError();
    const { seed, handle, server } = host.deps.me;
    const { kind, id, sent_at, body } = m;
    const { envelope } = seal(seed, { kind, id, from_handle: `${handle}@${server}`, to: peer, sent_at, body });
    const tasks: Promise<unknown>[] = [];
    if (useServer && stored) tasks.push(host.api.postMessage(handle, id, envelope, { notify: false, keepalive }));
    else if (useServer) tasks.push(host.peerHandle(peer).then((h) => host.api.postEphemeral!(h, id, envelope)));
    if (useNostr) tasks.push(this.#publish(peer, eventKindFor(kind), envelope));
    if (tasks.length) await firstSuccess(tasks);
  }

  /**
   * Post one self-copy (SPEC §8.3; the queue is history/copyqueue.ts): the
   * original sealed again to the own primary as `sent`, posted to the own
   * handle with notify false and/or published to the own addr as a silent
   * kind 4244, by the transports chosen now. Resolves when one accepted it.
   */
  async postCopy({ message, to_handle }: PendingCopy): Promise<void> {
    const host = this.#host;
    const me = host.deps.me;
    const handle = to_handle ?? (await host.peerHandle(message.to).catch(() => null));
    if (host.closed()) throw new ChatClosedError();
    const { id, from_handle, sent_at } = message;
    const { envelope } = seal(me.seed, { kind: 'sent', id, from_handle, to: me.primary, sent_at, body: sentBody(message, handle) });
    const tasks: Promise<unknown>[] = [];
    if (host.transport() !== 'nostr') tasks.push(host.api.postMessage(me.handle, id, envelope, { notify: false }));
    if (host.transport() !== 'server') tasks.push(this.#publish(me.primary, KIND_SILENT, envelope));
    await firstSuccess(tasks);
  }

  /** The envelope as a kind 4243 (may push) or 4244 (silent) event to the peer's addr, on every relay. */
  async #publish(peer: string, eventKind: number, envelope: unknown): Promise<{ via?: string }> {
    const kit = await loadKit();
    if (this.#host.closed()) throw new ChatClosedError();
    const t = this.#ensureNostr(kit);
    const createdAt = Math.floor(this.#host.now().getTime() / 1000);
    const ev = kit.buildKezEvent(eventKind, envelope, addr(peer), createdAt);
    const { relay } = await t.publish(ev, this.#host.peerRelay(peer));
    return { via: relayLabel(relay) };
  }

  /**
   * Publish a kind 0 (`content` as its JCS text, tagged with the own addr)
   * signed by the derived key, on every relay; resolves with the first relay
   * that accepted it. The seam for profiles (SPEC §14).
   */
  async publishMetadata(content: Record<string, unknown>): Promise<{ relay: string }> {
    const kit = await loadKit();
    if (this.#host.closed()) throw new ChatClosedError();
    const t = this.#ensureNostr(kit);
    const now = Math.floor(this.#host.now().getTime() / 1000);
    const ev = kit.buildMetadataEvent(content, this.#host.deps.me.primary, this.#key(kit), now);
    const ok = await t.publishOwn(ev);
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
  async #findProfileEvent(kit: Kit, t: NostrTransport): Promise<NostrEvent | null> {
    if (this.#profileEvent) return this.#profileEvent;
    const kept = await this.#host.deps.kv.get<NostrEvent>(this.#host.key('nostr_profile_event'));
    if (kept && kit.verifyEvent({ ...kept })) return (this.#profileEvent = kept);
    const pk = kit.nostrPublicKey(this.#key(kit));
    const found = (await t.query({ kinds: [0], authors: [pk] }).catch(() => []))
      .filter((e) => e.kind === 0 && e.pubkey === pk && hasProfile(e.content) && kit.verifyEvent({ ...e }))
      .sort((a, b) => b.created_at - a.created_at);
    return found[0] ?? null;
  }

  #key(kit: Kit): Uint8Array {
    return (this.#nostrKey ??= kit.nostrSecretKey(this.#host.deps.me.seed));
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
    let used: NostrEvent | null = null;
    try {
      const kit = await loadKit();
      // Closed while the kit loaded: close() cleared #announcing, nothing to announce for.
      if (host.closed() || !this.#announcing) return;
      const t = this.#ensureNostr(kit);
      const published = await kit.announceOnce({
        profileEvent: async () => (used = await this.#findProfileEvent(kit, t)),
        kv: host.deps.kv,
        recordKey: host.key('nostr_announced'),
        relays: t.relays,
        secretKey: this.#key(kit),
        now: Math.floor(host.now().getTime() / 1000),
        publish: (ev) => t.publishOwn(ev),
      });
      const latest = this.#profileEvent;
      if (published && latest && latest !== used) await t.publishOwn(latest);
    } catch (e) {
      console.debug('nostr: relay list / kind 0 not published:', e);
    }
  }

  /** NIP-11 limits of the advertised relays (the others' cannot be read under the page's CSP). */
  #readLimits(kit: Kit, t: NostrTransport): void {
    const fetchFn = this.#host.deps.fetchRelayInfo;
    if (!fetchFn) return;
    for (const r of t.relays.filter((r) => sameRelay(this.#host.deps.advertisedRelays ?? [], r)))
      void kit.fetchMaxMessageLength(r, fetchFn).then((n) => {
        if (n !== null) t.setLimit(r, n);
      });
  }

  /** The nostr transport, created on first use (sending works before or without subscribe()); the kit is loaded. */
  #ensureNostr(kit: Kit): NostrTransport {
    if (this.#nostr) return this.#nostr;
    const host = this.#host;
    const t = new kit.NostrTransport({
      relays: [...host.relays()],
      // Two pools: reading and publishing never share a connection (SPEC §12).
      pool: host.deps.nostrPool?.(),
      publishPool: host.deps.nostrPool?.(),
      now: () => Math.floor(host.now().getTime() / 1000),
      authKey: this.#key(kit),
      onState: (s, p) => {
        if (this.#nostr !== t) return;
        host.onRelayStates(s, p);
        this.#applyLive();
      },
      stateEveryMs: host.deps.nostrStateEveryMs,
    });
    this.#nostr = t;
    host.onRelayStates(t.states, t.problems);
    this.#readLimits(kit, t);
    return t;
  }

  /**
   * The live indicator from what carries messages: with `server` the inbox
   * stream's status, with `nostr` the relays' (live when one is connected),
   * with `both` live when either is (review r11 #9: messages flow through
   * the relay while the server is down), else the inbox's. A change to live
   * makes the chat retry its failed sends.
   */
  #applyLive(): void {
    const host = this.#host;
    const t = host.transport();
    if (!this.#connected) return;
    const nostrUp = t !== 'server' && !!this.#nostr && this.#nostr.connected > 0;
    if (nostrUp) this.#nostrEverLive = true;
    const inbox = this.#inboxStatus;
    if (t === 'server') host.setLive(inbox);
    else if (t === 'nostr') host.setLive(nostrUp ? 'live' : this.#nostrEverLive ? 'reconnecting' : 'connecting');
    else host.setLive(inbox === 'paused' ? inbox : nostrUp ? 'live' : inbox);
  }

  /** Live delivery by the chosen transports: the own addr on the relays, the server's inbox stream. */
  connect(): void {
    if (this.#connected) return;
    this.#connected = true;
    const host = this.#host;
    if (host.transport() !== 'server' && host.relays().length) void this.#subscribeNostr(++this.#generation);
    if (host.transport() !== 'nostr') this.#connectInbox();
  }

  /**
   * The own addr on the relays, once the kit has loaded (meanwhile the live
   * indicator says connecting). Nothing is missed while it loads: the
   * subscription asks from the persisted `since` (SPEC §12), and relay events
   * go through the store's one ingest queue in the order they arrive.
   */
  async #subscribeNostr(generation: number): Promise<void> {
    const host = this.#host;
    let kit: Kit;
    try {
      kit = await loadKit();
    } catch (e) {
      // Offline before the kit was cached: the next connect() (back online, unlock) tries again.
      console.debug('nostr: transport not loaded:', e);
      return;
    }
    if (generation !== this.#generation || !this.#connected || host.closed()) return;
    this.#ensureNostr(kit).subscribe(addr(host.deps.me.primary), this.#since, (ev, relay) =>
      // Runs unasked: a storage error must not become an unhandled rejection.
      host.ingestNostr(ev, relay).catch((e: unknown) => {
        if (!(e instanceof ChatClosedError)) console.debug('nostr ingest:', e);
      }),
    );
    this.#applyLive();
    void this.#announce();
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
      onEphemeral: (envelope) => void host.ingestEphemeral(envelope).catch((e: unknown) => console.debug('ephemeral:', e)),
      onStatus: (s) => {
        this.#inboxStatus = s;
        this.#applyLive();
      },
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
    this.#generation++;
    this.#inbox?.stop();
    this.#inbox = null;
    this.#inboxStatus = 'connecting';
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
