// The composer's rules for replies, edits and the action menu (SPEC §8.5):
// what it refuses before posting (the draft is kept and a sentence says
// why), since a peer drops a reply or edit over MAX_OP_TEXT_BYTES as
// `malformed_message` and the sender would never know.
import { outgoingBody } from '../outboxrules';
import type { ChatMessage } from '../records';
import { MAX_OP_TEXT_BYTES, validOpText } from './body';

/** What the composer is doing with its draft. */
export type ComposeMode = 'text' | 'reply' | 'edit';

const KB = (n: number) => Math.ceil(n / 1024).toLocaleString('en-US');

/**
 * Why the composer must not send `text` in `mode` (a sentence for the
 * user), or null when it may. A plain text is bounded by the envelope
 * (the server answers that); a reply or edit by MAX_OP_TEXT_BYTES.
 */
export function composeRefusal(text: string, mode: ComposeMode): string | null {
  if (mode === 'text') return null;
  const body = outgoingBody(text);
  if (body === null || validOpText(body)) return null;
  const size = new TextEncoder().encode(body).length;
  const what = mode === 'reply' ? 'a reply' : 'an edit';
  const other = mode === 'reply' ? 'send it as a new message (no quote)' : 'send it as a new message';
  return `Too long for ${what}: ${KB(size)} KB, at most ${KB(MAX_OP_TEXT_BYTES)} KB. Shorten it, or ${other}. Your text is kept.`;
}

/** The edit was not applied (the message was deleted meanwhile, or is no longer editable). */
export const EDIT_REFUSED = 'This message can no longer be edited: it was deleted, or cannot be changed. Your text is kept.';

/**
 * Whether the action menu is offered on `m`: sent or received, not
 * deleted, and not in a blocked conversation (ops would still be posted to
 * the blocked peer, and Reply has no composer there).
 */
export function actionable(m: ChatMessage, blocked: boolean): boolean {
  return !blocked && !m.deleted && m.status !== 'sending' && m.status !== 'failed';
}

/** Whether Edit is offered: an own text or reply whose body an edit may carry. */
export function editable(m: ChatMessage): boolean {
  return m.dir === 'out' && !m.attachment && !m.deleted && validOpText(m.body);
}
