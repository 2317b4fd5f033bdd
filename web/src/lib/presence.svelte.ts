// Read receipts and typing for one unlocked identity (SPEC §8.6): the two
// switches (typing on by default, read receipts off by default and
// reciprocal), what goes out (ephemeral, never retried; for the own devices
// also a cheap stored `read`, ownreads.ts) and what a received
// `typing`/`read` changes. Nothing of a received signal is stored: typing
// lives in memory, and a read mark only sets `read` on our own message.
// What this device reads also goes to the identity's own other devices (a
// `read` to oneself over the server only, whatever the switch), which clear their unread counts;
// devices not live then get a cheap stored one later (ownreads.ts).
// The rules without state are in presence.ts.
import type { KV } from './kv';
import { newMessageId } from './bytes';
import { StoredOwnReads } from './ownreads';
import type { SealedMessage } from './envelope';
import { parseTyping, typingBody } from './livebody';
import { BoundedSet } from './nostr/bookkeeping';
import { ackIds } from './envelope';
import { LIVE_SEEN_MAX, markRead, newlyRead, OWN_READS_KEPT, READ_BATCH_MS, readBodies, readTargets, TYPING_SHOWN_MS, TypingSender } from './presence';
import type { ChatAccess, ChatMessage, Outgoing } from './records';
import { rfc3339 } from './time';
import { UnreadIds } from './unreadids';

/** What Presence uses of the ChatStore. */
export interface PresenceHost {
  chat: ChatAccess;
  /** The own primary: where the own-devices `read` goes, and how one from them is told apart. */
  own?: string;
  kv: KV;
  key(part: string): string;
  /** Seal and send ephemeral, or `stored` (the own devices' stored `read` only, `keepalive` as the page goes) (Transports.postLive). */
  post(peer: string, m: Outgoing, stored?: boolean, keepalive?: boolean): Promise<void>;
  /** The thread open in the UI, if any. */
  activePeer(): string | null;
}

/** Whether `peer`'s thread is open on a visible page: what "the message is shown" means here. */
function viewing(host: PresenceHost, peer: string): boolean {
  return host.activePeer() === peer && (typeof document === 'undefined' || document.visibilityState === 'visible');
}

export class Presence {
  /** Send and show typing indicators (default on). */
  typingOn = $state(true);
  /** Send and show read receipts (default off; reciprocal: off means neither). */
  readOn = $state(false);
  /** Peers shown as typing now. */
  typing = $state<Record<string, boolean>>({});

