// The outgoing queue: local echo, posting, Retry, automatic re-sends. The
// decisions (what is retried and when, which id/sent_at a re-send gets, what
// a POST's answer may change) are the pure functions of outboxrules.ts;
// `Outbox` applies them to the ChatStore's records.
//
// Per conversation the queue is in order (issue 13): posts of one peer run
// one after another (a KeyedChain), a message waits until the earlier ones
// were accepted, and one behind a message that finally failed is not posted
// either. A transient failure is retried inside the post with the chunk
// pacer's decisions (attachments/pacer.ts: 429 waits its Retry-After and
// pauses every conversation's posts of that rate bucket, SPEC §7.5: texts
// the messages bucket, silent ops and self-copies, `?notify=false`, the
// silent one; network
// errors and 5xx back off 2 s doubling to 60 s), showing "Waiting…", at most
// MAX_ATTEMPTS times; then "Not sent" with Retry.
import { Wakeable } from './wakeable';
import { ApiError } from './api';
import { newMessageId } from './bytes';
import { afterFailure } from './attachments/pacer';
import { KeyedChain } from './receipts';
import { ChatClosedError, PostCancelledError, bySentAt, isLatest, type ChatAccess, type ChatMessage, type Outgoing } from './records';
import { opBody, validOpText } from './ops/body';
import { rfc3339 } from './time';
import {
  autoResendable,
  behindFailed,
  BEHIND_FAILED,
  countsAsRetry,
  failure,
  outgoingBody,
  resendPicks,
  restamp,
  retryAllFailed,
  SENT,
  settled,
  startedFields,
  waitingFields,
  type PostOutcome,
  type SendMode,
} from './outboxrules';

export * from './outboxrules';

/**
 * The server's per-IP rate bucket a post takes (SPEC §7.5): `messages` for
 * texts and replies, `silent` for `?notify=false` (ops, self-copies).
 */
export type Bucket = 'messages' | 'silent';

/** Peers whose conversation was deleted that the queue remembers (the oldest forgotten first; its posts are long done). */
export const MAX_FORGOTTEN_PEERS = 1000;

/** The outgoing queue of one ChatStore. */
export class Outbox {
  readonly #chat: ChatAccess;
  readonly #sleep: (ms: number) => Promise<void>;
  /** `peer/id` of outbound messages being posted right now (never posted twice at once). */
  readonly #delivering = new Set<string>();
  /** Per peer: its posts, one after another, in the order they were queued. */
  readonly #chains = new KeyedChain();
  /**
   * Per server rate bucket (SPEC §7.5), epoch ms before which none of its
   * posts goes: a 429's Retry-After. Shared by every conversation (the
   * buckets are per IP), never across buckets: a silent post's 429 says
   * nothing about the texts' budget.
   */
  readonly #pauseUntil: Record<Bucket, number> = { messages: 0, silent: 0 };
  /** Resolvers of the waits between attempts (wake() ends them early). */
  readonly #waits: Wakeable;
  /** Conversation deletions so far, all peers together: a post remembers the count it was queued under. */
  #tick = 0;
  /** Per peer: the count at its conversation's last deletion here; a post queued under an older count is dropped. */
  readonly #gens = new Map<string, number>();
  /** The newest count among peers no longer in #gens: a post queued before it, to a peer not there, counts as stale. */
  #floor = 0;

