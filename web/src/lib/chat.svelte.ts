// Conversations and messages for one unlocked identity: the facade the
// components use. It owns the reactive state, the write queue and the KV
// records (keyed by the own primary, so several identities used in the same
// browser never see each other's history), opens what the inbox delivers and
// runs the live connection. The outgoing queue (outbox.ts), delivery receipts
// (receipts.ts) and the handle directory (directory.ts) work on its records
// through a ChatAccess; what arrives is opened and applied by inbound.ts.
// How inbound.ts and the transports are wired to it is in chatwiring.ts.
import type { HistoryFile } from './history/exportfile';
import { lazy } from './lazy';
import * as realApi from './api';
import { ApiError, type InboxItem, type LookupRecord } from './api';
import { foldKez } from './handles';
import { ContactBook, fqhnOf, HandleDirectory, lookupProblem, parseKez, StartChatError, startChatProblem } from './directory';
import type { LiveStatus } from './inbox';
import { memoryKV, type KV } from './kv';
import { Attachments } from './attachments/attachments';
import { SealedFiles } from './attachments/filestore';
import { Outbox } from './outbox';
import { Receipts } from './receipts';
import type { Inbound } from './inbound';
import { MessageOps } from './ops/ops';
import { ConvoActions } from './convo';
import { Presence } from './presence.svelte';
import { ChatClosedError, type Api, type ChatAccess, type ChatDeps, type ChatMessage, type Conversation, type Me } from './records';
import type { RelayProblem, RelayState } from './nostr/transport';
import type { Event as NostrEvent } from 'nostr-tools/pure';
import { SEEN_CAPACITY, SeenIds } from './seen';
import { rfc3339 } from './time';
import { checkedRelays, sameRelaySet, type Transports, type TransportChoice } from './transports';
import { wireCopies, wireInbound, wireTransports, type StoreParts } from './chatwiring';
import type { CopyQueue } from './history/copyqueue';
import { EarlyAcks } from './history/earlyacks';

export { keyChangedText, parseKez, StartChatError } from './directory';
export { CLOCK_PROBLEM, liveStatusText, threadLiveText } from './live';
export { MAX_SEND_ATTEMPTS, RESTAMP_AFTER_MS } from './outbox';
export { EmptyFileError, FileTooLargeError } from './attachments/attachments';
export { defaultTransport, firstSuccess, isRelayUrl, TRANSPORTS, type TransportChoice } from './transports';
export { ChatClosedError, type Api, type ChatDeps, type ChatMessage, type Conversation, type Me, type MessageStatus } from './records';

export function unreadLabel(n: number): string {
  return n > 99 ? '99+' : String(n);
}

export class ChatStore {
  conversations = $state<Conversation[]>([]);
  threads = $state<Record<string, ChatMessage[]>>({});
  activePeer = $state<string | null>(null);
  live = $state<LiveStatus>('connecting');
  /** A plain sentence on why live delivery doesn't work (with live === 'auth_failed'). */
  liveProblem = $state<string | null>(null);
  lastSeq = $state(0);
  loaded = $state(false);
  /** This identity's transport choice (persisted; see defaultTransport). */
  transport = $state<TransportChoice>('server');
  /** This identity's relays (persisted; default: the advertised ones). */
  relays = $state<string[]>([]);
  /** Each relay's connection state while the nostr transport runs. */
  relayStates = $state<Record<string, RelayState>>({});
  /** Why a relay refused the last event or subscription (auth required, too large), if it did. */
  relayProblems = $state<Record<string, RelayProblem>>({});
  relaysLive = $derived(Object.values(this.relayStates).filter((s) => s === 'connected').length);

  sorted = $derived([...this.conversations].sort((a, b) => (a.last_at < b.last_at ? 1 : a.last_at > b.last_at ? -1 : 0)));
  totalUnread = $derived(this.conversations.reduce((n, c) => n + (c.muted ? 0 : c.unread), 0));

  readonly #kv: KV;
  /** The relays the home server advertises (SPEC §12 discovery). */
  readonly #advertised: readonly string[];
  readonly #me: Me;
  readonly #api: Api;
  readonly #now: () => Date;
  readonly #seen: SeenIds;
  readonly #contacts: ContactBook;
  readonly #directory: HandleDirectory;
  readonly #outbox: Outbox;
  readonly #copies: CopyQueue;
  readonly #receipts: Receipts;
  readonly #inbound: Inbound;
  readonly #stallCheck: boolean;
  /** Files in conversations (SPEC §13): send, ask again, stored bytes and URLs for the UI. */
  readonly files: Attachments;
  /** The encrypted history export and import (SPEC §8.4); history/exportfile.ts loads on first use. */
  readonly history: Pick<HistoryFile, 'export' | 'import'>;
  /** Reactions, edits and deletes (SPEC §8.5): sent from the thread's menu, applied as they arrive. */
  readonly ops: MessageOps;
  /** Block, mute, delete, note to self and search (convo.ts). */
  readonly convo: ConvoActions;
  /** Read receipts and typing (SPEC §8.6): the switches, what is shown, what goes out. */
  readonly presence: Presence;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #transports: Transports;
  #connected = false;
  /** Set by close(): no more sealing, ingesting or queued writes. */
  #closed = false;
  #onOnline = () => void this.retryFailed();

