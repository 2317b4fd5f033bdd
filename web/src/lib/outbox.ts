// The outgoing queue: local echo, posting, Retry, automatic re-sends. The
// decisions (what is retried and when, which id/sent_at a re-send gets, what
// a POST's answer may change) are the pure functions at the top; `Outbox`
// applies them to the ChatStore's records.
import { ApiError } from './api';
import { newMessageId } from './bytes';
import { PublishError } from './nostr/transport';
import { ChatClosedError, bySentAt, isLatest, type ChatAccess, type ChatMessage, type MessageStatus } from './records';
import { parseRfc3339, rfc3339 } from './time';

/** Automatic retries of one failed message before only the Retry button is left. */
export const AUTO_RETRIES = 5;

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
export type PostOutcome = Pick<ChatMessage, 'status' | 'error' | 'retryable' | 'via'>;

/** The outcome of a POST the server accepted (201, or 200 for an id it already had). */
export const SENT: Readonly<PostOutcome> = Object.freeze({ status: 'sent', error: undefined, retryable: undefined, via: undefined });

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
  return { status: 'failed', error: e instanceof Error ? e.message : String(e), retryable: isTransient(e) };
}

/** Outbound and never accepted by the server (`sending` or `failed`). */
export function isUnsent(m: ChatMessage): boolean {
  return m.dir === 'out' && (m.status === 'sending' || m.status === 'failed');
}

/**
 * Whether a re-send pass posts `m` without being asked. `sending` only at
 * load (the tab closed mid-send; otherwise a post is under way), `failed`
 * only for a transient error and at most AUTO_RETRIES times, so e.g. a 404
 * unknown_recipient is left to the Retry button.
 */
