// What arrives for one identity, by either transport: the server inbox's
// items in seq order (with the restore rewind, SPEC §7.3) and the relays'
// events (SPEC §12) go through one open, replay guard and dispatch by sealed
// kind (SPEC §8: `ack` → receipts, `text` → thread, the file kinds → the
// attachments, SPEC §13). ChatStore owns the state; this works on it through
// an InboundAccess. The decisions that need no state are the exported
// functions below, unit-tested on their own.
import type { InboxItem } from './api';
import { EnvelopeError, openEnvelope, type SealedMessage } from './envelope';
import type { Attachment } from './attachments/meta';
import { filePreview } from './attachments/meta';
import { bySentAt, isLatest, type ChatAccess, type ChatMessage, type Conversation } from './records';
import type { Event as NostrEvent } from 'nostr-tools/pure';
import type { SeenIds } from './seen';
import { parseRfc3339, rfc3339 } from './time';
import { primaryFromSeed } from './identity';
import { copyOf, holds, outgoingFromOriginal, type Filed } from './history/ingest';
import { parseOpBody } from './ops/body';
import type { Presence } from './presence.svelte';

/** A file's visible message (SPEC §13): the text shown and what it points to. */
export interface Shown {
  body: string;
  attachment: Attachment;
}

/** What Inbound may use of the ChatStore. */
export interface InboundAccess {
  chat: ChatAccess;
  seed: Uint8Array;
  seen: SeenIds;
  /** The last inbox seq processed (SPEC §7.2) and its persistence. */
  lastSeq(): number;
  setLastSeq(seq: number): void;
  saveSeq(seq: number): Promise<void>;
  ensureConversation(peer: string, handle: string | null): Conversation;
  /** The sender's handle: the directory's answer for a claimed `from_handle` (null when unverified). */
  resolveHandle(peer: string, claimed: string | null): Promise<string | null>;
  /** Whether the user is looking at this peer's thread now (no unread count then). */
  viewing(peer: string): boolean;
  applyAck(peer: string, body: string): Promise<void>;
  /** Whether `peer` acked `id` before the message was on this device (its self-copy came after the ack, SPEC §8.3). */
  ackedBefore(peer: string, id: string): boolean;
  /** The copy acked before it came was filed: the remembered ack goes (after the save, so a failed filing keeps it). */
  earlyAckUsed(peer: string, id: string): void;
  applyFile(msg: SealedMessage): Promise<void>;
  /** A reaction, edit or delete (SPEC §8.5), the peer's or this identity's own (MessageOps.receive). */
  applyOp(msg: SealedMessage): Promise<void>;
  /** A message was filed in `peer`'s thread: ops waiting for it apply (MessageOps.arrived). */
  arrived(peer: string, id: string): Promise<void>;
  scheduleAck(peer: string): void;
  /** Store the bytes of an outgoing file (an inline file's self-copy, SPEC §8.3). */
  putOutFile(peer: string, id: string, bytes: Uint8Array): Promise<void>;
  /** Persist the relays' `since` cursor after a batch of events. */
  saveSince(): Promise<void>;
  /** Whether the user blocked this primary (all it sends is dropped, never acknowledged); a block and mute snapshot from a device of this identity (SPEC §8.7). */
  convo: { blocked(peer: string): boolean; applySync(msg: SealedMessage): Promise<void> };
  /** Read receipts and typing (SPEC §8.6, presence.svelte.ts): their own in-memory replay guard. */
  live: Pick<Presence, 'has' | 'accept' | 'heard'>;
}

/**
 * The display-hint kinds (SPEC §8.6): never acked, kept in IndexedDB or in
 * the stored replay list, by whichever path they come. Most come ephemeral;
 * the own devices' `read` also comes stored, per conversation at most one per 5 min
 * plus one each time a device's page is hidden or closed (poll, stream, a
 * restored device's replay from 0), and a peer's client may
 * store one too: both are applied exactly as a live one.
 */
export function isLive(kind: SealedMessage['kind']): boolean {
  return kind === 'read' || kind === 'typing';
}

/**
 * Inbox items to process, in seq order: only safe-integer seqs above
 * `lastSeq`, each seq once (the first given wins, as the sort is stable).
 */
export function inboxOrder(items: readonly InboxItem[], lastSeq: number): InboxItem[] {
  const out: InboxItem[] = [];
  let last = lastSeq;
  for (const item of [...items].sort((a, b) => a.seq - b.seq)) {
    if (!Number.isSafeInteger(item.seq) || item.seq <= last) continue;
    out.push(item);
    last = item.seq;
  }
  return out;
}

/** A relay event's envelope (its `content` as JSON), or undefined when not JSON. */
export function nostrEnvelope(ev: Pick<NostrEvent, 'content'>): unknown {
  try {
    return JSON.parse(ev.content);
  } catch {
    return undefined;
  }
}

