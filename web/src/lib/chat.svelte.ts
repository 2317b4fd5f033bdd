// Conversations and messages for one unlocked identity. Persisted in the KV
// under keys prefixed by the own primary, so several identities used in the
// same browser never see each other's history.
import * as realApi from './api';
import { ApiError, type InboxItem, type LookupRecord } from './api';
import { pollAuth, streamAuth } from './auth';
import { newMessageId } from './bytes';
import { ackBody, ackIds, EnvelopeError, MAX_ACK_IDS, openEnvelope, seal, type SealedMessage } from './envelope';
import { InboxConnection, type LiveStatus } from './inbox';
import type { KV } from './kv';
import { SeenIds } from './seen';
import { parseRfc3339, rfc3339 } from './time';

export interface Conversation {
  peer_primary: string;
  /** Verified `handle@server` of the peer (from the directory), or null if unknown. */
  peer_handle: string | null;
  last_at: string;
  last_preview: string;
  unread: number;
  /**
   * The thread may hold outbound messages the server hasn't accepted
   * (`sending`/`failed`), so load() looks at it. Absent in history from before
   * this field: looked at once.
   */
  unsent?: boolean;
  /**
   * The primary the peer's handle belonged to when we first talked, set when
   * the directory now gives that handle this (different) primary: the person
   * reset their identity, or someone else has the handle. Cleared by trustKey().
   */
  key_changed_from?: string;
}

export type MessageStatus = 'sending' | 'sent' | 'delivered' | 'failed' | 'received';

export interface ChatMessage {
  id: string;
  dir: 'in' | 'out';
  body: string;
  sent_at: string;
  status: MessageStatus;
  error?: string;
  /** Inbound: whether our delivery receipt has been accepted by the server. */
  acked?: boolean;
  /** Outbound `failed`: the error may pass (network, 429, 5xx), so it is retried automatically. */
  retryable?: boolean;
  /** Outbound: automatic retries since the last send or manual Retry (bounded by AUTO_RETRIES). */
  retries?: number;
  /** Outbound: ids it was posted under before a re-send gave it a fresh one (an ack may name them). */
  prev_ids?: string[];
}

/** Automatic retries of one failed message before only the Retry button is left. */
export const AUTO_RETRIES = 5;

/**
 * A message re-posted once its sent_at is older than this gets a fresh
 * sent_at and id: recipients drop sent_at older than 7 days (SPEC §8
 * stale_sent_at) while the server still accepts the post, so it would show
 * "sent" and never arrive. A day of margin for a slow recipient.
 */
export const RESTAMP_AFTER_MS = 6 * 24 * 3600_000;

/** Shown when the server refuses the inbox signature as stale (SPEC §7.2 ±300 s). */
export const CLOCK_PROBLEM =
  'Can’t receive messages: this device’s clock looks wrong. Set the correct date and time, and messages will arrive.';

/** The footer's sentence for the live connection (Messages list). */
export function liveStatusText(live: LiveStatus, problem: string | null): string {
  switch (live) {
    case 'live':
      return 'live';
    case 'reconnecting':
      return 'reconnecting…';
    case 'paused':
      return 'paused (live in another tab)';
    case 'auth_failed':
      return problem ?? CLOCK_PROBLEM;
    case 'connecting':
      return 'connecting…';
  }
}

/**
 * The same for an open thread's header on a phone, where the list and its
 * footer are hidden: nothing while live (the normal case needs no words
 * and the header no clutter), otherwise the footer's words — including the
 * whole clock sentence, since nothing arrives until the user fixes it.
 */
export function threadLiveText(live: LiveStatus, problem: string | null): string | null {
  return live === 'live' ? null : liveStatusText(live, problem);
}

/** The warning for a conversation whose handle now belongs to a different key than at first contact. */
export function keyChangedText(fqhn: string): string {
  return `${fqhn}’s key changed since you last talked. Only continue if ${parseKez(fqhn).handle} told you they reset their identity.`;
}

