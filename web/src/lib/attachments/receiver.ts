// Receiving files (SPEC §13): inline files are checked and stored at once;
// a pointer shows "Receiving N/M…" and chunks (before or after it) wait in a
// sealed buffer that survives reloads, bounded by assembler.ts. A complete
// transfer is assembled in order, its SHA-256 checked against the pointer,
// stored sealed, and only then the pointer is acked (so "delivered" means the
// whole file). Chunks are acked as they are stored, in batches. Everything
// but askAgain() and the stall check runs inside the chat's write queue
// (from ingest).
import { fromB64url, newMessageId } from '../bytes';
import { ackBody, MAX_ACK_IDS, type SealedMessage } from '../envelope';
import { ChatClosedError, type ChatMessage } from '../records';
import { rfc3339 } from '../time';
import {
  admitChunk,
  assembleFrom,
  isComplete,
  isOrphan,
  isStalled,
  missingChunks,
  noteChunk,
  pointerMatches,
  transferKey,
  type Transfer,
} from './assembler';
import { needBody, sha256Hex, type FileBody, type FileChunk } from './body';
import { chunkRecord, fileRecord, type AttachmentHost } from './host';
import type { Attachment } from './meta';

/** How long chunk receipts gather before one post (a 10 MiB file: a few acks, not 128). */
export const CHUNK_ACK_DELAY_MS = 5_000;
/** How often stalled transfers are looked for. */
export const STALL_CHECK_MS = 15_000;
/** Chunk receipts waiting per peer at most (the oldest go first: a receipt lost costs the sender nothing). */
export const PENDING_ACKS_MAX = 4096;
/** Completed files remembered, so chunks re-sent after completion start no new transfer. */
export const FINISHED_KEPT = 256;

export class Receiver {
  readonly #host: AttachmentHost;
  #xfers: Transfer[] = [];
  /** `transferKey`s of files completed lately (bounded): late or re-sent chunks of them are only acked. */
  #finished: string[] = [];
  /** Unix ms of load(): a transfer is not stalled before STALL_MS after it (the inbox catches up first). */
  #since = 0;
  readonly #acks = new Map<string, string[]>();
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  #stallTimer: ReturnType<typeof setInterval> | null = null;

  constructor(host: AttachmentHost) {
    this.#host = host;
  }

