// The encrypted history export file (SPEC §8.4): every conversation and
// message of the identity, sealed under a key derived from the seed, so a
// device restored from the phrase can bring back what the mailbox no longer
// holds (it keeps 48 h). The file format and the merge are pure functions;
// HistoryFile applies them to a ChatStore's records.
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, fromB64url, fromHex, randomBytes, toB64url, utf8Decode, utf8ToBytes } from '../bytes';
import { isValidPrimary } from '../identity';
import { DELETED_TEXT } from '../ops/apply';
import { isLatest, type ChatAccess, type Conversation } from '../records';
import { filePreview } from '../attachments/meta';
import { exported, fromV1, isExportedMessage, mergeInto, opsCleaned, type ExportedMessage } from './exportmsg';

export { exported, imported, mergeInto, mergeThread, type ExportedMessage, type MergeOutcome } from './exportmsg';

/** HKDF info and AAD prefix of the export key (not the §8.2 at-rest key). */
export const EXPORT_INFO = 'kez.chat.history-export.v1';
/** Largest file written or read (bytes). */
export const MAX_EXPORT_BYTES = 64 * 1024 * 1024;
export const MAX_CONVERSATIONS = 1000;
export const MAX_MESSAGES = 100_000;

export interface ExportedConversation {
  peer_primary: string;
  peer_handle: string | null;
  messages: ExportedMessage[];
}

/** The plaintext's version written now (2: with the ops' outcome, SPEC §8.4); 1 is still read. */
export const HISTORY_VERSION = 2;

/** The plaintext of an export file. */
export interface HistoryDoc {
  type: 'kez.chat.history';
  /** 1: texts, statuses and file metadata; 2: also reply_to, edit, reactions, deleted. */
  version: 1 | 2;
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
  return upgraded(doc);
}

function isDoc(d: unknown, primary: string): d is HistoryDoc {
  const o = d as HistoryDoc;
  if (typeof d !== 'object' || d === null || o.type !== 'kez.chat.history' || (o.version !== 1 && o.version !== 2) || o.primary !== primary) return false;
  if (!Array.isArray(o.conversations)) return false;
  const version = o.version;
  return o.conversations.every(
    (c) =>
      typeof c === 'object' &&
      c !== null &&
      typeof c.peer_primary === 'string' &&
      isValidPrimary(c.peer_primary) &&
      (c.peer_handle === null || typeof c.peer_handle === 'string') &&
      Array.isArray(c.messages) &&
      c.messages.every((m) => isExportedMessage(m, version)),
  );
}

/**
 * A checked doc as v2: v1 messages read by fromV1 (an empty body without a
 * file was a deleted message), v2 ones with only the op fields this client
 * accepts (opsCleaned; how many were left out is logged, nothing else).
 */
function upgraded(doc: HistoryDoc): HistoryDoc {
  if (doc.version === 1) return { ...doc, conversations: doc.conversations.map((c) => ({ ...c, messages: c.messages.map(fromV1) })) };
  let dropped = 0;
  const clean = (m: ExportedMessage) => {
    const c = opsCleaned(m);
    dropped += c.dropped;
    return c.message;
  };
  const conversations = doc.conversations.map((c) => ({ ...c, messages: c.messages.map(clean) }));
  if (dropped) console.debug(`history import: ${dropped} reply, edit or reaction fields not valid here were left out`);
  return { ...doc, conversations };
}

/** What HistoryFile needs of the ChatStore besides its ChatAccess. */
export interface HistoryHost {
  chat: ChatAccess;
  seed: Uint8Array;
  primary: string;
  ensureConversation(peer: string, handle: string | null): Conversation;
  /** Delete a file's stored bytes (Attachments.wipe): an imported deletion wipes them like the op (SPEC §8.5). */
  wipeFile?(peer: string, dir: 'in' | 'out', id: string): Promise<void>;
  /** Apply the ops that waited for messages now imported (MessageOps.settle, inside the write queue). */
  settleOps?(peers: readonly string[]): Promise<void>;
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
      const doc: HistoryDoc = { type: 'kez.chat.history', version: HISTORY_VERSION, primary, exported_at: chat.now().toISOString().slice(0, 19) + 'Z', conversations };
      return sealHistory(seed, doc);
    });
  }

  /** Merge an export file into this device's history: how many messages were added, updated and in the file. Throws HistoryFileError. */
  async import(text: string): Promise<ImportOutcome> {
    const { chat, seed, primary } = this.#h;
    const doc = openHistory(seed, primary, text);
    return chat.serial(async () => {
      let added = 0;
      let updated = 0;
      let inFile = 0;
      const grown: string[] = [];
      for (const ec of doc.conversations) {
        const thread = await chat.thread(ec.peer_primary);
        const n = mergeInto(thread, ec.messages);
        const c = this.#h.ensureConversation(ec.peer_primary, chat.conversation(ec.peer_primary)?.peer_handle ?? ec.peer_handle);
        const last = thread.at(-1);
        if (last && (!c.last_at || isLatest(c, last.sent_at))) {
          c.last_at = last.sent_at;
          c.last_preview = last.deleted ? DELETED_TEXT : last.attachment ? filePreview(last.body) : last.body;
        }
        if (n.added || n.updated) await chat.saveThread(ec.peer_primary);
        // After the thread is saved: a crash in between leaves bytes of a deleted message, never a bubble whose file is gone.
        for (const w of n.wiped) await this.#h.wipeFile?.(ec.peer_primary, w.dir, w.id);
        added += n.added;
        updated += n.updated;
        inFile += ec.messages.length;
        if (n.added) grown.push(ec.peer_primary);
      }
      await chat.saveConvs();
      // An op that came before its target, the target now imported (SPEC §8.5 "Pending").
      if (grown.length) await this.#h.settleOps?.(grown);
      return { added, updated, inFile };
    });
  }
}

/** What an import did (counts of messages). */
export interface ImportOutcome {
  added: number;
  updated: number;
  inFile: number;
}

const count = (n: number, one: string) => (n === 1 ? `1 ${one}` : `${n} ${one}s`);

/** The sentence Settings shows after an import (TODO #197: "0 messages added" said nothing of why). */
export function importNote({ added, updated, inFile }: ImportOutcome): string {
  if (inFile === 0) return 'The file holds no messages.';
  const changed = updated ? ` ${count(updated, 'message')} updated (edits, reactions or deletions).` : '';
  if (added === 0) {
    const all = inFile === 1 ? 'its 1 message was' : `all ${inFile} messages in it were`;
    return `Nothing new: ${all} already on this device.${changed}`;
  }
  return `${count(added, 'message')} added (${inFile} in the file).${changed}`;
}
