// Message operations (SPEC §8.5) for one ChatStore: sending a reaction,
// edit or delete (applied here at once, kept in `unposted_ops` until its post
// settled, then posted silently in the conversation's queue; the transports
// file the self-copy), and applying the
// ones that arrive (from the peer, or this identity's other devices by
// self-copy), with a bounded wait for targets not here yet. Replies are
// messages: the outbox sends them, Inbound files them.
import { newMessageId } from '../bytes';
import type { SealedMessage } from '../envelope';
import { ChatClosedError, type ChatAccess, type ChatMessage, type Outgoing } from '../records';
import { parseRfc3339, rfc3339 } from '../time';
import { outgoingBody, RESTAMP_AFTER_MS } from '../outboxrules';
import { applyOp, DELETED_TEXT, findTarget, opSentAt, type OpMeta } from './apply';
import { opBody, parseOpBody, validEmoji, validOpText, type Op } from './body';
import { PENDING_MS, PendingOps } from './pending';
import { UnpostedOps, type Unposted } from './unposted';
import type { KV } from '../kv';

export { MAX_PENDING, MAX_PENDING_PEERS, PENDING_MS, PendingOps } from './pending';
/** Finally failed ops kept per message for Retry (the oldest goes first). */
export const MAX_UNSENT_OPS = 8;

/** What MessageOps may use of the ChatStore. */
export interface OpsHost {
  chat: ChatAccess;
  /** The own primary. */
  own: string;
  /** Post a silent op in `peer`'s queue (Outbox.postSilent; `gen` from generation()); false when it finally failed. */
  postSilent(peer: string, m: Outgoing, gen?: number): Promise<boolean>;
  /** The send queue's deletion count now (Outbox.generation): taken before an op is applied. */
  generation?(peer: string): number;
  /** Whether `peer` is blocked: no op is sent there (review r13 #8). */
  blocked(peer: string): boolean;
  /** Delete a file's stored bytes (Attachments.wipe). */
  wipeFile(peer: string, dir: 'in' | 'out', id: string): Promise<void>;
  /** The sealed history KV (SPEC §8.2) and the store's record names: pending ops survive a reload there. */
  kv?: KV;
  key?(part: string): string;
}

export class MessageOps {
  readonly #h: OpsHost;
  /** Ops that came before their target (sealed record `pending_ops`, SPEC §8.2, §8.5). */
  readonly pending: PendingOps;
  /** Own ops until their post settled (sealed record `unposted_ops`, SPEC §8.2): a closed tab posts them again. */
  readonly unposted: UnpostedOps;
  /** Read by load(), posted by resume(). */
  #toResume: readonly Unposted[] = [];

  constructor(host: OpsHost) {
    this.#h = host;
    this.pending = new PendingOps(host.kv, host.key?.('pending_ops'));
    this.unposted = new UnpostedOps(host.kv, host.key?.('unposted_ops'), () => host.chat.closed);
  }

