// The encrypted history export file (SPEC §8.4): every conversation and
// message of the identity, sealed under a key derived from the seed, so a
// device restored from the phrase can bring back what the mailbox no longer
// holds (it keeps 48 h). The file format and the merge are pure functions;
// HistoryFile applies them to a ChatStore's records.
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Attachment } from '../attachments/meta';
import { bytesToHex, fromB64url, fromHex, MESSAGE_ID_RE, randomBytes, toB64url, utf8Decode, utf8ToBytes } from '../bytes';
import { isValidPrimary } from '../identity';
import { bySentAt, isLatest, type ChatAccess, type ChatMessage, type Conversation, type MessageStatus } from '../records';
import { NOT_ON_THIS_DEVICE } from './ingest';
import { filePreview } from '../attachments/meta';

/** HKDF info and AAD prefix of the export key (not the §8.2 at-rest key). */
export const EXPORT_INFO = 'kez.chat.history-export.v1';
/** Largest file written or read (bytes). */
export const MAX_EXPORT_BYTES = 64 * 1024 * 1024;
export const MAX_CONVERSATIONS = 1000;
export const MAX_MESSAGES = 100_000;

export interface ExportedMessage {
  id: string;
  dir: 'in' | 'out';
  body: string;
  sent_at: string;
  status: MessageStatus;
  attachment?: Pick<Attachment, 'name' | 'mime' | 'size' | 'sha256' | 'mode'>;
}

export interface ExportedConversation {
  peer_primary: string;
  peer_handle: string | null;
  messages: ExportedMessage[];
}

/** The plaintext of an export file. */
export interface HistoryDoc {
  type: 'kez.chat.history';
  version: 1;
  primary: string;
  exported_at: string;
  conversations: ExportedConversation[];
}

/** Why a file was refused (SPEC §8.4). */
export type HistoryFileProblem = 'too_large' | 'wrong_identity' | 'malformed';

export class HistoryFileError extends Error {
  constructor(public readonly code: HistoryFileProblem) {
    super(
      code === 'too_large'
        ? 'This history is too large (at most 64 MB, 1,000 conversations, 100,000 messages).'
        : code === 'wrong_identity'
          ? 'This file is not a history of this KEZ (or it is damaged).'
          : 'This is not a KEZ history file.',
    );
    this.name = 'HistoryFileError';
  }
}

/** HKDF-SHA256(seed, no salt, EXPORT_INFO), 32 bytes. */
export function exportKey(seed: Uint8Array): Uint8Array {
  return hkdf(sha256, seed, undefined, utf8ToBytes(EXPORT_INFO), 32);
}

function aad(primary: string): Uint8Array {
  return utf8ToBytes(`${EXPORT_INFO}\n${primary}`);
}

/** The file's text: `{"kez":"history-export","v":1,"nonce","ct"}`. Throws HistoryFileError('too_large') over the bounds. */
export function sealHistory(seed: Uint8Array, doc: HistoryDoc, nonce: Uint8Array = randomBytes(12)): string {
  const count = doc.conversations.reduce((n, c) => n + c.messages.length, 0);
  if (doc.conversations.length > MAX_CONVERSATIONS || count > MAX_MESSAGES) throw new HistoryFileError('too_large');
  const ct = gcm(exportKey(seed), nonce, aad(doc.primary)).encrypt(utf8ToBytes(JSON.stringify(doc)));
  const text = JSON.stringify({ kez: 'history-export', v: 1, nonce: bytesToHex(nonce), ct: toB64url(ct) });
  if (text.length > MAX_EXPORT_BYTES) throw new HistoryFileError('too_large');
  return text;
}

/** Decrypt and check an export file for the identity of `seed` (`primary`). */
export function openHistory(seed: Uint8Array, primary: string, text: string): HistoryDoc {
  if (text.length > MAX_EXPORT_BYTES) throw new HistoryFileError('too_large');
  let outer: Record<string, unknown>;
  let nonce: Uint8Array, ct: Uint8Array;
  try {
    outer = JSON.parse(text) as Record<string, unknown>;
    if (outer.kez !== 'history-export' || outer.v !== 1) throw new Error('not an export');
    nonce = fromHex(outer.nonce as string, 12);
    ct = fromB64url(outer.ct as string);
  } catch {
    throw new HistoryFileError('malformed');
  }
  let plain: string;
  try {
    plain = utf8Decode(gcm(exportKey(seed), nonce, aad(primary)).decrypt(ct));
  } catch {
    throw new HistoryFileError('wrong_identity');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(plain);
  } catch {
    throw new HistoryFileError('malformed');
  }
  if (!isDoc(doc, primary)) throw new HistoryFileError('malformed');
  const count = doc.conversations.reduce((n, c) => n + c.messages.length, 0);
  if (doc.conversations.length > MAX_CONVERSATIONS || count > MAX_MESSAGES) throw new HistoryFileError('too_large');
  return doc;
}

