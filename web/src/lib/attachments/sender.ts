// Sending files (SPEC §13): local echo, the file sealed at rest, then the
// inline message or the pointer followed by its chunks (`notify: false`),
// paced (pacer.ts), one file after another per conversation. A failed post
// waits and retries as the pacer decides; after too many it stops with the
// Retry button, which continues where it stopped. A `need` from the peer
// re-sends the chunks it names.
import { newMessageId } from '../bytes';
import { ChatClosedError, PostCancelledError, type ChatMessage, type Outgoing } from '../records';
import { KeyedChain } from '../receipts';
import { stripSpoofChars } from '../spoof';
import { rfc3339 } from '../time';
import { chunkBody, chunkCount, inlineBody, isValidMime, MAX_FILE, MAX_INLINE, needBody, pointerBody, sha256Hex, type FileNeed } from './body';
import { fileRecord, sleep, type AttachmentHost } from './host';
import { filePreview, type Attachment } from './meta';
import { afterFailure, bucketsFor, takeAll, type TokenBucket } from './pacer';

export { needBody };

/** `need` requests answered per file at most. */
export const MAX_RESENDS = 5;

/** Thrown by send() before anything is stored or sent: the file is over MAX_FILE. */
export class FileTooLargeError extends Error {
  /** `cleaned`: the size is the one after removing the location data (prepare.ts), not the picked file's. */
  constructor(size: number, cleaned = false) {
    const after = cleaned ? ' after removing location data' : '';
    super(`That file is ${(size / 1_048_576).toFixed(1)} MB${after}. Files up to 10 MB can be sent; try a smaller one.`);
    this.name = 'FileTooLargeError';
  }
}

/** Thrown by send() for an empty file. */
export class EmptyFileError extends Error {
  constructor() {
    super('That file is empty.');
    this.name = 'EmptyFileError';
  }
}

/** A name SPEC §13 accepts: path and control characters replaced, bidi/invisible ones dropped, cut to 255 UTF-8 bytes. */
export function safeName(name: string): string {
  // eslint-disable-next-line no-control-regex
  let n = stripSpoofChars(name.replace(/[/\\\u0000-\u001f\u007f-\u009f]/g, '_').replace(/\p{Surrogate}/gu, '_')).trim();
  if (!n || n === '.' || n === '..') n = 'file';
  while (new TextEncoder().encode(n).length > 255) n = [...n].slice(0, -1).join('');
  return n;
}

/** The MIME type to announce: the browser's, if SPEC §13 allows it, else application/octet-stream. */
export function safeMime(mime: string): string {
  const m = mime.toLowerCase().split(';')[0].trim();
  return isValidMime(m) ? m : 'application/octet-stream';
}

/** Stop a transmit run (the message shows failed; Retry resumes). */
class Stop extends Error {}

export class Sender {
  readonly #host: AttachmentHost;
  readonly #chain = new KeyedChain();
  #buckets: TokenBucket[] = [];
  #bucketsFor = '';

  constructor(host: AttachmentHost) {
    this.#host = host;
  }

