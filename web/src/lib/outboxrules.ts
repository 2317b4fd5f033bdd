// The outgoing queue's decisions (issue 13), pure so they are tested alone:
// what is retried and when, which id/sent_at a re-send gets, what a POST's
// answer may change. `Outbox` (outbox.ts) applies them to the records.
import { ApiError } from './api';
import { PublishError } from './nostr/firstok';
import type { ChatMessage, MessageStatus } from './records';
import { parseRfc3339, rfc3339 } from './time';
import { MAX_ATTEMPTS } from './attachments/pacer';

/**
 * A message re-posted once its sent_at is older than this gets a fresh
 * sent_at and id: recipients drop sent_at older than 7 days (SPEC §8
 * stale_sent_at) while the server still accepts the post, so it would show
 * "sent" and never arrive. A day of margin for a slow recipient.
 */
export const RESTAMP_AFTER_MS = 6 * 24 * 3600_000;

/** Why a post starts: `send` (new, or the Retry button: resets the count); `auto`/`load`: picked by a re-send pass. */
export type SendMode = 'send' | 'auto' | 'load';

/** What a POST's answer leaves on the message. */
export type PostOutcome = Pick<ChatMessage, 'status' | 'error' | 'retryable' | 'via' | 'waiting'>;

/** The outcome of a POST the server accepted (201, or 200 for an id it already had). */
export const SENT: Readonly<PostOutcome> = Object.freeze({ status: 'sent', error: undefined, retryable: undefined, via: undefined, waiting: undefined });

/** Posts of one message in a row (the first and its automatic retries) before it shows "Not sent". */
export const MAX_SEND_ATTEMPTS = MAX_ATTEMPTS;

/** The error of a message held back because an earlier one of its conversation was not sent. */
export const BEHIND_FAILED = 'Not sent: an earlier message was not sent.';

/**
 * Whether `id` must wait: an earlier text of the thread is `failed`, so
 * posting it now would put it before that one at the recipient.
 */
export function behindFailed(thread: readonly ChatMessage[], id: string): boolean {
  for (const m of thread) {
    if (m.id === id) return false;
    if (m.dir === 'out' && !m.attachment && m.status === 'failed') return true;
  }
  return false;
}

/** The texts a Retry sends again, in thread order: every failed one (order is kept). */
export function retryAllFailed(thread: readonly ChatMessage[]): string[] {
  return thread.filter((m) => m.dir === 'out' && !m.attachment && m.status === 'failed').map((m) => m.id);
}

/** The text as sent (trailing whitespace dropped), or null when there is nothing to send. */
export function outgoingBody(text: string): string | null {
  const body = text.replace(/\s+$/, '');
  return body.trim() ? body : null;
}

/** Errors worth retrying without being asked: they may pass by themselves (network, 429, 5xx incl. 507). */
export function isTransient(e: unknown): boolean {
  // No relay accepted it: relays come back like a network does.
  if (e instanceof PublishError) return true;
  return e instanceof ApiError && (e.status === 0 || e.status === 429 || e.status >= 500);
}

/** The outcome of a POST that threw `e`. */
export function failure(e: unknown): PostOutcome {
  return { status: 'failed', error: e instanceof Error ? e.message : String(e), retryable: isTransient(e), waiting: undefined };
}

/** Outbound and never accepted by the server (`sending` or `failed`). */
export function isUnsent(m: ChatMessage): boolean {
  return m.dir === 'out' && (m.status === 'sending' || m.status === 'failed');
}

/**
 * Whether a re-send pass posts `m` without being asked: only a message
 * still `sending` at load (the tab closed while it was queued or posted;
 * otherwise its post is under way and retries by itself). A `failed` one
 * already had its MAX_SEND_ATTEMPTS, or a final error: the Retry button.
 */
export function autoResendable(m: ChatMessage, atLoad: boolean): boolean {
  // Files have their own sender (attachments/sender.ts).
  if (m.dir !== 'out' || m.attachment) return false;
  return m.status === 'sending' && atLoad;
}

/** One thread in a re-send pass: whether it still holds unsent messages, and which to post now (in order). */
export function resendPicks(
  thread: readonly ChatMessage[],
  atLoad: boolean,
  busy: (id: string) => boolean,
): { unsent: boolean; picks: string[] } {
  const unsent = thread.filter(isUnsent);
  const picks = unsent.filter((m) => !busy(m.id) && autoResendable(m, atLoad)).map((m) => m.id);
  return { unsent: unsent.length > 0, picks };
}

/** Whether a post of `m` counts against AUTO_RETRIES: a re-send pass retrying a failure. */
export function countsAsRetry(m: ChatMessage, mode: SendMode): boolean {
  return mode !== 'send' && m.status === 'failed';
}

/** The fields a message gets as its post starts (the count restarts on a send or Retry). */
export function startedFields(m: ChatMessage, counted: boolean): Pick<ChatMessage, 'status' | 'error' | 'retryable' | 'retries'> {
  return { retries: counted ? (m.retries ?? 0) + 1 : 0, status: 'sending', error: undefined, retryable: undefined };
}

/** What a failed attempt leaves while the post waits to try again ("Waiting…" and why). */
export function waitingFields(waiting: string): PostOutcome {
  return { status: 'sending', error: undefined, retryable: undefined, via: undefined, waiting };
}

/**
 * What the POST's answer changes: nothing once `delivered` (the ack may
 * have raced ahead of the answer, even of a failed one: a timeout after the
 * server stored it). Delivered is final.
 */
export function settled(current: MessageStatus, outcome: PostOutcome): PostOutcome | null {
  return current === 'delivered' ? null : outcome;
}

/**
 * A message about to be re-posted after RESTAMP_AFTER_MS gets a new sent_at
 * (the recipient would drop the old one as stale) and a new id: the server
 * may already hold the old id and would answer 200 for it without storing
 * the new envelope, and the recipient's replay guard is per id. The old id
 * is kept: if the first post did get through, the peer's ack names it.
 * Null while the message is young enough (or its sent_at unreadable).
 */
export function restamp(m: ChatMessage, now: Date, newId: () => string): Pick<ChatMessage, 'id' | 'sent_at' | 'prev_ids'> | null {
  if (!(now.getTime() - parseRfc3339(m.sent_at) > RESTAMP_AFTER_MS)) return null;
  return { prev_ids: [...(m.prev_ids ?? []), m.id], id: newId(), sent_at: rfc3339(now) };
}