const STATUSES: readonly string[] = ['sending', 'sent', 'delivered', 'failed', 'received'];
const SENT_AT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function isMessage(m: unknown): m is ExportedMessage {
  const o = m as ExportedMessage;
  if (typeof m !== 'object' || m === null) return false;
  if (typeof o.id !== 'string' || !MESSAGE_ID_RE.test(o.id) || (o.dir !== 'in' && o.dir !== 'out')) return false;
  if (typeof o.body !== 'string' || typeof o.sent_at !== 'string' || !SENT_AT_RE.test(o.sent_at) || !STATUSES.includes(o.status)) return false;
  const a = o.attachment;
  if (a === undefined) return true;
  return typeof a === 'object' && a !== null && typeof a.name === 'string' && typeof a.mime === 'string' && Number.isSafeInteger(a.size) && typeof a.sha256 === 'string' && (a.mode === 'inline' || a.mode === 'pointer');
}

function isDoc(d: unknown, primary: string): d is HistoryDoc {
  const o = d as HistoryDoc;
  if (typeof d !== 'object' || d === null || o.type !== 'kez.chat.history' || o.version !== 1 || o.primary !== primary) return false;
  if (!Array.isArray(o.conversations)) return false;
  return o.conversations.every(
    (c) =>
      typeof c === 'object' &&
      c !== null &&
      typeof c.peer_primary === 'string' &&
      isValidPrimary(c.peer_primary) &&
      (c.peer_handle === null || typeof c.peer_handle === 'string') &&
      Array.isArray(c.messages) &&
      c.messages.every(isMessage),
  );
}

/** What one message is in the file: the shown fields (file bytes stay on the device). */
export function exported(m: ChatMessage): ExportedMessage {
  const out: ExportedMessage = { id: m.id, dir: m.dir, body: m.body, sent_at: m.sent_at, status: m.status };
  if (m.attachment) {
    const { name, mime, size, sha256, mode } = m.attachment;
    out.attachment = { name, mime, size, sha256, mode };
  }
  return out;
}

/** The thread entry an imported message becomes: unsent ones as failed (never re-sent unasked), files without bytes. */
export function imported(m: ExportedMessage): ChatMessage {
  const status: MessageStatus = m.status === 'sending' || m.status === 'failed' ? 'failed' : m.status;
  const entry: ChatMessage = { id: m.id, dir: m.dir, body: m.body, sent_at: m.sent_at, status };
  if (m.dir === 'in') entry.acked = true; // never acked from an import
  if (status === 'failed') entry.retryable = false;
  if (m.attachment) entry.attachment = { ...m.attachment, done: 0, state: 'ready', note: NOT_ON_THIS_DEVICE };
  return entry;
}

/**
 * Merge imported messages into `thread` by id (SPEC §8.4): a message the
 * thread has keeps its own fields, except that `delivered` is taken over a
 * lower outgoing status; others are added, in sent_at order. Returns how
 * many were added.
 */
export function mergeThread(thread: ChatMessage[], incoming: readonly ExportedMessage[]): number {
  const byId = new Map(thread.map((m) => [m.id, m]));
  let added = 0;
  for (const m of incoming) {
    const have = byId.get(m.id) ?? thread.find((t) => t.prev_ids?.includes(m.id));
    if (have) {
      if (have.dir === 'out' && m.status === 'delivered' && have.status !== 'delivered') have.status = 'delivered';
      continue;
    }
    const entry = imported(m);
    thread.push(entry);
    byId.set(entry.id, entry);
    added++;
  }
  thread.sort(bySentAt);
  return added;
}

/** What HistoryFile needs of the ChatStore besides its ChatAccess. */
export interface HistoryHost {
  chat: ChatAccess;
  seed: Uint8Array;
  primary: string;
  ensureConversation(peer: string, handle: string | null): Conversation;
}

/** Export and import of one ChatStore's history. */
export class HistoryFile {
  readonly #h: HistoryHost;

  constructor(host: HistoryHost) {
    this.#h = host;
  }

  /** The export file's text (SPEC §8.4). */
  export(): Promise<string> {
    const { chat, seed, primary } = this.#h;
    return chat.serial(async () => {
      const conversations: ExportedConversation[] = [];
      for (const c of chat.conversations()) {
        const thread = await chat.thread(c.peer_primary);
        conversations.push({ peer_primary: c.peer_primary, peer_handle: c.peer_handle, messages: thread.map(exported) });
      }
      const doc: HistoryDoc = { type: 'kez.chat.history', version: 1, primary, exported_at: chat.now().toISOString().slice(0, 19) + 'Z', conversations };
      return sealHistory(seed, doc);
    });
  }

  /** Merge an export file into this device's history; how many messages were added. Throws HistoryFileError. */
  async import(text: string): Promise<number> {
    const { chat, seed, primary } = this.#h;
    const doc = openHistory(seed, primary, text);
    return chat.serial(async () => {
      let added = 0;
      for (const ec of doc.conversations) {
        const thread = await chat.thread(ec.peer_primary);
        const n = mergeThread(thread, ec.messages);
        const c = this.#h.ensureConversation(ec.peer_primary, chat.conversation(ec.peer_primary)?.peer_handle ?? ec.peer_handle);
        const last = thread.at(-1);
        if (last && (!c.last_at || isLatest(c, last.sent_at))) {
          c.last_at = last.sent_at;
          c.last_preview = last.attachment ? filePreview(last.body) : last.body;
        }
        if (n) await chat.saveThread(ec.peer_primary);
        added += n;
      }
      await chat.saveConvs();
      return added;
    });
  }
}