/** Where an opened message goes, by its sealed kind (SPEC §8, §8.3, §8.5, §13): a reply is filed like a text. */
export function routeOf(kind: SealedMessage['kind']): 'ack' | 'text' | 'file' | 'sent' | 'op' | 'sync' {
  if (kind === 'reaction' || kind === 'edit' || kind === 'delete') return 'op';
  if (kind === 'sync') return 'sync';
  return kind === 'ack' ? 'ack' : kind === 'text' || kind === 'reply' ? 'text' : kind === 'sent' ? 'sent' : 'file';
}

/**
 * The thread entry of a received text (or file, with `shown`). sent_at is
 * re-written as UTC `Z`, like ours: threads sort it as text, and an offset
 * such as `+14:00` would otherwise let the sender pin a message to the top.
 */
export function incomingMessage(msg: Pick<SealedMessage, 'id' | 'body' | 'sent_at'> & { kind?: string }, shown?: Shown): ChatMessage {
  const sentAt = rfc3339(new Date(parseRfc3339(msg.sent_at)));
  // A reply (SPEC §8.5): its text, and the id it quotes.
  const reply = msg.kind === 'reply' ? parseOpBody('reply', msg.body) : null;
  const quoted = reply?.kind === 'reply' ? { body: reply.text, reply_to: reply.reply_to } : null;
  const body = shown?.body ?? quoted?.body ?? msg.body;
  return {
    id: msg.id,
    dir: 'in',
    body,
    sent_at: sentAt,
    status: 'received',
    acked: false,
    ...(shown ? { attachment: shown.attachment } : {}),
    ...(quoted ? { reply_to: quoted.reply_to } : {}),
  };
}

export class Inbound {
  readonly #a: InboundAccess;
  readonly #own: string;

  constructor(access: InboundAccess) {
    this.#a = access;
    this.#own = primaryFromSeed(access.seed);
  }

  /** Process inbox items in seq order; skips seqs already processed. */
  ingest(items: InboxItem[]): Promise<void> {
    const { chat } = this.#a;
    // After close() the items stay on the server for the next unlock.
    if (chat.closed) return Promise.resolve();
    return chat.serial(async () => {
      for (const item of inboxOrder(items, this.#a.lastSeq())) {
        // Locking: stop here, so lastSeq stays before what wasn't opened.
        if (chat.closed) break;
        await this.#openAndApply(item.envelope, `inbox message seq ${item.seq}`);
        this.#a.setLastSeq(item.seq);
      }
      // Seen ids first, then the seq: a crash in between re-delivers, and the
      // replay guard drops what was already handled.
      await this.#a.seen.flush();
      await this.#a.saveSeq(this.#a.lastSeq());
    });
  }

  /**
   * The server's mailbox ends at `newest`, below lastSeq (restored from a
   * backup, SPEC §7.3): start again from 0. Seqs up to `newest` may have been
   * reused for messages posted since the restore, so the server replays all it
   * holds; what this device already has is dropped by message id (the replay
   * guard in #openAndApply, and receive's thread check).
   */
  rewind(newest: number): Promise<void> {
    return this.#a.chat.serial(async () => {
      if (this.#a.chat.closed || newest >= this.#a.lastSeq()) return;
      this.#a.setLastSeq(0);
      await this.#a.saveSeq(0);
    });
  }

  /**
   * Events from the relays (already checked by the transport, SPEC §12):
   * their envelopes go through the same open, replay guard and apply as the
   * server's, so a message arriving by both transports is shown once.
   */
  ingestNostr(events: NostrEvent[], relay?: string): Promise<void> {
    const { chat } = this.#a;
    if (chat.closed) return Promise.resolve();
    return chat.serial(async () => {
      for (const ev of events) {
        if (chat.closed) break;
        const envelope = nostrEnvelope(ev);
        if (envelope === undefined) {
          console.debug(`dropped nostr event ${ev.id}: bad_json`);
          continue;
        }
        const from = await this.#openAndApply(envelope, `nostr event ${ev.id}`);
        // The peer's relay, for our next event to them (SPEC §12).
        const c = from && relay ? chat.conversation(from) : undefined;
        if (c && c.peer_relay !== relay) {
          c.peer_relay = relay;
          await chat.saveConvs();
        }
      }
      await this.#a.seen.flush();
      await this.#a.saveSince();
    });
  }