  readonly #h: PresenceHost;
  readonly #sender = new TypingSender();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Per peer: ids read while receipts were on, for the next `read` to that peer. */
  readonly #reads = new Map<string, Set<string>>();
  /** Per peer: ids read here, for the next `read` to the own devices (SPEC §8.6 "Own devices"). */
  readonly #ownReads = new Map<string, Set<string>>();
  #readTimer: ReturnType<typeof setTimeout> | null = null;
  /** Replay guard for ephemeral ids, in memory only (never the stored list). */
  readonly #seen = new BoundedSet(LIVE_SEEN_MAX);
  /** The ids behind each unread count, for the own devices' `read` (no thread opened to match it). */
  readonly #unread = new UnreadIds();
  /** Ids of the own-devices `read`s sent from here: the server's echo to this device is skipped. */
  readonly #sentOwn = new BoundedSet(OWN_READS_KEPT);
  /** Per conversation, the ids read here for the next STORED own `read` (SPEC §8.6 "Own devices"). */
  readonly #storedOwn = new StoredOwnReads((_peer, ids, keepalive) =>
    this.#h.own ? this.#send(this.#h.own, 'read', ids.join(','), true, keepalive) : undefined,
  );

  constructor(host: PresenceHost) {
    this.#h = host;
  }

  async load(): Promise<void> {
    this.typingOn = (await this.#h.kv.get<boolean>(this.#h.key('typing_indicators'))) ?? true;
    this.readOn = (await this.#h.kv.get<boolean>(this.#h.key('read_receipts'))) ?? false;
  }

  async setTypingOn(on: boolean): Promise<void> {
    this.typingOn = on;
    if (!on) for (const peer of Object.keys(this.typing)) this.#hide(peer);
    await this.#h.kv.set(this.#h.key('typing_indicators'), on);
  }

  async setReadOn(on: boolean): Promise<void> {
    this.readOn = on;
    if (!on) this.#reads.clear();
    await this.#h.kv.set(this.#h.key('read_receipts'), on);
  }

  // ---- sending ----------------------------------------------------------------

  /** The composer of `peer`'s thread now holds `text`. */
  composing(peer: string, text: string): void {
    if (!this.typingOn) return;
    const state = this.#sender.input(peer, text.trim() !== '', this.#h.chat.now().getTime());
    if (state) this.#send(peer, 'typing', typingBody(state));
  }

  /** Sent, blurred or closed: `paused` if `active` went out. */
  stopTyping(peer: string): void {
    const state = this.#sender.stop(peer);
    if (state && this.typingOn) this.#send(peer, 'typing', typingBody(state));
  }

  /** `peer`'s thread was opened with `unread` new messages (the count goes to 0): those are read now (told to the peer when on, always to the own devices). */
  opened(peer: string, unread: number): void {
    const ids = this.#unread.ids(peer, unread) ?? newlyRead(this.#h.chat.loadedThread(peer) ?? [], unread);
    this.#unread.cleared(peer);
    if (viewing(this.#h, peer)) this.#queueRead(peer, ids);
  }

  /** `peer`'s conversation was deleted: every `read` still pending for it (to the peer, the live own devices, the stored one) is dropped, with the ids behind its count. */
  forget(peer: string): void {
    this.#storedOwn.drop(peer);
    this.#reads.delete(peer);
    this.#ownReads.delete(peer);
    this.#unread.cleared(peer);
  }

  /** A visible message from `peer` arrived (`counted`: it raised the unread count): it ends their typing, and is read if the thread is open. */
  heard(peer: string, id: string, counted = false): void {
    this.#hide(peer);
    if (counted) this.#unread.arrived(peer, id, true, this.#h.chat.conversation(peer)?.unread ?? 0);
    if (viewing(this.#h, peer)) this.#queueRead(peer, [id]);
  }

  /** Batch `ids` (read now): for `peer` only while receipts are on (at the moment of reading), for the own devices always. */
  #queueRead(peer: string, ids: string[]): void {
    if (!ids.length) return;
    const own = this.#h.own;
    if (this.readOn) add(this.#reads, peer, ids);
    if (own && peer !== own) add(this.#ownReads, peer, ids);
    if (own && peer !== own) this.#storedOwn.read(peer, ids);
    this.#readTimer ??= setTimeout(() => this.#flushReads(), READ_BATCH_MS);
  }

  #flushReads(): void {
    this.#readTimer = null;
    const toPeers = [...this.#reads];
    const toOwn = [...this.#ownReads];
    this.#reads.clear();
    this.#ownReads.clear();
    const own = this.#h.own;
    if (this.readOn) for (const [peer, ids] of toPeers) for (const body of readBodies([...ids])) this.#send(peer, 'read', body);
    // The own other devices, one body per conversation, whatever the switch; postLive sends it over the server only (SPEC §8.6).
    if (own) for (const [, ids] of toOwn) for (const body of readBodies([...ids])) this.#send(own, 'read', body);
  }

  /** Best effort: never retried, a failure only logged (SPEC §7.7). Settles when the post is done. */
  #send(peer: string, kind: 'read' | 'typing', body: string, stored = false, keepalive = false): Promise<void> {
    if (this.#h.chat.closed) return Promise.resolve();
    const m: Outgoing = { kind, id: newMessageId(), sent_at: rfc3339(this.#h.chat.now()), body };
    if (kind === 'read' && peer === this.#h.own) this.#sentOwn.add(m.id);
    return this.#h.post(peer, m, stored, keepalive).catch((e: unknown) => console.debug(`${kind} not sent:`, e));
  }

  // ---- receiving --------------------------------------------------------------

  /** Whether an ephemeral id was handled already (with the stored replay list, SPEC §8). */
  has(id: string): boolean {
    return this.#seen.has(id);
  }

  /** An opened `typing` or `read` (every §8 check passed). */
  async accept(msg: SealedMessage): Promise<void> {
    this.#seen.add(msg.id);
    // A relay that stored it, or a late delivery: an old "typing" says nothing now.
    const age = this.#h.chat.now().getTime() - Date.parse(msg.sent_at);
    if (msg.kind === 'typing') return this.#typingFrom(msg.from, age <= TYPING_SHOWN_MS ? parseTyping(msg.body) : null);
    if (msg.kind === 'read' && this.#h.own && msg.from === this.#h.own) return this.#sentOwn.has(msg.id) ? undefined : this.#readByOwn(msg.body);
    if (msg.kind === 'read' && this.readOn) await this.#readFrom(msg.from, msg.body);
  }

  /**
   * Another device of this identity read messages (SPEC §8.6 "Own
   * devices"): the conversation they are in drops its unread count to what
   * came after them. Matched against the ids behind each count (UnreadIds),
   * no thread opened; a count from before the load is matched once per
   * conversation against its stored thread, not kept in memory.
   */
  async #readByOwn(body: string): Promise<void> {
    const chat = this.#h.chat;
    const ids = ackIds(body);
    if (!ids) return;
    const named = new Set(ids);
    let changed = false;
    for (const c of chat.conversations()) {
      const peer = c.peer_primary;
      if (c.unread <= 0 || peer === this.#h.own) continue;
      let left = this.#unread.afterRead(peer, named, c.unread);
      if (left === null && this.#unread.needsFill(peer, c.unread)) {
        this.#unread.fill(peer, newlyRead(await this.#stored(peer), c.unread));
        left = this.#unread.afterRead(peer, named, c.unread);
      }
      if (left === null || left >= c.unread) continue;
      c.unread = left;
      changed = true;
    }
    if (changed) await chat.saveConvs();
  }

  /** `peer`'s thread as loaded, else as stored, without making it the UI's state. */
  async #stored(peer: string): Promise<readonly ChatMessage[]> {
    return this.#h.chat.loadedThread(peer) ?? (await this.#h.kv.get<ChatMessage[]>(this.#h.key(`msgs:${peer}`))) ?? [];
  }

  #typingFrom(peer: string, state: 'active' | 'paused' | null): void {
    if (!this.typingOn || state !== 'active') return this.#hide(peer);
    clearTimeout(this.#timers.get(peer));
    this.typing[peer] = true;
    this.#timers.set(
      peer,
      setTimeout(() => this.#hide(peer), TYPING_SHOWN_MS),
    );
  }

  #hide(peer: string): void {
    clearTimeout(this.#timers.get(peer));
    this.#timers.delete(peer);
    if (this.typing[peer]) delete this.typing[peer];
  }

  /**
   * Only the conversation's peer can mark what we sent them (like acks,
   * SPEC §8.1). Runs inside the store's write queue (from the inbound side).
   */
  async #readFrom(peer: string, body: string): Promise<void> {
    const chat = this.#h.chat;
    if (!chat.conversation(peer)) return;
    const marked = readTargets(await chat.thread(peer), body) ?? [];
    for (const m of marked) markRead(m);
    if (marked.length) await chat.saveThread(peer);
  }

  /** Locking: no timers left behind; the pending stored own `read`s are posted (settles when done; call while the store is still open). */
  close(): Promise<void> {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.typing = {};
    if (this.#readTimer) clearTimeout(this.#readTimer);
    this.#readTimer = null;
    this.#reads.clear();
    this.#ownReads.clear();
    return this.#storedOwn.close();
  }
}

/** Add `ids` to `peer`'s set in `map`. */
function add(map: Map<string, Set<string>>, peer: string, ids: readonly string[]): void {
  const set = map.get(peer) ?? new Set<string>();
  for (const id of ids) set.add(id);
  map.set(peer, set);
}