  constructor(chat: ChatAccess, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))) {
    this.#chat = chat;
    this.#sleep = sleep;
    this.#waits = new Wakeable(sleep);
  }

  /**
   * Send a text message (a reply to `replyTo`, SPEC §8.5, when given) with local echo: sending → sent (201/200) → delivered (ack).
   * A reply over MAX_OP_TEXT_BYTES is not sent (never filed).
   */
  async send(peer: string, text: string, replyTo?: string): Promise<void> {
    const body = outgoingBody(text);
    if (body === null || this.#chat.closed) return;
    // The peer would drop it as malformed (SPEC §8.5); the composer says so first (ops/compose.ts).
    if (replyTo && !validOpText(body)) return;
    const msg: ChatMessage = { id: newMessageId(), dir: 'out', body, sent_at: rfc3339(this.#chat.now()), status: 'sending', ...(replyTo ? { reply_to: replyTo } : {}) };
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
    await this.#queue(peer, msg.id, 'send');
  }

  /** The Retry button: every failed text of the thread goes again, in order (the counts start again). */
  async retry(peer: string): Promise<void> {
    const ids = retryAllFailed(this.#chat.loadedThread(peer) ?? []);
    await Promise.all(ids.map((id) => this.#queue(peer, id, 'send')));
  }

  /**
   * The conversation with `peer` was deleted on this device (ConvoActions):
   * every post queued for it and not yet sealed is dropped, messages and
   * silent ops alike; waits end now. A post already handed to the network
   * cannot be called back.
   */
  forget(peer: string): void {
    this.#gens.delete(peer);
    this.#gens.set(peer, ++this.#tick);
    // Never forgets a deletion outright: a pruned one raises the floor, so its stale posts stay stale.
    for (const [p, at] of this.#gens) {
      if (this.#gens.size <= MAX_FORGOTTEN_PEERS) break;
      this.#gens.delete(p);
      this.#floor = Math.max(this.#floor, at);
    }
    this.wake();
  }

  /** The count a post queued now remembers (one for every peer: only the deletions' own counts are per peer). */
  #gen(_peer: string): number {
    return this.#tick;
  }

  /** The count to pass to postSilent for an op decided now (MessageOps takes it before applying the op). */
  generation(peer: string): number {
    return this.#gen(peer);
  }

  /** Whether a post to `peer` queued under count `gen` is still wanted: no deletion of the conversation since. */
  #current(peer: string, gen: number): boolean {
    return gen >= (this.#gens.get(peer) ?? this.#floor);
  }

  /** The connection is back: waits between attempts end now (a 429's pause still holds). */
  wake(): void {
    this.#waits.wakeAll();
  }

  /**
   * Wake the waits (the connection is back) and, at load, post what was
   * still `sending` (see autoResendable): the server answers 200 with the
   * same seq for a `(to, id)` it already has, and the re-sealed envelope
   * keeps id and sent_at, unless too old (restamp). Never rejects.
   */
  async resend(atLoad: boolean): Promise<void> {
    if (this.#chat.closed) return;
    this.wake();
    try {
      const todo = await this.#chat.serial(() => this.#pick(atLoad));
      // In order per conversation (the chains), conversations side by side.
      await Promise.all(todo.map(([peer, id]) => this.#queue(peer, id, atLoad ? 'load' : 'auto')));
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

  /** Post `id` after every post queued before it for `peer`. */
  #queue(peer: string, id: string, mode: SendMode): Promise<void> {
    const gen = this.#gen(peer);
    return this.#chains.run(peer, () => this.deliver(peer, id, mode, gen));
  }

  /**
   * Post one outbound message (see SendMode); at most one post per message
   * at a time. `gen`: the deletion count when it was queued (a
   * deleted conversation's posts are dropped: forget()).
   */
  async deliver(peer: string, id: string, mode: SendMode = 'send', gen = this.#gen(peer)): Promise<void> {
    const key = `${peer}/${id}`;
    const m = this.#find(peer, id);
    // Delivered is final: never posted again, so never downgraded to sending.
    if (!m || m.dir !== 'out' || m.status === 'delivered' || this.#chat.closed || this.#delivering.has(key) || !this.#current(peer, gen)) return;
    // Re-checked now: a manual Retry may have settled it since it was picked.
    if (mode !== 'send' && !autoResendable(m, mode === 'load')) return;
    // Never overtakes an earlier message that failed.
    if (behindFailed(this.#chat.loadedThread(peer) ?? [], id)) return this.#holdBack(peer, id);
    this.#delivering.add(key);
    try {
      await this.#post(peer, id, countsAsRetry(m, mode), gen);
    } catch (e) {
      // Closed mid-way: left `sending`, so the next unlock posts it again. Cancelled: the conversation is gone.
      if (!(e instanceof ChatClosedError) && !(e instanceof PostCancelledError)) throw e;
    } finally {
      this.#delivering.delete(key);
    }
  }

  /** An earlier message failed: this one shows "Not sent" too (Retry sends them all, in order). */
  #holdBack(peer: string, id: string): Promise<void> {
    return this.#chat.serial(async () => {
      const msg = this.#find(peer, id);
      if (!msg || msg.status === 'delivered' || msg.status === 'sent') return;
      Object.assign(msg, { status: 'failed', error: BEHIND_FAILED, retryable: true, waiting: undefined });
      await this.#chat.saveThread(peer);
    });
  }

  /** Attempts of one post until accepted, final, or MAX_SEND_ATTEMPTS (see pacer afterFailure). */
  async #post(peer: string, id: string, counted: boolean, gen: number): Promise<void> {
    const renamed = new Set<string>();
    try {
      for (let attempt = 1; ; attempt++) {
        await this.pause('messages');
        const m = await this.#chat.serial(() => this.#start(peer, id, counted && attempt === 1));
        if (!m || !this.#current(peer, gen)) return;
        if (m.id !== id) {
          id = m.id;
          // Under its new id too: a re-send pass must not pick it while this post runs.
          renamed.add(`${peer}/${id}`);
          this.#delivering.add(`${peer}/${id}`);
        }
        const error = await this.#attempt(peer, m, () => !this.#current(peer, gen));
        if (error === null) return;
        // Bounded by the pacer too (MAX_SEND_ATTEMPTS is its MAX_ATTEMPTS).
        const next = afterFailure(error, attempt);
        if (!next.retry || this.#chat.closed) return await this.#settle(peer, id, failure(error));
        if (error instanceof ApiError && error.status === 429) this.hold(next.ms, 'messages');
        await this.#settle(peer, id, waitingFields(next.waiting));
        await this.#waits.wait(next.ms);
      }
    } finally {
      for (const k of renamed) this.#delivering.delete(k);
    }
  }

  /** One POST of `m`: null once accepted (settled as sent), else the error. */
  async #attempt(peer: string, m: ChatMessage, cancelled: () => boolean): Promise<unknown> {
    const { id, sent_at, body, reply_to } = m;
    const out: Outgoing = reply_to ? { kind: 'reply', id, sent_at, body: opBody({ kind: 'reply', reply_to, text: body }) } : { kind: 'text', id, sent_at, body };
    try {
      const r = await this.#chat.post(peer, out, { cancelled });
      await this.#settle(peer, id, r?.via ? { ...SENT, via: r.via } : SENT);
      return null;
    } catch (e) {
      if (e instanceof ChatClosedError || e instanceof PostCancelledError) throw e;
      return e ?? new Error('post failed');
    }
  }

  /**
   * A silent message operation (SPEC §8.5: reaction, edit, delete) in the
   * conversation's order, posted with notify false; transient failures wait
   * and retry like a message's (the pacer). False when it finally failed
   * (the caller keeps it for Retry: MessageOps); true once posted, when
   * the chat closed meanwhile, or when the conversation was deleted before
   * it was sealed (forget()); `gen`: generation() when the op was decided,
   * so a deletion after that drops it. Never rejects.
   */
  postSilent(peer: string, m: Outgoing, gen = this.#gen(peer)): Promise<boolean> {
    const cancelled = () => !this.#current(peer, gen);
    return this.#chains.run(peer, async () => {
      for (let attempt = 1; !this.#chat.closed && !cancelled(); attempt++) {
        await this.pause('silent');
        try {
          await this.#chat.post(peer, m, { notify: false, cancelled });
          return true;
        } catch (e) {
          if (e instanceof ChatClosedError || e instanceof PostCancelledError) return true;
          const next = afterFailure(e, attempt);
          if (!next.retry) return (console.debug(`${m.kind} not sent:`, e instanceof ApiError ? e.code : 'error'), false);
          if (e instanceof ApiError && e.status === 429) this.hold(next.ms, 'silent');
          await this.#waits.wait(next.ms);
        }
      }
      return true;
    });
  }

  /** Queued: apply a post's outcome (never over `delivered`). */
  #settle(peer: string, id: string, outcome: PostOutcome): Promise<void> {
    return this.#chat.serial(async () => {
      const msg = this.#find(peer, id);
      if (!msg) return;
      const next = settled(msg.status, outcome);
      if (next) Object.assign(msg, next);
      await this.#chat.saveThread(peer);
    });
  }

  /** Sit out a 429's Retry-After in `bucket` (every conversation's; the self-copies': history/copyqueue.ts). */
  async pause(bucket: Bucket): Promise<void> {
    const ms = this.#pauseUntil[bucket] - Date.now();
    if (ms > 0) await this.#sleep(ms);
  }

  /** No post of `bucket` goes for `ms` from now: one of them got a 429. */
  hold(ms: number, bucket: Bucket): void {
    this.#pauseUntil[bucket] = Math.max(this.#pauseUntil[bucket], Date.now() + ms);
  }


  /** Queued: mark the message `sending` (re-stamped if stale) and save; null if acked meanwhile. */
  async #start(peer: string, id: string, counted: boolean): Promise<ChatMessage | null> {
    const msg = this.#find(peer, id);
    // Acked while this post waited for the queue.
    if (!msg || msg.status === 'delivered') return null;
    const restamped = this.#restampIfStale(peer, msg);
    const fields = { ...startedFields(msg, counted), waiting: undefined };
    // A fresh message is saved `sending` already: one write less per message of a burst.
    const same = (Object.keys(fields) as (keyof typeof fields)[]).every((k) => (k === 'retries' ? (msg.retries ?? 0) === fields.retries : msg[k] === fields[k]));
    Object.assign(msg, fields);
    if (restamped) await this.#chat.saveConvs();
    if (restamped || !same) await this.#chat.saveThread(peer);
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