  get #chat() {
    return this.#host.chat;
  }

  /**
   * Local echo (the file sealed at rest, the message `sending`); resolves
   * then, and the file goes out in the background, after the files sent to
   * `peer` before it (idle() waits for that). Throws FileTooLargeError /
   * EmptyFileError before anything happens.
   */
  async send(peer: string, name: string, mime: string, bytes: Uint8Array): Promise<void> {
    if (bytes.length > MAX_FILE) throw new FileTooLargeError(bytes.length);
    if (bytes.length === 0) throw new EmptyFileError();
    if (this.#chat.closed) throw new ChatClosedError();
    const sha256 = await sha256Hex(bytes);
    const id = newMessageId();
    const inline = bytes.length <= MAX_INLINE;
    const a: Attachment = {
      name: safeName(name),
      mime: safeMime(mime),
      size: bytes.length,
      sha256,
      mode: inline ? 'inline' : 'pointer',
      done: 0,
      state: 'sending',
      ...(inline ? {} : { file_id: newMessageId(), chunks: chunkCount(bytes.length) }),
    };
    await this.#host.files.put(this.#host.key(fileRecord('out', peer, id)), bytes);
    const msg: ChatMessage = { id, dir: 'out', body: a.name, sent_at: rfc3339(this.#chat.now()), status: 'sending', attachment: a };
    await this.#chat.serial(async () => {
      const thread = await this.#chat.thread(peer);
      thread.push(msg);
      const c = this.#chat.ensureConversation(peer);
      c.last_at = msg.sent_at;
      c.last_preview = filePreview(a.name);
      c.unsent = true;
      c.wrote = true; // a file sent makes a contact (SPEC §14.3), as a text does
      await this.#chat.saveConvs();
      await this.#chat.saveThread(peer);
    });
    void this.#run(peer, id);
  }

  /** Resolves once everything queued for `peer` so far is posted, failed or stopped. */
  idle(peer: string): Promise<void> {
    return this.#chain.run(peer, async () => undefined);
  }

  /** After load: go on with every outbound file not fully posted (`sending`/`waiting`), in thread order. */
  async resume(): Promise<void> {
    try {
      const todo: [string, string][] = await this.#chat.serial(async () => {
        const out: [string, string][] = [];
        for (const c of this.#chat.conversations()) {
          if (c.unsent === false) continue;
          for (const m of await this.#chat.thread(c.peer_primary)) {
            if (m.dir === 'out' && m.status === 'sending' && m.attachment) out.push([c.peer_primary, m.id]);
          }
        }
        return out;
      });
      for (const [peer, id] of todo) void this.#run(peer, id);
    } catch (e) {
      if (!(e instanceof ChatClosedError)) console.debug('attachments resume:', e);
    }
  }

  /** The Retry button on a failed file: continue where it stopped. */
  retry(peer: string, id: string): Promise<void> {
    return this.#run(peer, id);
  }

  /**
   * A peer's `need` (inside the write queue): re-send the chunks it names, if
   * we sent them that file and still have it. The count of answers is saved
   * before anything is posted, so MAX_RESENDS holds across reloads.
   */
  async answerNeed(peer: string, need: FileNeed): Promise<void> {
    const m = this.#chat.loadedThread(peer)?.find((x) => x.dir === 'out' && x.attachment?.file_id === need.file_id);
    const a = m?.attachment;
    if (!m || !a || !a.chunks || (a.resent ?? 0) >= MAX_RESENDS) return;
    a.resent = (a.resent ?? 0) + 1;
    await this.#chat.saveThread(peer);
    const missing = need.missing.filter((i) => i < a.chunks!);
    void this.#chain.run(peer, async () => {
      try {
        const bytes = await this.#host.files.get(this.#host.key(fileRecord('out', peer, m.id)));
        if (!bytes) return;
        for (const i of missing) await this.#postChunk(peer, m, bytes, i);
      } catch (e) {
        if (e instanceof ChatClosedError) return;
        if (!(e instanceof Stop)) console.debug('resend chunks:', e);
      }
      // The file itself was sent before: whatever the re-send met, it stays sent (or delivered).
      await this.#update(peer, m, { state: 'ready', note: undefined }, { status: 'sent', error: undefined, retryable: undefined }).catch(() => undefined);
    });
  }

  /** One file at a time per peer, in order. Never rejects. */
  #run(peer: string, id: string): Promise<void> {
    return this.#chain.run(peer, async () => {
      try {
        await this.#transmit(peer, id);
      } catch (e) {
        if (!(e instanceof ChatClosedError) && !(e instanceof Stop)) console.debug('file send:', e);
      }
    });
  }

  #find(peer: string, id: string): ChatMessage | undefined {
    return this.#chat.loadedThread(peer)?.find((m) => m.id === id && m.dir === 'out');
  }

  async #transmit(peer: string, id: string): Promise<void> {
    const m = this.#find(peer, id);
    const a = m?.attachment;
    if (!m || !a || m.status === 'delivered' || m.status === 'sent' || this.#chat.closed) return;
    const bytes = await this.#host.files.get(this.#host.key(fileRecord('out', peer, id)));
    if (!bytes) return this.#update(peer, m, { state: 'failed' }, { status: 'failed', error: 'The file is no longer on this device.', retryable: false });
    await this.#update(peer, m, { state: 'sending', note: undefined }, { status: 'sending', error: undefined, retryable: undefined });
    const base = { id, sent_at: m.sent_at } as const;
    if (a.mode === 'inline') {
      await this.#post(peer, m, { ...base, kind: 'file', body: inlineBody(a.name, a.mime, bytes, a.sha256) });
      await this.#update(peer, m, { done: 1 }, {});
    } else {
      if (!a.posted) {
        await this.#post(peer, m, { ...base, kind: 'file', body: pointerBody(a.file_id!, a.name, a.mime, a.size, a.sha256) });
        await this.#update(peer, m, { posted: true }, {});
      }
      for (let i = a.done; i < a.chunks!; i++) {
        await this.#postChunk(peer, m, bytes, i);
        await this.#update(peer, m, { done: i + 1, state: 'sending', note: undefined }, {});
      }
    }
    // Delivered (the ack of an assembled file) may have raced ahead of the last post's answer: #update keeps it.
    await this.#update(peer, m, { state: 'ready', note: undefined }, { status: 'sent' });
  }

  /** Chunk `i` of `bytes`, paced, under a fresh id, never pushing (SPEC §13). */
  async #postChunk(peer: string, m: ChatMessage, bytes: Uint8Array, i: number): Promise<void> {
    const wait = takeAll(this.#bucketsNow());
    if (wait > 0) await sleep(wait);
    const out: Outgoing = { kind: 'chunk', id: newMessageId(), sent_at: rfc3339(this.#chat.now()), body: chunkBody(m.attachment!.file_id!, bytes, i) };
    this.#host.sentChunk?.(out.id);
    await this.#post(peer, m, out, { notify: false });
  }

  /** The pacing buckets for the current transport (new ones when it changed). */
  #bucketsNow(): TokenBucket[] {
    const t = this.#host.transport();
    if (t !== this.#bucketsFor) {
      this.#buckets = bucketsFor(t);
      this.#bucketsFor = t;
    }
    return this.#buckets;
  }

  /** Post `out`, waiting and retrying as afterFailure decides (state `waiting` meanwhile); throws Stop when it gives up or the message is gone. */
  async #post(peer: string, m: ChatMessage, out: Outgoing, opts?: { notify?: boolean }): Promise<void> {
    // The message left the thread (its conversation was deleted on this device): the rest of the file stays here.
    const gone = () => !this.#find(peer, m.id);
    for (let attempt = 1; ; attempt++) {
      if (this.#chat.closed) throw new ChatClosedError();
      if (gone()) throw new Stop();
      try {
        await this.#chat.post(peer, out, { ...opts, cancelled: gone });
        if (m.attachment?.state === 'waiting') await this.#update(peer, m, { state: 'sending', note: undefined }, {});
        return;
      } catch (e) {
        if (e instanceof ChatClosedError) throw e;
        if (e instanceof PostCancelledError) throw new Stop();
        const d = afterFailure(e, attempt);
        if (!d.retry) {
          await this.#update(peer, m, { state: 'failed', note: undefined }, { status: 'failed', error: d.error, retryable: false });
          throw new Stop();
        }
        await this.#update(peer, m, { state: 'waiting', note: d.waiting }, {});
        await sleep(d.ms);
      }
    }
  }

  /** Queued: change the message's attachment and fields, save the thread (and the conversation's unsent flag). */
  #update(peer: string, m: ChatMessage, a: Partial<Attachment>, fields: Partial<ChatMessage>): Promise<void> {
    return this.#chat.serial(async () => {
      const cur = this.#find(peer, m.id);
      if (!cur?.attachment) return;
      Object.assign(cur.attachment, a);
      if (cur.status === 'delivered' && fields.status) delete fields.status;
      Object.assign(cur, fields);
      await this.#chat.saveThread(peer);
    });
  }
}
