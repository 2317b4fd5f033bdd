// The records the chat keeps per identity (conversations and messages, stored
// in the KV under `chat:<own primary>:…`), and what the outbox, the receipts
// and the directory need from the ChatStore that owns them.
import type * as realApi from './api';
import type { MessageKind } from './envelope';
import type { Attachment } from './attachments/meta';
import type { KV } from './kv';
import type { PoolLike } from './nostr/transport';

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
   * The user has sent this peer at least one message: the peer is a contact
   * and gets a wrap of the profile picture's key (SPEC §14.3). Absent: never
   * written to (a stranger's first message does not make a contact).
   */
  wrote?: boolean;
  /**
   * The thread may hold inbound messages whose receipt the server hasn't
   * accepted, so load() and a reconnect retry it (receipts.ts). Absent in
   * history from before this field: looked at once.
   */
  unacked?: boolean;
  /** The relay URL the peer's last nostr event came from: published there first (SPEC §12). */
  peer_relay?: string;
  /**
   * The primary the peer's handle belonged to when we first talked, set when
   * the directory now gives that handle this (different) primary: the person
   * reset their identity, or someone else has the handle. Cleared by trustKey().
   */
  key_changed_from?: string;
  /** Muted by the user: arrivals bump no unread count (so no badge or title count). Absent: not muted. */
  muted?: boolean;
}

export type MessageStatus = 'sending' | 'sent' | 'delivered' | 'failed' | 'received';

export interface ChatMessage {
  id: string;
  dir: 'in' | 'out';
  body: string;
  sent_at: string;
  status: MessageStatus;
  error?: string;
  /** Outbound: the peer's read receipt came (SPEC §8.6); shown as "Read", only ever set, never cleared. */
  read?: boolean;
  /** Inbound: whether our delivery receipt has been accepted by the server. */
  acked?: boolean;
  /** Outbound `failed`: the error may pass (network, 429, 5xx), so it is retried automatically. */
  retryable?: boolean;
  /** Outbound: re-send passes at load since the last send or manual Retry. */
  retries?: number;
  /** Outbound `sent`: the relay that accepted it first ("via relay.x"), when a relay did. */
  via?: string;
  /** Outbound `sending`: why the post waits before trying again ("Waiting (sending too fast)…"), while it does. */
  waiting?: string;
  /** Outbound: ids it was posted under before a re-send gave it a fresh one (an ack may name them). */
  prev_ids?: string[];
  /** A file (SPEC §13); `body` then holds its name. */
  attachment?: Attachment;
  /** A reply (SPEC §8.5): the id of the message it answers (the quote is read from this thread). */
  reply_to?: string;
  /** Edited (SPEC §8.5): the latest applied edit's `sent_at` and id (latest wins); `body` is its text. */
  edit?: { at: string; id: string };
  /** Deleted for everyone (SPEC §8.5): `body` is empty, no attachment, reactions or edit. */
  deleted?: boolean;
  /** Reactions (SPEC §8.5): one per sender (the peer, this identity), latest wins; `emoji: ''` is a removal. */
  reactions?: Reaction[];
  /**
   * This identity's silent ops on this message (SPEC §8.5 reaction, edit,
   * delete) whose post finally failed: kept, sealed with the thread, for the
   * bubble's "Not sent · Retry" (MessageOps.retry); at most MAX_UNSENT_OPS.
   */
  unsent_ops?: Outgoing[];
}

/** One sender's reaction to a message (SPEC §8.5). */
export interface Reaction {
  /** The sender's primary. */
  by: string;
  /** The emoji, or '' once removed (kept as the latest-wins key). */
  emoji: string;
  /** The op's sent_at and id: a later one replaces it. */
  at: string;
  id: string;
}

export interface Me {
  seed: Uint8Array;
  primary: string;
  handle: string; // local part
  server: string;
}

/** The server calls the chat makes (faked in tests). */
export type Api = Pick<typeof realApi, 'lookupHandle' | 'lookupPrimary' | 'postMessage' | 'pollInbox' | 'releaseInbox' | 'streamUrl'> &
  Partial<Pick<typeof realApi, 'postEphemeral'>>;

/** Thrown by queued work once the store is closed (the identity is locking). */
export class ChatClosedError extends Error {
  constructor() {
    super('This chat is closed.');
    this.name = 'ChatClosedError';
  }
}