/** Errors worth retrying without being asked: they may pass by themselves. */
function transient(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 0 || e.status === 429 || e.status >= 500);
}

/** Thrown by queued work once the store is closed (the identity is locking). */
export class ChatClosedError extends Error {
  constructor() {
    super('This chat is closed.');
    this.name = 'ChatClosedError';
  }
}

export interface Me {
  seed: Uint8Array;
  primary: string;
  handle: string; // local part
  server: string;
}

export type Api = Pick<typeof realApi, 'lookupHandle' | 'lookupPrimary' | 'postMessage' | 'pollInbox' | 'streamUrl'>;

export interface ChatDeps {
  kv: KV;
  me: Me;
  api?: Api;
  EventSource?: typeof EventSource;
  now?: () => Date;
  reconnectMs?: number;
  pollMs?: number;
  /** How long live acks wait to be batched into one post (default 500 ms). */
  ackDelayMs?: number;
}

export class StartChatError extends Error {}

/** `alice`, `@alice` or `alice@server` → { handle, server | null }. */
export function parseKez(input: string): { handle: string; server: string | null } {
  const s = input.trim().replace(/^@/, '');
  const at = s.lastIndexOf('@');
  if (at === -1) return { handle: s, server: null };
  return { handle: s.slice(0, at), server: s.slice(at + 1).toLowerCase() };
}

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

  sorted = $derived([...this.conversations].sort((a, b) => (a.last_at < b.last_at ? 1 : a.last_at > b.last_at ? -1 : 0)));
  totalUnread = $derived(this.conversations.reduce((n, c) => n + c.unread, 0));

  readonly #kv: KV;
  readonly #me: Me;
  readonly #api: Api;
  readonly #now: () => Date;
  readonly #seen: SeenIds;
  readonly #deps: ChatDeps;
  #queue: Promise<unknown> = Promise.resolve();
  #inbox: InboxConnection | null = null;
  #handleCache = new Map<string, Promise<string | null>>();
  /**
   * Verified `handle@server` → the primary it had at first contact (sealed
   * like the rest), so a handle that later points to another key is noticed
   * instead of silently opening a second, identical-looking conversation.
   */
  #contacts: Record<string, string> = {};
  #contactsDirty = false;
  /** Per peer: a batched live ack waiting to go out. */
  #ackTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Per peer: the ack run in progress (runs for one peer never overlap). */
  #acking = new Map<string, Promise<void>>();
  /** `peer/id` of outbound messages being posted right now (never posted twice at once). */
  #delivering = new Set<string>();
  /** Set by close(): no more sealing, ingesting or queued writes. */
  #closed = false;
  #onOnline = () => void this.retryFailed();

  constructor(deps: ChatDeps) {
    this.#deps = deps;
    this.#kv = deps.kv;
    this.#me = deps.me;
    this.#api = deps.api ?? realApi;
    this.#now = deps.now ?? (() => new Date());
    this.#seen = new SeenIds(this.#kv, this.#key('seen'));
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
    const contacts = await this.#kv.get<Record<string, string>>(this.#key('contacts'));
    if (contacts) this.#contacts = contacts;
    else if (convs.length) {
      // History from before this record: conversations are in the order they
      // began, so the first one per handle holds the key it had first.
      for (const c of this.conversations) if (c.peer_handle) this.#noteContact(c, c.peer_handle);
      await this.#saveConvs();
    }
    this.lastSeq = (await this.#kv.get<number>(this.#key('seq'))) ?? 0;
    await this.#seen.load();
    this.loaded = true;
    // In the background: offline, a post can take the whole request timeout.
    void this.#resend(true);
  }

  /**
   * Stop for good (on lock) before the seed is wiped: no more sealing or
   * ingesting, and every queued write finished. An ingest in progress stops
   * between items, so lastSeq never moves past a message it didn't open.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.disconnect();
    await this.#queue;
  }

  async #saveConvs(): Promise<void> {
    if (this.#contactsDirty) {
      this.#contactsDirty = false;
      await this.#kv.set(this.#key('contacts'), { ...this.#contacts });
    }
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
      this.conversations.push({ peer_primary: peer, peer_handle: handle, last_at: '', last_preview: '', unread: 0, unsent: false });
      c = this.conversations[this.conversations.length - 1];
    } else if (handle && c.peer_handle !== handle) {
      c.peer_handle = handle;
    }
    if (handle) this.#noteContact(c, handle);
    return c;
  }

  /** Remember the handle's key at first contact; flag the conversation if it differs from that. */
  #noteContact(c: Conversation, handle: string): void {
    const first = this.#contacts[handle];
    if (!first) {
      this.#contacts[handle] = c.peer_primary;
      this.#contactsDirty = true;
    } else if (first !== c.peer_primary && !c.key_changed_from) {
      c.key_changed_from = first;
    }
  }

  /** The primary `handle@server` had at first contact (undefined if never talked to). */
  knownKey(fqhn: string): string | undefined {
    return this.#contacts[fqhn];
  }

  /** "They told me they reset": the conversation's key becomes the one remembered for its handle. */
  trustKey(peer: string): Promise<void> {
    return this.#serial(async () => {
      const c = this.conversation(peer);
      if (!c?.key_changed_from) return;
      if (c.peer_handle) {
        this.#contacts[c.peer_handle] = peer;
        this.#contactsDirty = true;
      }
      delete c.key_changed_from;
      await this.#saveConvs();
    });
  }

  // ---- starting a chat -------------------------------------------------------

  /** Resolve `alice` / `alice@server` and make sure a conversation exists. Returns the peer primary. */
  async startChat(input: string): Promise<string> {
    const { handle, server } = parseKez(input);
    if (!handle) throw new StartChatError('Type the KEZ of the person you want to chat with, like alice or alice@' + this.#me.server + '.');
    if (server !== null && server !== this.#me.server) {
      throw new StartChatError(`Only people on ${this.#me.server} can be reached from here for now.`);
    }
    if (!/^[a-z0-9][a-z0-9_-]{2,31}$/.test(handle)) {
      throw new StartChatError(
        /[A-Z]/.test(handle) ? `KEZ handles are lower case — try “${handle.toLowerCase()}”.` : `“${handle}” isn’t a valid handle.`,
      );
    }
    if (handle === this.#me.handle) {
      throw new StartChatError('That’s you! Open this site in a second browser, create another account and message yourself there.');
    }
    let rec: LookupRecord;
    try {
      rec = await this.#api.lookupHandle(handle);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        throw new StartChatError(`Nobody called “${handle}” is registered on ${this.#me.server}. Check the spelling.`);
      }
      throw new StartChatError(e instanceof Error ? e.message : String(e));
    }
    if (rec.primary === this.#me.primary) throw new StartChatError('That’s you!');
    return this.#serial(async () => {
      const c = this.#ensureConversation(rec.primary, rec.fqhn ?? `${rec.handle}@${this.#me.server}`);
      if (!c.last_at) c.last_at = rfc3339(this.#now());
      await this.#saveConvs();
      return rec.primary;
    });
  }

  // ---- threads -----------------------------------------------------------------

  /** Show a thread: load it, reset unread, and retry any receipt that failed. */
  async openThread(peer: string): Promise<void> {
    this.activePeer = peer;
    if (this.#closed) return;
    await this.#serial(async () => {
      await this.#thread(peer);
      const c = this.conversation(peer);
      if (c && c.unread) {
        c.unread = 0;
        await this.#saveConvs();
      }
    });
    void this.#ackPending(peer);
  }

  closeThread(): void {
    this.activePeer = null;
  }

  /** Send a text message with local echo: sending → sent (201/200) → delivered (ack). */
  async send(peer: string, text: string): Promise<void> {
    const body = text.replace(/\s+$/, '');
    if (!body.trim() || this.#closed) return;
    const msg: ChatMessage = { id: newMessageId(), dir: 'out', body, sent_at: rfc3339(this.#now()), status: 'sending' };
    await this.#serial(async () => {
      const thread = await this.#thread(peer);
      thread.push(msg);
      const c = this.#ensureConversation(peer, null);
      c.last_at = msg.sent_at;
      c.last_preview = body;
      c.unsent = true;
      // The flag first: a tab closed in between must not hide the message from load().
      await this.#saveConvs();
      await this.#saveThread(peer);
    });
    await this.#deliver(peer, msg.id);
  }

  /** The Retry button: any failed message, whatever the error. */
  retry(peer: string, id: string): Promise<void> {
    return this.#deliver(peer, id);
  }

  /** Retry failed sends whose error may have passed (connection back, browser online). */
  retryFailed(): Promise<void> {
    return this.#resend(false);
  }

  /**
   * Post what the server never accepted. At load that includes messages
   * still `sending` (the tab closed mid-send; the server answers 200 with the
   * same seq for a `(to, id)` it already has, and the re-sealed envelope keeps
   * id and sent_at, unless too old: #restampIfStale). `failed` ones are
   * retried only for transient errors, at most AUTO_RETRIES times, so e.g. a
   * 404 unknown_recipient is left to Retry.
   */
  async #resend(atLoad: boolean): Promise<void> {
    if (this.#closed) return;
    try {
      const todo = await this.#serial(async () => {
        const found: [string, string][] = [];
        let changed = false;
        for (const c of this.conversations) {
          if (c.unsent === false) continue;
          let unsent = false;
          for (const m of await this.#thread(c.peer_primary)) {
            if (m.dir !== 'out' || (m.status !== 'sending' && m.status !== 'failed')) continue;
            unsent = true;
            if (this.#autoResend(c.peer_primary, m, atLoad)) found.push([c.peer_primary, m.id]);
          }
          if (c.unsent !== unsent) {
            c.unsent = unsent;
            changed = true;
          }
        }
        if (changed) await this.#saveConvs();
        return found;
      });
      // One at a time, in order: keeps the recipient's seqs in send order.
      for (const [peer, id] of todo) await this.#deliver(peer, id, atLoad ? 'load' : 'auto');
    } catch (e) {
      // Runs unasked (load, online): a storage error must not become an unhandled rejection.
      if (!(e instanceof ChatClosedError)) console.debug('resend:', e);
    }
  }

  #autoResend(peer: string, m: ChatMessage, atLoad: boolean): boolean {
    if (m.dir !== 'out' || this.#delivering.has(`${peer}/${m.id}`)) return false;
    if (m.status === 'sending') return atLoad;
    return m.status === 'failed' && m.retryable === true && (m.retries ?? 0) < AUTO_RETRIES;
  }

  #find(peer: string, id: string): ChatMessage | undefined {
    return this.threads[peer]?.find((m) => m.id === id);
  }

  async #peerHandle(peer: string): Promise<string> {
    const c = this.conversation(peer);
    const h = c?.peer_handle ?? (await this.#resolveHandle(peer, null));
    if (!h) throw new ApiError(404, 'unknown_recipient', '');
    return h;
  }

  /**
   * Post one outbound message. `send`: new or Retry button (resets the
   * count); `auto`/`load`: picked by #resend, counted when it had failed.
   */
  async #deliver(peer: string, id: string, mode: 'send' | 'auto' | 'load' = 'send'): Promise<void> {
    const key = `${peer}/${id}`;
    const m = this.#find(peer, id);
    // Delivered is final: never posted again, so never downgraded to sending.
    if (!m || m.dir !== 'out' || m.status === 'delivered' || this.#closed || this.#delivering.has(key)) return;
    // Re-checked now: a manual Retry may have settled it since it was picked.
    if (mode !== 'send' && !this.#autoResend(peer, m, mode === 'load')) return;
    const counted = mode !== 'send' && m.status === 'failed';
    this.#delivering.add(key);
    try {
      await this.#post(peer, id, counted);
    } catch (e) {
      // Closed mid-way: left `sending`, so the next unlock posts it again.
      if (!(e instanceof ChatClosedError)) throw e;
    } finally {
      this.#delivering.delete(key);
    }
  }

  async #post(peer: string, id: string, counted: boolean): Promise<void> {
    const m = await this.#serial(async () => {
      const msg = this.#find(peer, id);
      // Acked while this post waited for the queue.
      if (!msg || msg.status === 'delivered') return null;
      const restamped = this.#restampIfStale(peer, msg);
      msg.retries = counted ? (msg.retries ?? 0) + 1 : 0;
      msg.status = 'sending';
      msg.error = undefined;
      msg.retryable = undefined;
      if (restamped) await this.#saveConvs();
      await this.#saveThread(peer);
      return msg;
    });
    if (!m) return;
    const { sent_at, body } = m;
    const fresh = m.id !== id;
    id = m.id;
    // Under its new id too: #resend must not pick it while this post runs.
    if (fresh) this.#delivering.add(`${peer}/${id}`);
    try {
      let status: MessageStatus = 'sent';
      let error: string | undefined;
      let retryable: boolean | undefined;
      try {
        const to = await this.#peerHandle(peer);
        // Locking wipes the seed once close() returns: never seal after that.
        if (this.#closed) throw new ChatClosedError();
        const { envelope } = seal(this.#me.seed, { kind: 'text', id, from_handle: this.fqhn, to: peer, sent_at, body });
        await this.#api.postMessage(to, id, envelope);
      } catch (e) {
        if (e instanceof ChatClosedError) throw e;
        status = 'failed';
        error = e instanceof Error ? e.message : String(e);
        retryable = transient(e);
      }
      await this.#serial(async () => {
        const msg = this.#find(peer, id);
        if (!msg) return;
        // The ack may have raced ahead of the POST's answer (even a failed
        // one: a timeout after the server stored it). Delivered is final.
        if (msg.status !== 'delivered') {
          msg.status = status;
          msg.error = error;
          msg.retryable = retryable;
        }
        await this.#saveThread(peer);
      });
    } finally {
      if (fresh) this.#delivering.delete(`${peer}/${id}`);
    }
  }

  /**
   * A message about to be re-posted after RESTAMP_AFTER_MS gets a new
   * sent_at (the recipient would drop the old one as stale) and a new id: the
   * server may already hold the old id and would answer 200 for it without
   * storing the new envelope, and the recipient's replay guard is per id. It
   * moves to the end of the thread, where its new time puts it. The old id
   * is kept: if the first post did get through, the peer's ack names it.
   */
  #restampIfStale(peer: string, msg: ChatMessage): boolean {
    const now = this.#now();
    if (!(now.getTime() - parseRfc3339(msg.sent_at) > RESTAMP_AFTER_MS)) return false;
    msg.prev_ids = [...(msg.prev_ids ?? []), msg.id];
    msg.id = newMessageId();
    msg.sent_at = rfc3339(now);
    const thread = this.threads[peer];
    thread.sort((a, b) => (a.sent_at < b.sent_at ? -1 : a.sent_at > b.sent_at ? 1 : 0));
    const c = this.conversation(peer);
    if (c && msg.sent_at >= c.last_at) {
      c.last_at = msg.sent_at;
      c.last_preview = msg.body;
    }
    return true;
  }

  /**
   * Acknowledge every unacked inbound message from `peer`, up to
   * MAX_ACK_IDS per post, so catching up on a long thread costs a few posts
   * (acks count against the same per-IP rate limit as texts).
   */
  #ackPending(peer: string): Promise<void> {
    const ack = () => this.#ackNow(peer);
    // After the previous run however it ended: a rejected one must not skip every later ack.
    const run = (this.#acking.get(peer) ?? Promise.resolve()).then(ack, ack);
    this.#acking.set(peer, run);
    void run
      .catch(() => undefined)
      .finally(() => {
        if (this.#acking.get(peer) === run) this.#acking.delete(peer);
      });
    return run;
  }

  /** Never rejects: runs unasked (timer, openThread), and what failed is retried on the next open. */
  async #ackNow(peer: string): Promise<void> {
    try {
      const thread = this.threads[peer];
      if (!thread) return;
      const todo = thread.filter((m) => m.dir === 'in' && !m.acked).map((m) => m.id);
      for (let i = 0; i < todo.length && !this.#closed; i += MAX_ACK_IDS) {
        if (!(await this.#sendAck(peer, todo.slice(i, i + MAX_ACK_IDS)))) return;
      }
    } catch (e) {
      if (!(e instanceof ChatClosedError)) console.debug('ack:', e);
    }
  }

  /** Batch the delivery receipts of messages arriving together into one post. */
  #scheduleAck(peer: string): void {
    if (this.#ackTimers.has(peer) || this.#closed) return;
    const timer = setTimeout(() => {
      this.#ackTimers.delete(peer);
      void this.#ackPending(peer);
    }, this.#deps.ackDelayMs ?? 500);
    this.#ackTimers.set(peer, timer);
  }

  /** One signed ack for `ids`; false if it could not be posted (retried on the next open). */
  async #sendAck(peer: string, ids: string[]): Promise<boolean> {
    try {
      const to = await this.#peerHandle(peer);
      if (this.#closed) return false; // the seed is about to be wiped
      const id = newMessageId();
      const { envelope } = seal(this.#me.seed, {
        kind: 'ack',
        id,
        from_handle: this.fqhn,
        to: peer,
        sent_at: rfc3339(this.#now()),
        body: ackBody(ids),
      });
      await this.#api.postMessage(to, id, envelope, { notify: false });
    } catch {
      return false;
    }
    // Closed meanwhile: left unacked, so the next unlock acks again (idempotent).
    if (this.#closed) return false;
    await this.#serial(async () => {
      const acked = new Set(ids);
      for (const m of this.threads[peer] ?? []) if (m.dir === 'in' && acked.has(m.id)) m.acked = true;
      await this.#saveThread(peer);
    });
    return true;
  }

  // ---- inbound -------------------------------------------------------------------

  /** Directory-verified `handle@server` for a primary; checks a claimed handle if the reverse lookup fails. */
  #resolveHandle(primary: string, claimed: string | null): Promise<string | null> {
    let p = this.#handleCache.get(primary);
    if (!p) {
      p = (async () => {
        try {
          const r = await this.#api.lookupPrimary(primary);
          return r.fqhn ?? `${r.handle}@${this.#me.server}`;
        } catch {
          /* fall back to the claimed handle, if the directory agrees */
        }
        if (claimed) {
          const { handle, server } = parseKez(claimed);
          if (server === this.#me.server) {
            try {
              const r = await this.#api.lookupHandle(handle);
              if (r.primary === primary) return r.fqhn ?? claimed;
            } catch {
              /* unknown */
            }
          }
        }
        return null;
      })();
      this.#handleCache.set(primary, p);
      void p.then((h) => {
        if (h === null) this.#handleCache.delete(primary);
      });
    }
    return p;
  }

  /** Process inbox items in seq order; skips seqs already processed. */
  ingest(items: InboxItem[]): Promise<void> {
    // After close() the items stay on the server for the next unlock.
    if (this.#closed) return Promise.resolve();
    return this.#serial(async () => {
      for (const item of [...items].sort((a, b) => a.seq - b.seq)) {
        // Locking: stop here, so lastSeq stays before what wasn't opened.
        if (this.#closed) break;
        if (!Number.isSafeInteger(item.seq) || item.seq <= this.lastSeq) continue;
        await this.#ingestOne(item);
        this.lastSeq = item.seq;
      }
      // Seen ids first, then the seq: a crash in between re-delivers, and the
      // replay guard drops what was already handled.
      await this.#seen.flush();
      await this.#kv.set(this.#key('seq'), this.lastSeq);
    });
  }

  async #ingestOne(item: InboxItem): Promise<void> {
    let msg: SealedMessage;
    try {
      msg = openEnvelope(this.#me.seed, item.envelope, { now: this.#now(), seen: (id) => this.#seen.has(id) });
    } catch (e) {
      if (!(e instanceof EnvelopeError)) throw e;
      console.debug(`dropped inbox message seq ${item.seq}: ${e.code}`);
      return;
    }
    this.#seen.add(msg.id);
    const peer = msg.from;
    if (msg.kind === 'ack') {
      // Only the conversation's peer can confirm delivery of what we sent them;
      // openEnvelope verified ack_sig against `from`.
      const thread = this.conversation(peer) ? await this.#thread(peer) : [];
      const acked = new Set(ackIds(msg.body));
      let changed = false;
      for (const m of thread) {
        if (m.dir === 'out' && m.status !== 'delivered' && (acked.has(m.id) || m.prev_ids?.some((p) => acked.has(p)))) {
          m.status = 'delivered';
          m.error = undefined;
          changed = true;
        }
      }
      if (changed) await this.#saveThread(peer);
      return;
    }
    const thread = await this.#thread(peer);
    if (thread.some((m) => m.id === msg.id && m.dir === 'in')) return;
    const handle = await this.#resolveHandle(peer, msg.from_handle);
    // As UTC `Z`, like ours: sent_at is sorted as text, and an offset such as
    // `+14:00` would otherwise let the sender pin a message to the top.
    const sentAt = rfc3339(new Date(parseRfc3339(msg.sent_at)));
    thread.push({ id: msg.id, dir: 'in', body: msg.body, sent_at: sentAt, status: 'received', acked: false });
    thread.sort((a, b) => (a.sent_at < b.sent_at ? -1 : a.sent_at > b.sent_at ? 1 : 0));
    const c = this.#ensureConversation(peer, handle);
    if (sentAt >= c.last_at) {
      c.last_at = sentAt;
      c.last_preview = msg.body;
    }
    const viewing = this.activePeer === peer && (typeof document === 'undefined' || document.visibilityState === 'visible');
    if (!viewing) c.unread += 1;
    await this.#saveThread(peer);
    await this.#saveConvs();
    // A delivery receipt as soon as the message is on this device, batched
    // with the others arriving now.
    this.#scheduleAck(peer);
  }

  /** Catch up when the tab becomes visible on an open thread. */
  onVisible(): void {
    const peer = this.activePeer;
    if (!peer) return;
    void this.openThread(peer);
  }

  // ---- live connection ---------------------------------------------------------

  connect(): void {
    if (this.#inbox || this.#closed) return;
    const handle = this.#me.handle;
    this.#inbox = new InboxConnection({
      streamUrl: (since) => this.#api.streamUrl(handle, streamAuth(this.#me.seed, handle, this.#now()), since),
      poll: (since) => this.#api.pollInbox(handle, since, pollAuth(this.#me.seed, handle, since, this.#now())),
      lastSeq: () => this.lastSeq,
      onItems: (items) => this.ingest(items),
      onStatus: (s) => {
        const was = this.live;
        this.live = s;
        if (s === 'live') this.liveProblem = null;
        // Back online: what failed for want of a connection may go through now.
        if (s === 'live' && was !== 'live') void this.retryFailed();
      },
      onError: (e) => {
        if (e instanceof ApiError && e.status === 401) this.liveProblem = e.code === 'stale_auth' ? CLOCK_PROBLEM : e.message;
        console.debug('inbox:', e);
      },
      EventSource: this.#deps.EventSource,
      reconnectMs: this.#deps.reconnectMs,
      pollMs: this.#deps.pollMs,
    });
    this.#inbox.start();
    if (typeof window !== 'undefined') window.addEventListener('online', this.#onOnline);
  }

  pollNow(): Promise<void> {
    return this.#inbox?.pollNow() ?? Promise.resolve();
  }

  /** Stop live delivery and any batched ack still waiting (see close() for locking). */
  disconnect(): void {
    this.#inbox?.stop();
    this.#inbox = null;
    if (typeof window !== 'undefined') window.removeEventListener('online', this.#onOnline);
    for (const t of this.#ackTimers.values()) clearTimeout(t);
    this.#ackTimers.clear();
  }
}