  get #chat() {
    return this.#host.chat;
  }

  /** Transfers buffered now (tests, bounds). */
  get transfers(): readonly Transfer[] {
    return this.#xfers;
  }

  async load(stallCheck = true): Promise<void> {
    this.#xfers = (await this.#host.kv.get<Transfer[]>(this.#host.key('xfers'))) ?? [];
    this.#finished = (await this.#host.kv.get<string[]>(this.#host.key('xfers_done'))) ?? [];
    this.#since = this.#chat.now().getTime();
    if (stallCheck && typeof setInterval !== 'undefined') {
      this.#stallTimer = setInterval(() => void this.checkStalls().catch(() => undefined), STALL_CHECK_MS);
    }
  }

  close(): void {
    if (this.#stallTimer) clearInterval(this.#stallTimer);
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    this.#stallTimer = this.#ackTimer = null;
  }

  #save(): Promise<void> {
    return this.#host.kv.set(this.#host.key('xfers'), this.#xfers);
  }

  #find(peer: string, fileId: string): Transfer | undefined {
    return this.#xfers.find((t) => t.peer === peer && t.file_id === fileId);
  }

  /** An inline file or a pointer (from ingest, after the §8 checks and body validation). */
  async onFile(msg: SealedMessage, f: FileBody): Promise<void> {
    const peer = msg.from;
    const base = { name: f.name, mime: f.mime, size: f.size, sha256: f.sha256 };
    if (f.mode === 'inline') {
      const bytes = fromB64url(f.data);
      if ((await sha256Hex(bytes)) !== f.sha256) return console.debug(`dropped file ${msg.id}: sha256 mismatch`);
      await this.#host.files.put(this.#host.key(fileRecord('in', peer, msg.id)), bytes);
      await this.#host.receive(msg, { body: f.name, attachment: { ...base, mode: 'inline', done: 1, chunks: 1, state: 'ready' } });
      return;
    }
    if (this.#finished.includes(transferKey(peer, f.file_id))) return;
    let t = this.#find(peer, f.file_id);
    if (t?.pointer) return; // the same file announced twice: the first pointer stands
    if (t && !pointerMatches(t, f)) {
      await this.#drop(t);
      t = undefined;
    }
    const a: Attachment = { ...base, mode: 'pointer', file_id: f.file_id, chunks: f.chunks, done: t?.have.length ?? 0, state: 'receiving' };
    const stranger = t ? !!t.stranger : await this.#isStranger(peer);
    if (!t && (await this.#admit(peer, { file_id: f.file_id, index: 0, count: f.chunks }, 0, stranger))) {
      // Over the transfer bounds: shown as failed; "Ask again" starts it once others are done.
      await this.#host.receive(msg, { body: f.name, attachment: { ...a, state: 'failed', note: 'Too many files arriving at once.' } });
      return;
    }
    t ??= this.#track(peer, f.file_id, f.chunks, stranger);
    t.pointer = { msg_id: msg.id, size: f.size, sha256: f.sha256, chunks: f.chunks };
    t.last_at = this.#chat.now().getTime();
    await this.#host.receive(msg, { body: f.name, attachment: a });
    await this.#save();
    if (isComplete(t)) await this.#finish(t);
  }

  /**
   * A chunk: buffered (sealed) unless a duplicate or over the bounds, then
   * acked. A contact's chunk over the bounds stays unacked in the mailbox
   * (it comes back on the next connect, maybe with room then); a stranger's
   * is acked and discarded, so it is not decrypted again and again.
   */
  async onChunk(msg: SealedMessage, c: FileChunk): Promise<void> {
    const peer = msg.from;
    const data = fromB64url(c.data);
    const known = this.#find(peer, c.file_id);
    const stranger = known ? !!known.stranger : await this.#isStranger(peer);
    const refused = await this.#admit(peer, c, data.length, stranger);
    const done = this.#finished.includes(transferKey(peer, c.file_id));
    if (refused && refused !== 'duplicate' && !done) {
      if (stranger) this.ackLater(peer, msg.id);
      return console.debug(`dropped chunk: ${refused}`);
    }
    this.ackLater(peer, msg.id);
    if (refused || done) return;
    await this.#host.files.put(this.#host.key(chunkRecord(peer, c.file_id, c.index)), data);
    const t = this.#find(peer, c.file_id) ?? this.#track(peer, c.file_id, c.count, stranger);
    noteChunk(t, c.index, data.length, this.#chat.now().getTime());
    await this.#save();
    if (t.pointer) await this.#show(t, { done: t.have.length, state: 'receiving', note: undefined });
    if (isComplete(t)) await this.#finish(t);
  }

  /** Whether the user never wrote to `peer` (no conversation, or no outbound message in it). */
  async #isStranger(peer: string): Promise<boolean> {
    if (!this.#chat.conversation(peer)) return true;
    return !(await this.#chat.thread(peer)).some((m) => m.dir === 'out');
  }

  /** admitChunk; when over a bound, once more after dropping expired transfers. Queued. */
  async #admit(peer: string, c: Pick<FileChunk, 'file_id' | 'index' | 'count'>, len: number, stranger: boolean) {
    const refused = admitChunk(this.#xfers, peer, c, len, stranger);
    if (!refused || refused === 'duplicate' || refused === 'count_mismatch') return refused;
    return (await this.#dropOrphans()) ? admitChunk(this.#xfers, peer, c, len, stranger) : refused;
  }

  /** A new transfer in the index (saved by the caller). */
  #track(peer: string, fileId: string, count: number, stranger: boolean): Transfer {
    const now = this.#chat.now().getTime();
    const t: Transfer = { peer, file_id: fileId, count, have: [], bytes: 0, first_at: now, last_at: now, ...(stranger ? { stranger } : {}) };
    this.#xfers.push(t);
    return t;
  }

  /** The pointer's thread message. */
  #message(t: Transfer): ChatMessage | undefined {
    return this.#chat.loadedThread(t.peer)?.find((m) => m.dir === 'in' && m.id === t.pointer?.msg_id);
  }

  async #show(t: Transfer, a: Partial<Attachment>): Promise<void> {
    if (!this.#message(t)) await this.#chat.thread(t.peer);
    const m = this.#message(t);
    if (!m?.attachment) return;
    Object.assign(m.attachment, a);
    await this.#chat.saveThread(t.peer);
  }

  /** Assemble, check, store; then the pointer becomes ackable. A damaged file starts over (ask again). */
  async #finish(t: Transfer): Promise<void> {
    const p = t.pointer!;
    const built = await assembleFrom(p.size, (i) => this.#host.files.get(this.#host.key(chunkRecord(t.peer, t.file_id, i))));
    const ok = built.ok && (await sha256Hex(built.bytes)) === p.sha256;
    if (built.ok && ok) await this.#host.files.put(this.#host.key(fileRecord('in', t.peer, p.msg_id)), built.bytes);
    await this.#dropChunks(t);
    if (ok) {
      this.#xfers = this.#xfers.filter((x) => x !== t);
      this.#finished = [...this.#finished, transferKey(t.peer, t.file_id)].slice(-FINISHED_KEPT);
      await this.#host.kv.set(this.#host.key('xfers_done'), this.#finished);
      await this.#save();
      await this.#show(t, { done: p.chunks, state: 'ready', note: undefined });
      this.#host.scheduleAck(t.peer);
      return;
    }
    Object.assign(t, { have: [], bytes: 0, stalled: true });
    await this.#save();
    await this.#show(t, { done: 0, state: 'failed', note: 'The file arrived damaged.' });
  }

  async #dropChunks(t: Transfer): Promise<void> {
    for (const i of t.have) await this.#host.files.del(this.#host.key(chunkRecord(t.peer, t.file_id, i)));
  }

  async #drop(t: Transfer): Promise<void> {
    await this.#dropChunks(t);
    this.#xfers = this.#xfers.filter((x) => x !== t);
    await this.#save();
  }

  /** Queued: drop transfers past their time (isOrphan); whether any went. */
  async #dropOrphans(): Promise<boolean> {
    const now = this.#chat.now().getTime();
    const gone = this.#xfers.filter((t) => isOrphan(t, now));
    for (const t of gone) {
      await this.#drop(t);
      if (t.pointer) await this.#show(t, { state: 'failed', note: 'This file didn’t arrive within 48 hours.' });
    }
    return gone.length > 0;
  }

  /**
   * The conversation with `peer` was deleted on this device (inside the write
   * queue): its transfers' buffered chunks go now. The files whose pointer
   * was shown count as finished, so chunks still arriving are only acked
   * (the sender stops re-sending) and start no new transfer. A pointerless
   * one (chunks before the pointer) was never shown, so it is not finished:
   * its pointer, when it comes, is a new message like any other.
   */
  async forgetPeer(peer: string): Promise<void> {
    const gone = this.#xfers.filter((t) => t.peer === peer);
    if (!gone.length) return;
    for (const t of gone) await this.#dropChunks(t);
    this.#xfers = this.#xfers.filter((t) => t.peer !== peer);
    const shown = gone.filter((t) => t.pointer);
    this.#finished = [...this.#finished, ...shown.map((t) => transferKey(peer, t.file_id))].slice(-FINISHED_KEPT);
    await this.#host.kv.set(this.#host.key('xfers_done'), this.#finished);
    await this.#save();
  }

  /**
   * The incoming file message `msgId` was deleted for everyone (SPEC §8.5,
   * inside the write queue): its transfer stops, its buffered chunks go, and
   * it counts as finished, so chunks still arriving are only acked and are
   * never assembled into bytes for a deleted message.
   */
  async forgetMessage(peer: string, msgId: string): Promise<void> {
    const t = this.#xfers.find((x) => x.peer === peer && x.pointer?.msg_id === msgId);
    if (!t) return;
    await this.#drop(t);
    this.#finished = [...this.#finished, transferKey(peer, t.file_id)].slice(-FINISHED_KEPT);
    await this.#host.kv.set(this.#host.key('xfers_done'), this.#finished);
  }

  /** Mark transfers that stopped moving as failed, drop pointerless chunks past their time. */
  checkStalls(): Promise<void> {
    return this.#chat.serial(async () => {
      await this.#dropOrphans();
      const now = this.#chat.now().getTime();
      for (const t of [...this.#xfers]) {
        if (!t.stalled && isStalled(t, now, this.#since)) {
          t.stalled = true;
          await this.#save();
          await this.#show(t, { state: 'failed', note: `Stopped at ${t.have.length}/${t.count}.` });
        }
      }
    });
  }

  /**
   * "Ask again" on a failed file: a `need` for the missing chunks (SPEC
   * §13), silent; the transfer counts as moving again.
   */
  async askAgain(peer: string, msgId: string): Promise<void> {
    const t = this.#xfers.find((x) => x.peer === peer && x.pointer?.msg_id === msgId) ?? (await this.#chat.serial(() => this.#retrack(peer, msgId)));
    if (!t) return;
    const missing = missingChunks(t.count, t.have);
    if (!missing.length) return this.#chat.serial(() => this.#finish(t));
    const need = { kind: 'need', id: newMessageId(), sent_at: rfc3339(this.#chat.now()), body: needBody(t.file_id, missing) } as const;
    await this.#chat.post(peer, need, { notify: false });
    await this.#chat.serial(async () => {
      Object.assign(t, { stalled: false, last_at: this.#chat.now().getTime() });
      await this.#save();
      await this.#show(t, { state: 'receiving', note: undefined });
    });
  }

  /** Queued: a transfer again for a pointer refused earlier over the bounds (null if still over them). */
  async #retrack(peer: string, msgId: string): Promise<Transfer | null> {
    const m = (await this.#chat.thread(peer)).find((x) => x.dir === 'in' && x.id === msgId);
    const a = m?.attachment;
    if (!a || a.mode !== 'pointer' || !a.file_id || !a.chunks || a.state !== 'failed') return null;
    let t = this.#find(peer, a.file_id);
    if (t && t.count !== a.chunks) return null;
    const stranger = await this.#isStranger(peer);
    if (!t && (await this.#admit(peer, { file_id: a.file_id, index: 0, count: a.chunks }, 0, stranger))) return null;
    t ??= this.#track(peer, a.file_id, a.chunks, stranger);
    t.pointer = { msg_id: msgId, size: a.size, sha256: a.sha256, chunks: a.chunks };
    await this.#save();
    return t;
  }

  /** Chunk receipts gather for CHUNK_ACK_DELAY_MS, then go out in batches of MAX_ACK_IDS. */
  ackLater(peer: string, id: string): void {
    this.#queueAcks(peer, [id]);
    if (this.#ackTimer || this.#chat.closed) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = null;
      void this.flushAcks();
    }, CHUNK_ACK_DELAY_MS);
  }

  /** Add `ids` to `peer`'s pending receipts, keeping the newest PENDING_ACKS_MAX. */
  #queueAcks(peer: string, ids: readonly string[]): void {
    const have = this.#acks.get(peer) ?? [];
    for (const id of ids) if (!have.includes(id)) have.push(id);
    this.#acks.set(peer, have.slice(-PENDING_ACKS_MAX));
  }

  /**
   * Post the gathered chunk receipts now (also when the connection comes
   * back). A batch that fails goes back in the queue with the rest of its
   * peer's, for the next flush; the sender needs none to finish (the
   * pointer's ack says delivered), so there is no retry timer of its own.
   */
  async flushAcks(): Promise<void> {
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    const all = [...this.#acks.entries()];
    this.#acks.clear();
    for (const [peer, ids] of all) {
      for (let i = 0; i < ids.length; i += MAX_ACK_IDS) {
        const body = ackBody(ids.slice(i, i + MAX_ACK_IDS));
        try {
          await this.#chat.post(peer, { kind: 'ack', id: newMessageId(), sent_at: rfc3339(this.#chat.now()), body }, { notify: false });
        } catch (e) {
          if (e instanceof ChatClosedError) return;
          console.debug('chunk ack:', e);
          this.#queueAcks(peer, ids.slice(i));
          break;
        }
      }
    }
  }
}