/**
 * Thrown by ChatAccess.post when its `cancelled` check says the post is no
 * longer wanted (the conversation was deleted on this device while the post
 * waited): nothing was sealed or sent.
 */
export class PostCancelledError extends Error {
  constructor() {
    super('The conversation was deleted.');
    this.name = 'PostCancelledError';
  }
}

/** How a post goes: `notify` false for silent kinds (SPEC §7.1); `cancelled` is asked right before sealing. */
export interface PostOptions {
  notify?: boolean;
  /** True once the post must not happen (PostCancelledError): checked after any wait, before the envelope exists. */
  cancelled?: () => boolean;
}

/**
 * Thread order: by `sent_at` as text, which is time order because every
 * stored `sent_at` is UTC `…Z` (inbound ones are re-written so on ingest).
 */
export function bySentAt(a: Pick<ChatMessage, 'sent_at'>, b: Pick<ChatMessage, 'sent_at'>): number {
  return a.sent_at < b.sent_at ? -1 : a.sent_at > b.sent_at ? 1 : 0;
}

/** Whether a message sent at `sentAt` becomes the conversation's latest (ties count: the newer write wins). */
export function isLatest(c: Pick<Conversation, 'last_at'>, sentAt: string): boolean {
  return sentAt >= c.last_at;
}

/** A message to seal and post: the fields of SPEC §8 the sender chooses. */
export interface Outgoing {
  kind: MessageKind;
  id: string;
  sent_at: string;
  body: string;
}

/**
 * What the outbox and the receipts need from the ChatStore that owns the
 * reactive state: its write queue, its records and the one way to post.
 * Records handed out are the store's own (reactive) objects: mutate them in
 * place, then save.
 */
export interface ChatAccess {
  /** Set once close() ran: nothing more is sealed, posted or written. */
  readonly closed: boolean;
  now(): Date;
  /** Run after every queued write (keeps IDB writes ordered); rejects with ChatClosedError once closed. */
  serial<T>(fn: () => Promise<T>): Promise<T>;
  conversations(): Conversation[];
  conversation(peer: string): Conversation | undefined;
  /** The conversation with `peer`, created empty if there is none. */
  ensureConversation(peer: string): Conversation;
  /** The thread, read from the KV the first time. */
  thread(peer: string): Promise<ChatMessage[]>;
  /** The thread if it is in memory already (never reads the KV). */
  loadedThread(peer: string): ChatMessage[] | undefined;
  saveThread(peer: string): Promise<void>;
  saveConvs(): Promise<void>;
  /**
   * Seal `m` to `peer` and post it to the peer's handle. Throws
   * ChatClosedError when the store closed before sealing (the seed is about
   * to be wiped), PostCancelledError when `opts.cancelled()` said so before
   * sealing, ApiError for the server's answer or an unknown handle.
   */
  post(peer: string, m: Outgoing, opts?: PostOptions): Promise<{ via?: string } | void>;
}

/** What a ChatStore is built from: storage, identity, and (tests) the network parts. */
export interface ChatDeps {
  kv: KV;
  me: Me;
  api?: Api;
  EventSource?: typeof EventSource;
  now?: () => Date;
  reconnectMs?: number;
  pollMs?: number;
  /** How long live acks wait to be batched into one post (default ACK_DELAY_MS, 500 ms). */
  ackDelayMs?: number;
  /** Relays the home server advertises (GET /v1/server): the default relay list, and transport `both`. */
  advertisedRelays?: readonly string[];
  /** The relay pool (default: nostr-tools' SimplePool); tests pass a fake. */
  nostrPool?: () => PoolLike;
  /** How often relay states are re-read (NostrTransport's stateEveryMs). */
  nostrStateEveryMs?: number;
  /** fetch for the relays' NIP-11 documents (the browser's; absent = no limits read). */
  fetchRelayInfo?: typeof fetch;
  /** Unsealed KV for file bytes (sealed by SealedFiles, SPEC §13.1; default: in memory). */
  files?: KV;
  /** Look for stalled incoming files every 15 s (default true). */
  stallCheck?: boolean;
  /** The send queue's wait between attempts, its self-copies' too (default setTimeout); tests record and skip it. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * File a self-copy of each text/file sent (SPEC §8.3; default true). Off
   * only in unit tests of other parts that count the posts and mailboxes.
   */
  selfCopies?: boolean;
}