  /**
   * An ephemeral post from the inbox stream (SPEC §7.7): only `read` and
   * `typing` are taken this way (anything else must come stored, so every
   * device gets it).
   */
  ingestEphemeral(envelope: unknown): Promise<void> {
    const { chat } = this.#a;
    if (chat.closed) return Promise.resolve();
    return chat.serial(async () => void (await this.#openAndApply(envelope, 'ephemeral post', true)));
  }

  /** Open, replay-check and apply one envelope; the sender's primary, or null when dropped. */
  async #openAndApply(envelope: unknown, what: string, liveOnly = false): Promise<string | null> {
    const { seen, live } = this.#a;
    let msg: SealedMessage;
    try {
      msg = openEnvelope(this.#a.seed, envelope, { now: this.#a.chat.now(), seen: (id) => seen.has(id) || live.has(id) });
    } catch (e) {
      if (!(e instanceof EnvelopeError)) throw e;
      console.debug(`dropped ${what}: ${e.code}`);
      return null;
    }
    // A blocked peer's `read`/`typing`, live or stored, is not applied either (the own primary is never blocked).
    if (isLive(msg.kind) && this.#a.convo.blocked(msg.from)) {
      console.debug(`dropped ${what}: blocked`);
      return null;
    }
    if (isLive(msg.kind)) {
      await live.accept(msg);
      return msg.from;
    }
    if (liveOnly) {
      console.debug(`dropped ${what}: not an ephemeral kind`);
      return null;
    }
    seen.add(msg.id);
    if (this.#a.convo.blocked(msg.from)) {
      console.debug(`dropped ${what}: blocked`);
      return null;
    }
    const route = routeOf(msg.kind);
    if (route === 'ack') await this.#a.applyAck(msg.from, msg.body);
    else if (route === 'text') await this.receive(msg);
    else if (route === 'sent') await this.receiveCopy(msg);
    else if (route === 'op') await this.#a.applyOp(msg);
    else if (route === 'sync') await this.#a.convo.applySync(msg);
    else await this.#a.applyFile(msg);
    return msg.from;
  }

  /**
   * A text (or, with `shown`, a file's visible message) arrived: into its
   * thread and conversation, then a (batched) delivery receipt. False when
   * the thread had it already.
   */
  async receive(msg: SealedMessage, shown?: Shown): Promise<boolean> {
    const { chat } = this.#a;
    const peer = msg.from;
    // A note to self (SPEC §8.3): the device that wrote it has it already, others file it as ours.
    if (peer === this.#own && !shown) {
      const filed = outgoingFromOriginal(msg);
      return filed ? this.#fileOutgoing(peer, filed, msg.from_handle) : false;
    }
    const thread = await chat.thread(peer);
    if (thread.some((m) => m.id === msg.id && m.dir === 'in')) return false;
    const handle = await this.#a.resolveHandle(peer, msg.from_handle);
    const entry = incomingMessage(msg, shown);
    thread.push(entry);
    thread.sort(bySentAt);
    const c = this.#a.ensureConversation(peer, handle);
    if (isLatest(c, entry.sent_at)) {
      c.last_at = entry.sent_at;
      c.last_preview = shown ? filePreview(entry.body) : entry.body;
    }
    // Ops that came before it apply now (SPEC §8.5 "Pending"), after the preview so an edit or delete shows there.
    await this.#a.arrived(peer, entry.id);
    // Already deleted for everyone: nothing to read.
    const counted = !entry.deleted && !this.#a.viewing(peer) && !c.muted;
    if (counted) c.unread += 1;
    this.#a.live.heard(peer, msg.id, counted);
    // Saved before the receipt is tried: a reload or reconnect retries it.
    c.unacked = true;
    await chat.saveThread(peer);
    await chat.saveConvs();
    // A delivery receipt as soon as the message is on this device, batched
    // with the others arriving now.
    this.#a.scheduleAck(peer);
    return true;
  }

  /**
   * A self-copy (SPEC §8.3): the original goes into the conversation with
   * its recipient as an outgoing message, unless this device has it (it sent
   * it, or got the copy by both transports). Never acknowledged.
   */
  async receiveCopy(msg: SealedMessage): Promise<boolean> {
    const copy = copyOf(msg);
    // An op this identity sent from another device (SPEC §8.5): applied as its own.
    if (routeOf(copy.message.kind) === 'op') {
      await this.#a.applyOp(copy.message);
      return false;
    }
    const filed = outgoingFromOriginal(copy.message);
    return filed ? this.#fileOutgoing(copy.to, filed, copy.to_handle) : false;
  }

  /** File an outgoing message into `peer`'s thread (deduped by id); no unread count, no receipt. */
  async #fileOutgoing(peer: string, { entry, bytes }: Filed, claimedHandle: string | null): Promise<boolean> {
    const { chat } = this.#a;
    const thread = await chat.thread(peer);
    if (holds(thread, entry.id)) return false;
    const early = this.#a.ackedBefore(peer, entry.id);
    if (early) entry.status = 'delivered';
    const handle = await this.#a.resolveHandle(peer, claimedHandle);
    if (bytes) await this.#a.putOutFile(peer, entry.id, bytes);
    thread.push(entry);
    thread.sort(bySentAt);
    const c = this.#a.ensureConversation(peer, handle);
    if (isLatest(c, entry.sent_at)) {
      c.last_at = entry.sent_at;
      c.last_preview = entry.attachment ? filePreview(entry.body) : entry.body;
    }
    // Ops that came before it apply now (SPEC §8.5 "Pending"), after the preview so an edit or delete shows there.
    await this.#a.arrived(peer, entry.id);
    await chat.saveThread(peer);
    await chat.saveConvs();
    if (early) this.#a.earlyAckUsed(peer, entry.id);
    return true;
  }
}