  /**
   * Read the pending ops kept before a reload (ChatStore.load); expired ones
   * are dropped, and those whose target is in its thread already (stored
   * just before a crash) apply now.
   */
  async load(): Promise<void> {
    await this.pending.load(this.#h.chat.now().getTime());
    await this.#h.chat.serial(() => this.settle());
    this.#toResume = await this.unposted.load();
  }

  /**
   * After the load (the copy queue read): post again the own ops whose post
   * had not settled when the tab closed or locked, same id (the server
   * answers 200 for one it has) so their self-copies are queued now.
   */
  resume(): void {
    const todo = this.#toResume;
    this.#toResume = [];
    for (const { peer, m } of todo) {
      const op = parseOpBody(m.kind, m.body);
      if (!op || op.kind === 'reply' || this.#h.blocked(peer)) void this.unposted.done({ peer, m });
      else this.#post(peer, op.target, m);
    }
  }

  /**
   * Apply the waiting ops whose target is in its thread now, though it did
   * not arrive by ingest (a history import, a crash between the thread's
   * write and the pending record's); `peers`: only theirs. Inside the write
   * queue; the record is saved.
   */
  async settle(peers?: readonly string[]): Promise<void> {
    const { chat } = this.#h;
    for (const [peer, targets] of this.pending.targets()) {
      if ((peers && !peers.includes(peer)) || !chat.conversation(peer)) continue;
      const thread = await chat.thread(peer);
      for (const t of targets) {
        if (findTarget(thread, t)) await this.arrived(peer, t);
      }
    }
    await this.pending.save();
  }

  /** The conversation with `peer` was deleted here (inside the write queue): its pending ops go too. */
  async forget(peer: string): Promise<void> {
    this.pending.dropPeer(peer);
    await this.pending.save();
    await this.unposted.forget(peer);
  }

  /** React to message `id` with `emoji` ('' removes the own reaction). */
  react(peer: string, id: string, emoji: string): Promise<boolean> {
    if (!validEmoji(emoji)) return Promise.resolve(false);
    return this.#send(peer, { kind: 'reaction', target: id, emoji });
  }

  /** Replace the text of the own message `id` (a text or reply). */
  edit(peer: string, id: string, text: string): Promise<boolean> {
    const body = outgoingBody(text);
    if (body === null || !validOpText(body)) return Promise.resolve(false);
    return this.#send(peer, { kind: 'edit', target: id, text: body });
  }

  /** Delete the own message `id` for everyone. */
  remove(peer: string, id: string): Promise<boolean> {
    return this.#send(peer, { kind: 'delete', target: id });
  }

  /** Apply here, then post (silently, in the conversation's order). False when nothing changed (not sent). */
  async #send(peer: string, op: Op & { target: string }): Promise<boolean> {
    const { chat, own } = this.#h;
    if (chat.closed || this.#h.blocked(peer)) return false;
    // Before the apply: a conversation deleted after this call never gets the op posted.
    const gen = this.#h.generation?.(peer);
    let m: Outgoing | undefined;
    const applied = await chat.serial(async () => {
      // Stamped where the target's own latest op is known (opSentAt).
      const target = findTarget(await chat.thread(peer), op.target);
      const sent_at = rfc3339(opSentAt(chat.now(), target, op.kind, own));
      m = { kind: op.kind, id: newMessageId(), sent_at, body: opBody(op) };
      return this.#apply(peer, op, { id: m.id, sent_at, by: own, own: true }, false);
    });
    if (applied && m) this.#post(peer, op.target, m, gen);
    return applied;
  }

  /**
   * Post in the background, on disk (`unposted_ops`) until the post settled:
   * accepted (its copy queued), or finally failed and kept on the target
   * (unsent_ops) for its Retry. A lock meanwhile leaves it for the next load.
   */
  #post(peer: string, target: string, m: Outgoing, gen?: number): void {
    const u = { peer, m };
    void (async () => {
      await this.unposted.add(u);
      if (!(await this.#h.postSilent(peer, m, gen))) await this.#keepUnsent(peer, target, m);
      await this.unposted.done(u);
    })().catch((e: unknown) => console.debug(`${m.kind} not kept:`, e));
  }

  async #keepUnsent(peer: string, target: string, m: Outgoing): Promise<void> {
    const { chat } = this.#h;
    try {
      await chat.serial(async () => {
        const t = (await chat.thread(peer)).find((x) => x.id === target);
        if (!t) return;
        t.unsent_ops = [...(t.unsent_ops ?? []), m].slice(-MAX_UNSENT_OPS);
        await chat.saveThread(peer);
      });
    } catch (e) {
      // Locked meanwhile: the op stays applied here only (as before a Retry).
      if (!(e instanceof ChatClosedError)) throw e;
    }
  }

  /**
   * The bubble's Retry: post message `id`'s unsent ops again, in order
   * (one older than RESTAMP_AFTER_MS gets a fresh id and sent_at, or the
   * peer would drop it as stale, SPEC §8). A new failure keeps it again.
   */
  async retry(peer: string, id: string): Promise<void> {
    const { chat } = this.#h;
    if (this.#h.blocked(peer)) return;
    const ops = await chat.serial(async () => {
      const t = (await chat.thread(peer)).find((x) => x.id === id);
      const list = t?.unsent_ops ?? [];
      if (t?.unsent_ops) {
        delete t.unsent_ops;
        await chat.saveThread(peer);
      }
      return list;
    });
    const now = chat.now();
    for (const m of ops) this.#post(peer, id, now.getTime() - parseRfc3339(m.sent_at) > RESTAMP_AFTER_MS ? { ...m, id: newMessageId(), sent_at: rfc3339(now) } : m);
  }

  /**
   * An opened `reaction`/`edit`/`delete` (inside the write queue): from the
   * peer, or this identity's own (a self-copy's original, a note to self).
   */
  async receive(msg: Pick<SealedMessage, 'kind' | 'id' | 'from' | 'to' | 'sent_at' | 'body'>): Promise<void> {
    const op = parseOpBody(msg.kind, msg.body);
    if (!op || op.kind === 'reply') return;
    const own = msg.from === this.#h.own;
    const peer = own ? msg.to : msg.from;
    await this.#apply(peer, op, { id: msg.id, sent_at: msg.sent_at, by: msg.from, own }, true);
  }

  /**
   * A message arrived in `peer`'s thread (inside the write queue): the ops
   * that waited for it now apply. The pending record is written once per
   * inbox batch (SeenIds.flush runs pending.save before the replay list),
   * not per op: writes proportional to the batch, not to the record.
   */
  async arrived(peer: string, id: string): Promise<void> {
    for (const w of this.pending.take(peer, id, this.#h.chat.now().getTime())) await this.#apply(peer, w.op, w.meta, false);
  }

  /** Apply and save; `keep`: a missing target waits (PendingOps). Whether the thread changed. */
  async #apply(peer: string, op: Op & { target: string }, meta: OpMeta, keep: boolean): Promise<boolean> {
    const { chat } = this.#h;
    // A stranger's op needs no thread of its own: it waits like one whose target is late.
    const thread = chat.conversation(peer) ? await chat.thread(peer) : [];
    const out = applyOp(thread, op, meta);
    // Written with the batch's replay list, before it (SeenIds.flush): a crash cannot keep the id and lose the op.
    if (out.result === 'pending' && keep) this.pending.add(peer, { op, meta, until: chat.now().getTime() + PENDING_MS }, !chat.conversation(peer));
    if (out.result !== 'applied') {
      if (out.result === 'ignored') console.debug(`${op.kind} ignored`);
      return false;
    }
    if (out.wipe) await this.#h.wipeFile(peer, out.target.dir, out.target.id);
    await chat.saveThread(peer);
    if (this.#followPreview(peer, thread, out.target)) await chat.saveConvs();
    return true;
  }

  /** The list's preview follows an edit or delete of the latest message. */
  #followPreview(peer: string, thread: readonly ChatMessage[], target: ChatMessage): boolean {
    const c = this.#h.chat.conversation(peer);
    if (!c || thread[thread.length - 1] !== target) return false;
    c.last_preview = target.deleted ? DELETED_TEXT : target.body;
    return true;
  }
}
