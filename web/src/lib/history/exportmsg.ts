// One message in the history export file (SPEC §8.4): what is written,
// what is accepted back, and how an imported message merges with the
// thread's own copy. Version 2 carries the message operations' outcome
// (SPEC §8.5: `reply_to`, the latest edit, reactions, `deleted`), so a
// deleted message stays deleted after an import; version 1 files still
// import. Pure functions; HistoryFile (exportfile.ts) applies them.
import type { Attachment } from '../attachments/meta';
import { MESSAGE_ID_RE } from '../bytes';
import { isValidPrimary } from '../identity';
import { isLater } from '../ops/apply';
import { validEmoji, validOpText } from '../ops/body';
import { bySentAt, type ChatMessage, type MessageStatus, type Reaction } from '../records';
import { NOT_ON_THIS_DEVICE } from './ingest';

/** Reactions written per message at most (one per sender: in a conversation of two there are at most two). */
export const MAX_EXPORT_REACTIONS = 8;

/** A message in the file. The optional v2 fields are absent when they do not apply (and always in v1 files). */
export interface ExportedMessage {
  id: string;
  dir: 'in' | 'out';
  /** The text as shown (an edit's text); '' when `deleted`. */
  body: string;
  sent_at: string;
  status: MessageStatus;
  attachment?: Pick<Attachment, 'name' | 'mime' | 'size' | 'sha256' | 'mode'>;
  /** v2: a reply (SPEC §8.5): the id it answers. */
  reply_to?: string;
  /** v2: the latest applied edit's `sent_at` and id (its latest-wins key; `body` is its text). */
  edit?: { at: string; id: string };
  /** v2: one per sender; `emoji: ''` is a removal, kept as its latest-wins key. */
  reactions?: Reaction[];
  /** v2: deleted for everyone: body '', no attachment, edit, reactions or reply_to. */
  deleted?: true;
}

const STATUSES: readonly string[] = ['sending', 'sent', 'delivered', 'failed', 'received'];
const SENT_AT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const isId = (v: unknown): v is string => typeof v === 'string' && MESSAGE_ID_RE.test(v);
const isKey = (k: unknown): k is { at: string; id: string } => {
  const o = k as { at: unknown; id: unknown };
  return typeof k === 'object' && k !== null && typeof o.at === 'string' && SENT_AT_RE.test(o.at) && isId(o.id);
};

function isReaction(r: unknown): r is Reaction {
  const o = r as Reaction;
  return isKey(r) && typeof o.by === 'string' && isValidPrimary(o.by) && (o.emoji === '' || validEmoji(o.emoji));
}

function isAttachment(a: unknown): boolean {
  const o = a as NonNullable<ExportedMessage['attachment']>;
  return typeof a === 'object' && a !== null && typeof o.name === 'string' && typeof o.mime === 'string' && Number.isSafeInteger(o.size) && typeof o.sha256 === 'string' && (o.mode === 'inline' || o.mode === 'pointer');
}

/**
 * The v2 fields' structure: reactions (if any) a bounded array, and a
 * deleted message carrying none of the others. Whether each op field is
 * valid is opsCleaned's: one this client no longer accepts (a rule tightened
 * since) is left out of its message, not the whole file refused.
 */
function opFieldsOk(o: ExportedMessage): boolean {
  if (o.reactions !== undefined && !(Array.isArray(o.reactions) && o.reactions.length <= MAX_EXPORT_REACTIONS)) return false;
  if (o.deleted === undefined) return true;
  return o.deleted === true && o.body === '' && o.attachment === undefined && o.edit === undefined && o.reactions === undefined && o.reply_to === undefined;
}

/**
 * `m` with only the op fields this client accepts (SPEC §8.4): an invalid
 * `reply_to` or `edit` left out, invalid reactions left out and one per
 * sender (the later, §8.5); `dropped` counts what was left out. Used on
 * export (what this store holds may predate a rule) and on import.
 */
export function opsCleaned(m: ExportedMessage): { message: ExportedMessage; dropped: number } {
  const out: ExportedMessage = { ...m };
  let dropped = 0;
  if (out.reply_to !== undefined && !isId(out.reply_to)) {
    delete out.reply_to;
    dropped++;
  }
  if (out.edit !== undefined && (!isKey(out.edit) || !validOpText(out.body))) {
    delete out.edit;
    dropped++;
  }
  if (out.reactions !== undefined) {
    const latest = new Map<string, Reaction>();
    for (const r of out.reactions) if (isReaction(r) && isLater(r.at, r.id, latest.get(r.by))) latest.set(r.by, r);
    dropped += out.reactions.length - latest.size;
    if (latest.size) out.reactions = [...latest.values()];
    else delete out.reactions;
  }
  return { message: out, dropped };
}

/** Whether `m` is a message of a file of `version` (1: without the op fields, 2: with them). */
export function isExportedMessage(m: unknown, version: 1 | 2): m is ExportedMessage {
  const o = m as ExportedMessage;
  if (typeof m !== 'object' || m === null) return false;
  if (!isId(o.id) || (o.dir !== 'in' && o.dir !== 'out')) return false;
  if (typeof o.body !== 'string' || typeof o.sent_at !== 'string' || !SENT_AT_RE.test(o.sent_at) || !STATUSES.includes(o.status)) return false;
  if (o.attachment !== undefined && !isAttachment(o.attachment)) return false;
  if (version === 1) return o.reply_to === undefined && o.edit === undefined && o.reactions === undefined && o.deleted === undefined;
  return opFieldsOk(o);
}

