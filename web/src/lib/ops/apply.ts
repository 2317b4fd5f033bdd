// Applying message operations (SPEC §8.5) to a thread: pure decisions on
// the ChatStore's records, unit-tested on their own. MessageOps (ops.ts)
// runs them inside the write queue and saves.
import type { ChatMessage, Reaction } from '../records';
import type { Op } from './body';
import { reactionForm } from './reactionform';

/** What the bubble of a message deleted for everyone says (and the list's preview). */
export const DELETED_TEXT = 'This message was deleted';
/** What a reply's quote says when this device has not got the original. */
export const ORIGINAL_MISSING = 'Original message not available';

/** Who sent an op, and its place in time (the latest-wins key). */
export interface OpMeta {
  /** The op's own message id. */
  id: string;
  /** Its `sent_at` (`YYYY-MM-DDTHH:MM:SSZ`, as signed). */
  sent_at: string;
  /** The sender's primary. */
  by: string;
  /** The sender is this identity (an op it sent, or its self-copy): its targets are `dir: out`. */
  own: boolean;
}

/**
 * `applied`: the thread changed (save it); `ignored`: dropped for good (not
 * the author's, a deleted target, older than what is there); `pending`: no
 * such message here (yet): keep it for when it arrives.
 */
export type OpOutcome = { result: 'applied'; target: ChatMessage; wipe: boolean } | { result: 'ignored' | 'pending' };

/** Whether the op keyed (sentAt, id) is later than `than` (same key: not later, so re-applying is a no-op). */
export function isLater(sentAt: string, id: string, than: { at: string; id: string } | undefined): boolean {
  if (!than) return true;
  return sentAt > than.at || (sentAt === than.at && id > than.id);
}

/**
 * When a new op of `kind` by `by` on `target` is sent, given the clock's
 * `now`: now, or 1 s after that sender's own latest op of the kind on it
 * when that is not earlier (SPEC §8.5), so two quick changes (👍 then ❤️ in
 * one second) keep their order instead of leaving it to the id tiebreak.
 */
export function opSentAt(now: Date, target: ChatMessage | undefined, kind: Op['kind'], by: string): Date {
  const last = kind === 'reaction' ? target?.reactions?.find((r) => r.by === by)?.at : kind === 'edit' ? target?.edit?.at : undefined;
  if (!last) return now;
  // Never more than a minute ahead, well inside a receiver's 5 minutes of
  // allowed skew (SPEC §8 `future_sent_at`), however fast the changes come.
  const next = Math.min(Date.parse(last) + 1000, now.getTime() + 60_000);
  return Number.isFinite(next) && next > now.getTime() ? new Date(next) : now;
}

/** The thread message `id` names (under it, or an id it was posted under before). */
export function findTarget(thread: readonly ChatMessage[], id: string): ChatMessage | undefined {
  return thread.find((m) => m.id === id || m.prev_ids?.includes(id));
}

/** Whether `m` is visible (text, reply or file), i.e. may be reacted to or deleted. */
function visible(m: ChatMessage): boolean {
  return !m.deleted;
}

/** Apply a `reaction`, `edit` or `delete` (a reply is a message, not applied here). */
export function applyOp(thread: readonly ChatMessage[], op: Op, meta: OpMeta): OpOutcome {
  if (op.kind === 'reply') return { result: 'ignored' };
  const target = findTarget(thread, op.target);
  if (!target) return { result: 'pending' };
  if (!visible(target)) return { result: 'ignored' };
  if (op.kind === 'reaction') return react(target, op.emoji, meta);
  // Only the author edits or deletes: the peer's own messages, or ours.
  if (target.dir !== (meta.own ? 'out' : 'in')) return { result: 'ignored' };
  if (op.kind === 'edit') {
    if (target.attachment || !isLater(meta.sent_at, meta.id, target.edit)) return { result: 'ignored' };
    target.body = op.text;
    target.edit = { at: meta.sent_at, id: meta.id };
    return { result: 'applied', target, wipe: false };
  }
  const wipe = !!target.attachment;
  target.body = '';
  target.deleted = true;
  delete target.attachment;
  delete target.reactions;
  delete target.edit;
  delete target.reply_to;
  return { result: 'applied', target, wipe };
}

/** One reaction per sender: replaced by a later one; an empty emoji stays as the removal's key. */
function react(target: ChatMessage, emoji: string, meta: OpMeta): OpOutcome {
  const list = target.reactions ?? [];
  const mine = list.find((r) => r.by === meta.by);
  if (!isLater(meta.sent_at, meta.id, mine)) return { result: 'ignored' };
  const next: Reaction = { by: meta.by, emoji, at: meta.sent_at, id: meta.id };
  target.reactions = [...list.filter((r) => r.by !== meta.by), next];
  return { result: 'applied', target, wipe: false };
}

/**
 * The chips under a bubble: each emoji shown with its count and whether `me`
 * chose it, in first-chosen order. One emoji is one chip whatever form it
 * arrived in ("👍" and "👍\uFE0F"): chips are keyed and shown in the sending
 * form (reactionForm, SPEC §8.5).
 */
export function reactionChips(m: Pick<ChatMessage, 'reactions'>, me: string): { emoji: string; count: number; mine: boolean }[] {
  const chips: { emoji: string; count: number; mine: boolean }[] = [];
  for (const r of [...(m.reactions ?? [])].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))) {
    if (!r.emoji) continue;
    const emoji = reactionForm(r.emoji);
    const chip = chips.find((c) => c.emoji === emoji);
    if (chip) {
      chip.count += 1;
      chip.mine ||= r.by === me;
    } else chips.push({ emoji, count: 1, mine: r.by === me });
  }
  return chips;
}

/** The quote above a reply: a short snippet of the original as this device has it. */
export function quoteOf(thread: readonly ChatMessage[], replyTo: string, max = 120): { text: string; found: boolean; dir?: 'in' | 'out' } {
  const m = findTarget(thread, replyTo);
  if (!m) return { text: ORIGINAL_MISSING, found: false };
  if (m.deleted) return { text: DELETED_TEXT, found: true, dir: m.dir };
  const text = m.body.replace(/\s+/g, ' ').trim();
  return { text: text.length > max ? `${text.slice(0, max - 1)}…` : text, found: true, dir: m.dir };
}

/** The default quick reactions: the React row shows them after the recently used ones (recent.ts quickRow); the picker offers any emoji. */
export const QUICK_EMOJI: readonly string[] = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