export function autoResendable(m: ChatMessage, atLoad: boolean): boolean {
  // Files have their own sender (attachments/sender.ts).
  if (m.dir !== 'out' || m.attachment) return false;
  if (m.status === 'sending') return atLoad;
  return m.status === 'failed' && m.retryable === true && (m.retries ?? 0) < AUTO_RETRIES;
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

/** The outgoing queue of one ChatStore. */
export class Outbox {
  readonly #chat: ChatAccess;
  /** `peer/id` of outbound messages being posted right now (never posted twice at once). */
  readonly #delivering = new Set<string>();

  constructor(chat: ChatAccess) {
    this.#chat = chat;
  }

  /** Send a text message with local echo: sending → sent (201/200) → delivered (ack). */
  async send(peer: string, text: string): Promise<void> {
    const body = outgoingBody(text);
    if (body === null || this.#chat.closed) return;
    const msg: ChatMessage = { id: newMessageId(), dir: 'out', body, sent_at: rfc3339(this.#chat.now()), status: 'sending' };
    await this.#chat.serial(async () => {
      const thread = await this.#chat.thread(peer);
      thread.push(msg);
      const c = this.#chat.ensureConversation(peer);
      c.last_at = msg.sent_at;
      c.last_preview = body;
      c.unsent = true;
      c.wrote = true;
      // The flag first: a tab closed in between must not hide the message from load().
      await this.#chat.saveConvs();
      await this.#chat.saveThread(peer);
    });
    await this.deliver(peer, msg.id);
  }

  /**
   * Post what the server never accepted (see autoResendable). At load that
   * includes messages still `sending`: the server answers 200 with the same
   * seq for a `(to, id)` it already has, and the re-sealed envelope keeps id
   * and sent_at, unless too old (restamp). Never rejects.
   */
  async resend(atLoad: boolean): Promise<void> {
    if (this.#chat.closed) return;
    try {
      const todo = await this.#chat.serial(() => this.#pick(atLoad));
      // One at a time, in order: keeps the recipient's seqs in send order.
      for (const [peer, id] of todo) await this.deliver(peer, id, atLoad ? 'load' : 'auto');
    } catch (e) {
      // Runs unasked (load, online): a storage error must not become an unhandled rejection.
      if (!(e instanceof ChatClosedError)) console.debug('resend:', e);
    }
  }

  /**
   * Queued: the `[peer, id]`s to re-send, and each conversation's `unsent`
   * flag brought up to date; a conversation from before `wrote` existed gets
   * it from its thread (looked at once: a contact is a peer written to, §14.3).
   */
  async #pick(atLoad: boolean): Promise<[string, string][]> {
    const found: [string, string][] = [];
    let changed = false;
    for (const c of this.#chat.conversations()) {
      const legacy = c.wrote === undefined && c.last_preview !== '';
      if (c.unsent === false && !legacy) continue;
      const peer = c.peer_primary;
      const thread = await this.#chat.thread(peer);
      if (legacy) {
        c.wrote = thread.some((m) => m.dir === 'out');
        changed = true;
      }
      if (c.unsent === false) continue;
      const { unsent, picks } = resendPicks(thread, atLoad, (id) => this.#busy(peer, id));
      for (const id of picks) found.push([peer, id]);
      if (c.unsent !== unsent) {
        c.unsent = unsent;
        changed = true;
      }
    }
    if (changed) await this.#chat.saveConvs();
    return found;
  }

  #busy(peer: string, id: string): boolean {
    return this.#delivering.has(`${peer}/${id}`);
  }

  #find(peer: string, id: string): ChatMessage | undefined {
    return this.#chat.loadedThread(peer)?.find((m) => m.id === id);
  }

  /** Post one outbound message (see SendMode); at most one post per message at a time. */
  async deliver(peer: string, id: string, mode: SendMode = 'send'): Promise<void> {
    const key = `${peer}/${id}`;
    const m = this.#find(peer, id);
    // Delivered is final: never posted again, so never downgraded to sending.
    if (!m || m.dir !== 'out' || m.status === 'delivered' || this.#chat.closed || this.#delivering.has(key)) return;
    // Re-checked now: a manual Retry may have settled it since it was picked.
    if (mode !== 'send' && !autoResendable(m, mode === 'load')) return;
    this.#delivering.add(key);
    try {
      await this.#post(peer, id, countsAsRetry(m, mode));
    } catch (e) {
      // Closed mid-way: left `sending`, so the next unlock posts it again.
      if (!(e instanceof ChatClosedError)) throw e;
    } finally {
      this.#delivering.delete(key);
    }
  }

  async #post(peer: string, id: string, counted: boolean): Promise<void> {
    const m = await this.#chat.serial(() => this.#start(peer, id, counted));
    if (!m) return;
    const { sent_at, body } = m;
    const fresh = m.id !== id;
    id = m.id;
    // Under its new id too: a re-send pass must not pick it while this post runs.
    if (fresh) this.#delivering.add(`${peer}/${id}`);
    try {
      let outcome = SENT;
      try {
        const r = await this.#chat.post(peer, { kind: 'text', id, sent_at, body });
        if (r?.via) outcome = { ...SENT, via: r.via };
      } catch (e) {
        if (e instanceof ChatClosedError) throw e;
        outcome = failure(e);
      }
      await this.#chat.serial(async () => {
        const msg = this.#find(peer, id);
        if (!msg) return;
        const next = settled(msg.status, outcome);
        if (next) Object.assign(msg, next);
        await this.#chat.saveThread(peer);
      });
    } finally {
      if (fresh) this.#delivering.delete(`${peer}/${id}`);
    }
  }

  /** Queued: mark the message `sending` (re-stamped if stale) and save; null if acked meanwhile. */
  async #start(peer: string, id: string, counted: boolean): Promise<ChatMessage | null> {
    const msg = this.#find(peer, id);
    // Acked while this post waited for the queue.
    if (!msg || msg.status === 'delivered') return null;
    const restamped = this.#restampIfStale(peer, msg);
    Object.assign(msg, startedFields(msg, counted));
    if (restamped) await this.#chat.saveConvs();
    await this.#chat.saveThread(peer);
    return msg;
  }

  /** Apply restamp(): the message moves to the end of the thread, where its new time puts it. */
  #restampIfStale(peer: string, msg: ChatMessage): boolean {
    const fresh = restamp(msg, this.#chat.now(), newMessageId);
    if (!fresh) return false;
    Object.assign(msg, fresh);
    this.#chat.loadedThread(peer)?.sort(bySentAt);
    const c = this.#chat.conversation(peer);
    if (c && isLatest(c, msg.sent_at)) {
      c.last_at = msg.sent_at;
      c.last_preview = msg.body;
    }
    return true;
  }
}