/**
 * A v1 message read as v2: v1 wrote a deleted message as an empty body with
 * no file, and no text message is empty (the composer sends none), so that
 * is what it means.
 */
export function fromV1(m: ExportedMessage): ExportedMessage {
  return m.body === '' && !m.attachment ? { ...m, deleted: true } : m;
}

/** What one message is in the file (v2): the shown fields and the ops' outcome (file bytes stay on the device). */
export function exported(m: ChatMessage): ExportedMessage {
  const out: ExportedMessage = { id: m.id, dir: m.dir, body: m.deleted ? '' : m.body, sent_at: m.sent_at, status: m.status };
  if (m.deleted) return { ...out, deleted: true };
  if (m.attachment) {
    const { name, mime, size, sha256, mode } = m.attachment;
    out.attachment = { name, mime, size, sha256, mode };
  }
  if (m.reply_to) out.reply_to = m.reply_to;
  if (m.edit) out.edit = { at: m.edit.at, id: m.edit.id };
  if (m.reactions?.length) out.reactions = m.reactions.slice(-MAX_EXPORT_REACTIONS).map(({ by, emoji, at, id }) => ({ by, emoji, at, id }));
  return opsCleaned(out).message;
}

/** The thread entry an imported message becomes: unsent ones as failed (never re-sent unasked), files without bytes. */
export function imported(m: ExportedMessage): ChatMessage {
  const status: MessageStatus = m.status === 'sending' || m.status === 'failed' ? 'failed' : m.status;
  const entry: ChatMessage = { id: m.id, dir: m.dir, body: m.body, sent_at: m.sent_at, status };
  if (m.dir === 'in') entry.acked = true; // never acked from an import
  if (status === 'failed') entry.retryable = false;
  if (m.deleted) return { ...entry, body: '', deleted: true };
  if (m.attachment) entry.attachment = { ...m.attachment, done: 0, state: 'ready', note: NOT_ON_THIS_DEVICE };
  if (m.reply_to) entry.reply_to = m.reply_to;
  if (m.edit) entry.edit = { ...m.edit };
  if (m.reactions?.length) entry.reactions = m.reactions.map((r) => ({ ...r }));
  return entry;
}

/** What a merge did: messages added, messages of the thread changed, and files whose stored bytes must go (deleted). */
export interface MergeOutcome {
  added: number;
  updated: number;
  wiped: { dir: 'in' | 'out'; id: string }[];
}

/**
 * The ops' outcome of an imported copy onto the thread's own (SPEC §8.5
 * rules): deleted is final, the later edit and the later reaction per sender
 * win. Whether `have` changed.
 */
function mergeOps(have: ChatMessage, m: ExportedMessage, wiped: MergeOutcome['wiped']): boolean {
  if (have.deleted || have.dir !== m.dir) return false;
  if (m.deleted) {
    if (have.attachment) wiped.push({ dir: have.dir, id: have.id });
    for (const k of ['attachment', 'reactions', 'edit', 'reply_to', 'unsent_ops'] as const) delete have[k];
    Object.assign(have, { body: '', deleted: true });
    return true;
  }
  let changed = false;
  if (m.edit && !have.attachment && isLater(m.edit.at, m.edit.id, have.edit)) {
    Object.assign(have, { body: m.body, edit: { ...m.edit } });
    changed = true;
  }
  for (const r of m.reactions ?? []) {
    const list = have.reactions ?? [];
    if (!isLater(r.at, r.id, list.find((x) => x.by === r.by))) continue;
    have.reactions = [...list.filter((x) => x.by !== r.by), { ...r }].slice(-MAX_EXPORT_REACTIONS);
    changed = true;
  }
  return changed;
}

/**
 * Merge imported messages into `thread` by id (SPEC §8.4): a message the
 * thread has keeps its own fields, except that `delivered` is taken over a
 * lower outgoing status and the ops' outcome merges by the §8.5 rules
 * (mergeOps); others are added, in sent_at order.
 */
export function mergeInto(thread: ChatMessage[], incoming: readonly ExportedMessage[]): MergeOutcome {
  const byId = new Map(thread.map((m) => [m.id, m]));
  const out: MergeOutcome = { added: 0, updated: 0, wiped: [] };
  for (const m of incoming) {
    const have = byId.get(m.id) ?? thread.find((t) => t.prev_ids?.includes(m.id));
    if (have) {
      let changed = mergeOps(have, m, out.wiped);
      if (have.dir === 'out' && m.status === 'delivered' && have.status !== 'delivered') {
        have.status = 'delivered';
        changed = true;
      }
      if (changed) out.updated++;
      continue;
    }
    const entry = imported(m);
    thread.push(entry);
    byId.set(entry.id, entry);
    out.added++;
  }
  thread.sort(bySentAt);
  return out;
}

/** mergeInto, counting only the messages added. */
export function mergeThread(thread: ChatMessage[], incoming: readonly ExportedMessage[]): number {
  return mergeInto(thread, incoming).added;
}
