// What a device files when a self-copy (SPEC §8.3) or a note to self arrives:
// the original as an outgoing message of the conversation with its `to`.
// Pure decisions; Inbound applies them to the threads.
import { parseBody } from '../attachments/body';
import type { Attachment } from '../attachments/meta';
import { fromB64url } from '../bytes';
import type { SealedMessage } from '../envelope';
import type { ChatMessage } from '../records';
import { parseRfc3339, rfc3339 } from '../time';
import type { SentBody } from './selfcopy';
import { parseOpBody } from '../ops/body';

/** What a pointer's copy says on a device that has not got the file (chunks are not copied, SPEC §8.3). */
export const NOT_ON_THIS_DEVICE = 'Sent from another device; the file is only there.';

/** A copy to file: the thread entry, and for an inline file its bytes (stored as the outgoing file). */
export interface Filed {
  entry: ChatMessage;
  bytes?: Uint8Array;
}

/** The self-copy's body (already checked by openEnvelope). */
export function copyOf(outer: Pick<SealedMessage, 'body'>): SentBody {
  return JSON.parse(outer.body) as SentBody;
}

/** Whether `thread` already holds the message `id` (under it or as an id it was posted under before). */
export function holds(thread: readonly ChatMessage[], id: string): boolean {
  return thread.some((m) => m.id === id || m.prev_ids?.includes(id));
}

/**
 * The outgoing entry for an original the identity sent (a copy's `message`,
 * or a note to self): status `sent` (an ack may follow, SPEC §8.3), sent_at
 * re-written as UTC `Z` like inbound ones. Null for a body it cannot show.
 */
export function outgoingFromOriginal(m: Pick<SealedMessage, 'id' | 'kind' | 'body' | 'sent_at'>): Filed | null {
  const sent_at = rfc3339(new Date(parseRfc3339(m.sent_at)));
  const base = { id: m.id, dir: 'out' as const, sent_at, status: 'sent' as const };
  if (m.kind === 'text') return { entry: { ...base, body: m.body } };
  if (m.kind === 'reply') {
    const r = parseOpBody('reply', m.body);
    return r?.kind === 'reply' ? { entry: { ...base, body: r.text, reply_to: r.reply_to } } : null;
  }
  if (m.kind !== 'file') return null;
  const f = parseBody('file', m.body);
  if (!f) return null;
  const meta = { name: f.name, mime: f.mime, size: f.size, sha256: f.sha256 };
  if (f.mode === 'inline') {
    const attachment: Attachment = { ...meta, mode: 'inline', done: 1, chunks: 1, state: 'ready', posted: true };
    return { entry: { ...base, body: f.name, attachment }, bytes: fromB64url(f.data) };
  }
  const attachment: Attachment = {
    ...meta,
    mode: 'pointer',
    file_id: f.file_id,
    chunks: f.chunks,
    done: 0,
    posted: true,
    state: 'ready',
    note: NOT_ON_THIS_DEVICE,
  };
  return { entry: { ...base, body: f.name, attachment } };
}