  constructor(deps: ChatDeps) {
    this.#kv = deps.kv;
    this.#advertised = deps.advertisedRelays ?? [];
    this.#me = deps.me;
    this.#api = deps.api ?? realApi;
    this.#now = deps.now ?? (() => new Date());
    // Before each batch's seen ids: the pending ops, the early acks (written once per batch, not per op or ack).
    this.#seen = new SeenIds(this.#kv, this.#key('seen'), SEEN_CAPACITY, async () => (await this.ops.pending.save(), await this.#receipts.early?.flush()));
    this.#contacts = new ContactBook(this.#kv, this.#key('contacts'));
    this.#directory = new HandleDirectory(this.#api, this.#me.server);
    const access = this.#access();
    this.#outbox = new Outbox(access, deps.sleep);
    this.#receipts = new Receipts(access, deps.ackDelayMs, new EarlyAcks(this.#kv, this.#key('early_acks')));
    this.#stallCheck = deps.stallCheck ?? true;
    this.ops = new MessageOps({ chat: access, own: deps.me.primary, postSilent: (p, m, g) => this.#outbox.postSilent(p, m, g), generation: (p) => this.#outbox.generation(p), blocked: (p) => this.convo.blocked(p), wipeFile: (p, d, id) => this.files.wipe(p, d, id), kv: this.#kv, key: (p) => this.#key(p) });
    this.presence = new Presence({ chat: access, own: deps.me.primary, kv: this.#kv, key: (p) => this.#key(p), post: (peer, m, stored, keepalive) => this.#transports.postLive(peer, m, stored, keepalive), activePeer: () => this.activePeer });
    const parts: StoreParts = { store: this, chat: access, deps, api: this.#api, kv: this.#kv, seen: this.#seen, directory: this.#directory, receipts: this.#receipts,
      now: () => this.#now(), closed: () => this.#closed, key: (p) => this.#key(p), ensureConversation: (p, h) => this.#ensureConversation(p, h),
      peerHandle: (p) => this.#peerHandle(p), inbound: () => this.#inbound, transports: () => this.#transports, copies: () => this.#copies };
    this.#copies = wireCopies(parts, this.#outbox);
    this.#inbound = wireInbound(parts);
    this.convo = new ConvoActions({ chat: access, kv: this.#kv, key: (p) => this.#key(p), own: { primary: deps.me.primary, fqhn: this.fqhn }, ensure: (p, h) => this.#ensureConversation(p, h), dropThread: (p) => delete this.threads[p], forgetFiles: (p, ms) => this.files.forget(p, ms),
      forgetQueued: async (p, ids) => { this.presence.forget(p); this.#outbox.forget(p); await this.#copies.forget(p); await this.#seen.addAll(ids); await this.ops.forget(p); } });
    this.files = new Attachments({
      chat: access,
      kv: this.#kv,
      files: new SealedFiles(deps.files ?? memoryKV(), deps.me.seed),
      key: (part) => this.#key(part),
      transport: () => this.transport,
      receive: (msg, shown) => this.#inbound.receive(msg, shown),
      scheduleAck: (peer) => this.#receipts.schedule(peer),
      sentChunk: (id) => this.#receipts.early?.noteOwnChunk(id),
    });
    const historyFile = lazy(async () => {
      const { HistoryFile } = await import('./history/exportfile');
      return new HistoryFile({ chat: access, seed: deps.me.seed, primary: deps.me.primary, ensureConversation: (p, h) => this.#ensureConversation(p, h), wipeFile: (p, d, id) => this.files.wipe(p, d, id), settleOps: (ps) => this.ops.settle(ps) });
    });
    this.history = {
      export: async () => (await historyFile()).export(),
      import: async (text) => (await historyFile()).import(text),
    };
    this.#transports = wireTransports(parts);
  }

  get me(): Readonly<Omit<Me, 'seed'>> {
    const { primary, handle, server } = this.#me;
    return { primary, handle, server };
  }

  get fqhn(): string {
    return `${this.#me.handle}@${this.#me.server}`;
  }

  #key(part: string): string {
    return `chat:${this.#me.primary}:${part}`;
  }

  /** What the outbox and the receipts may use of this store. */
  #access(): ChatAccess {
    const closed = () => this.#closed;
    return {
      get closed() {
        return closed();
      },
      now: () => this.#now(),
      serial: <T>(fn: () => Promise<T>) => this.#serial(fn),
      conversations: () => this.conversations,
      conversation: (peer) => this.conversation(peer),
      ensureConversation: (peer) => this.#ensureConversation(peer, null),
      thread: (peer) => this.#thread(peer),
      loadedThread: (peer) => this.threads[peer],
      saveThread: (peer) => this.#saveThread(peer),
      saveConvs: () => this.#saveConvs(),
      post: (peer, m, opts) => this.#transports.post(peer, m, opts),
    };
  }

  /** Run `fn` after every previously queued mutation (keeps IDB writes ordered). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    // Work queued before close() still runs (close() waits for it); later work doesn't.
    if (this.#closed) return Promise.reject(new ChatClosedError());
    const p = this.#queue.then(fn, fn);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async load(): Promise<void> {
    const convs = (await this.#kv.get<Conversation[]>(this.#key('convs'))) ?? [];
    this.conversations = convs;
    if (!(await this.#contacts.load()) && convs.length) {
      // History from before this record: conversations are in the order they
      // began, so the first one per handle holds the key it had first.
      this.#contacts.seed(this.conversations);
      await this.#saveConvs();
    }
    this.lastSeq = (await this.#kv.get<number>(this.#key('seq'))) ?? 0;
    ({ transport: this.transport, relays: this.relays } = await this.#transports.load());
    await this.#seen.load();
    await this.convo.load();
    await this.presence.load();
    await this.ops.load();
    await this.files.load(this.#stallCheck);
    await Promise.all([this.#copies.load(), this.#receipts.early?.load(this.#now().getTime())]);
    this.loaded = true;
    // In the background: offline, a post can take the whole request timeout.
    void this.#outbox.resend(true);
    this.#copies.wake();
    this.ops.resume();
    void this.#receipts.retryAll();
    void this.files.resume();
  }

  /**
   * Stop for good (on lock) before the seed is wiped: no more sealing or
   * ingesting, and every queued write finished (the store's, the self-copies'
   * and the unposted ops'; the copy worker is woken to stop). An ingest in
   * progress stops between items, so lastSeq never moves past a message it didn't open.
   */
  async close(): Promise<void> {
    // Before closing: what was read here and not yet told to the own devices is posted now.
    const reads = this.presence.close();
    this.#closed = true;
    this.disconnect();
    this.files.close();
    await Promise.all([reads, this.#queue, this.#copies.close(), this.ops.unposted.settled()]);
  }

  async #saveConvs(): Promise<void> {
    await this.#contacts.save();
    await this.#kv.set(this.#key('convs'), $state.snapshot(this.conversations));
  }

  async #thread(peer: string): Promise<ChatMessage[]> {
    if (!this.threads[peer]) {
      this.threads[peer] = (await this.#kv.get<ChatMessage[]>(this.#key(`msgs:${peer}`))) ?? [];
    }
    return this.threads[peer];
  }

  async #saveThread(peer: string): Promise<void> {
    await this.#kv.set(this.#key(`msgs:${peer}`), $state.snapshot(this.threads[peer] ?? []));
  }

  conversation(peer: string): Conversation | undefined {
    return this.conversations.find((c) => c.peer_primary === peer);
  }

  #ensureConversation(peer: string, handle: string | null): Conversation {
    let c = this.conversation(peer);
    if (!c) {
      this.conversations.push({ peer_primary: peer, peer_handle: handle, last_at: '', last_preview: '', unread: 0, unsent: false, ...(this.convo.mutedElsewhere(peer) ? { muted: true } : {}) });
      c = this.conversations[this.conversations.length - 1];
    } else if (handle && c.peer_handle !== handle) {
      c.peer_handle = handle;
    }
    if (handle) this.#contacts.note(c, handle);
    return c;
  }

  /** The primary `handle@server` had at first contact (undefined if never talked to). */
  knownKey(fqhn: string): string | undefined {
    return this.#contacts.known(fqhn);
  }

  /** "They told me they reset": the conversation's key becomes the one remembered for its handle. */
  trustKey(peer: string): Promise<void> {
    return this.#serial(async () => {
      const c = this.conversation(peer);
      if (!c?.key_changed_from) return;
      if (c.peer_handle) this.#contacts.trust(c.peer_handle, peer);
      delete c.key_changed_from;
      await this.#saveConvs();
    });
  }

  /** Resolve `alice` / `alice@server` and make sure a conversation exists. Returns the peer primary. */
  async startChat(input: string): Promise<string> {
    const { handle, server } = parseKez(foldKez(input));
    const problem = startChatProblem(handle, server, this.#me);
    if (problem) throw new StartChatError(problem);
    let rec: LookupRecord;
    try {
      rec = await this.#api.lookupHandle(handle);
    } catch (e) {
      throw new StartChatError(lookupProblem(e, handle, this.#me.server));
    }
    if (rec.primary === this.#me.primary) return this.convo.noteToSelf();
    return this.#serial(async () => {
      const c = this.#ensureConversation(rec.primary, fqhnOf(rec, this.#me.server));
      if (!c.last_at) c.last_at = rfc3339(this.#now());
      await this.#saveConvs();
      return rec.primary;
    });
  }

  /** Show a thread: load it, reset unread, and retry any receipt that failed. */
  async openThread(peer: string): Promise<void> {
    this.activePeer = peer;
    if (this.#closed) return;
    await this.#serial(async () => {
      await this.#thread(peer);
      const c = this.conversation(peer);
      this.presence.opened(peer, c?.unread ?? 0);
      if (c && c.unread) {
        c.unread = 0;
        await this.#saveConvs();
      }
    });
    void this.#receipts.ackPending(peer);
  }

  closeThread(): void {
    this.activePeer = null;
  }

  /** Send a text message (a reply to `replyTo`, SPEC §8.5) with local echo: sending → sent (201/200) → delivered (ack). */
  send(peer: string, text: string, replyTo?: string): Promise<void> {
    return this.#outbox.send(peer, text, replyTo);
  }

  /** The Retry button: the failed texts of the thread again, in order, whatever the error (a file continues where it stopped). */
  retry(peer: string, id: string): Promise<void> {
    if (this.threads[peer]?.find((m) => m.id === id && m.dir === 'out')?.attachment) return this.files.retry(peer, id);
    return this.#outbox.retry(peer);
  }

  /** The connection is back (live again, browser online): waiting sends and self-copies try now, pending receipts go again. */
  async retryFailed(): Promise<void> {
    this.#copies.wake();
    await Promise.all([this.#outbox.resend(false), this.#receipts.retryAll()]);
  }

  async #peerHandle(peer: string): Promise<string> {
    const c = this.conversation(peer);
    const h = c?.peer_handle ?? (peer === this.#me.primary ? this.fqhn : await this.#directory.resolve(peer, null));
    if (!h) throw new ApiError(404, 'unknown_recipient', '');
    return h;
  }

  /** Process inbox items in seq order; skips seqs already processed. */
  ingest(items: InboxItem[]): Promise<void> {
    return this.#inbound.ingest(items);
  }

  /** Events from the relays (SPEC §12), opened and applied like the inbox's (inbound.ts). */
  ingestNostr(events: NostrEvent[], relay?: string): Promise<void> {
    return this.#inbound.ingestNostr(events, relay);
  }

  /** Catch up when the tab becomes visible on an open thread. */
  onVisible(): void {
    if (this.activePeer) void this.openThread(this.activePeer);
  }

  connect(): void {
    if (this.#connected || this.#closed) return;
    this.#connected = true;
    this.#transports.connect();
    if (typeof window !== 'undefined') window.addEventListener('online', this.#onOnline);
  }

  pollNow(): Promise<void> {
    return this.#transports.pollNow();
  }

  /** Publish a kind 0 signed by the derived nostr key (SPEC §12, §14), `content` as its JCS text; rejects with the relays' reasons when none took it. */
  publishMetadata(content: Record<string, unknown>): Promise<{ relay: string }> {
    if (this.#closed) return Promise.reject(new ChatClosedError());
    return this.#transports.publishMetadata(content);
  }

  /**
   * Change the transport and/or relays: persisted, and live delivery
   * restarted on the new ones. A relay list equal to the advertised one (as
   * a set) is not stored: the identity keeps following the server's list
   * when the operator changes it (review r11 #5).
   */
  async configure(transport: TransportChoice, relays: readonly string[]): Promise<void> {
    const list = checkedRelays(transport, relays, this.#advertised);
    await this.#serial(async () => {
      await this.#kv.set(this.#key('transport'), transport);
      if (sameRelaySet(list, this.#advertised)) await this.#kv.del(this.#key('relays'));
      else await this.#kv.set(this.#key('relays'), list);
    });
    const wasConnected = this.#connected;
    this.disconnect();
    this.transport = transport;
    this.relays = list;
    if (wasConnected) this.connect();
  }

  /** Stop live delivery and any batched ack still waiting (see close() for locking). */
  disconnect(): void {
    this.#connected = false;
    this.#transports.close();
    this.relayStates = {};
    if (typeof window !== 'undefined') window.removeEventListener('online', this.#onOnline);
    this.#receipts.cancel();
  }
}
