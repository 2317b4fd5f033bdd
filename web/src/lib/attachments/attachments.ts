// Files in conversations (SPEC §13): the one object the ChatStore holds. It
// routes opened `file`/`chunk`/`need` messages to the receiver or sender,
// starts sends, and hands the UI object URLs of stored files.
import type { SealedMessage } from '../envelope';
import type { ChatMessage } from '../records';
import { parseBody, rendersInline } from './body';
import { fileRecord, type AttachmentHost } from './host';
import { Receiver } from './receiver';
import { Sender } from './sender';

export { EmptyFileError, FileTooLargeError } from './sender';

export class Attachments {
  readonly #host: AttachmentHost;
  readonly sender: Sender;
  readonly receiver: Receiver;
  /** Object URLs handed out, by record name, with how many bubbles hold each (revoked at 0 and on close). */
  readonly #urls = new Map<string, { url: Promise<string | null>; refs: number }>();

  constructor(host: AttachmentHost) {
    this.#host = host;
    this.sender = new Sender(host);
    this.receiver = new Receiver(host);
  }

  load(stallCheck = true): Promise<void> {
    return this.receiver.load(stallCheck);
  }

  /** After load: outbound files still being posted carry on (in the background). */
  resume(): Promise<void> {
    return this.sender.resume();
  }

  close(): void {
    this.receiver.close();
    for (const e of this.#urls.values()) void e.url.then((u) => u && URL.revokeObjectURL(u));
    this.#urls.clear();
  }

  /** An opened message of kind file/chunk/need (inside the write queue). Bodies were validated by the opener. */
  async apply(msg: SealedMessage): Promise<void> {
    if (msg.kind === 'file') {
      const f = parseBody('file', msg.body);
      if (f) await this.receiver.onFile(msg, f);
    } else if (msg.kind === 'chunk') {
      const c = parseBody('chunk', msg.body);
      if (c) await this.receiver.onChunk(msg, c);
    } else if (msg.kind === 'need') {
      const n = parseBody('need', msg.body);
      // Acked like chunks (SPEC §13 receipts).
      if (n) this.receiver.ackLater(msg.from, msg.id);
      // Only the conversation's peer can ask for what we sent them.
      if (n && this.#host.chat.conversation(msg.from)) {
        await this.#host.chat.thread(msg.from);
        await this.sender.answerNeed(msg.from, n);
      }
    }
  }

  /**
   * Send a file with local echo and progress; throws FileTooLargeError
   * (over 10 MiB) or EmptyFileError before anything is stored or sent.
   * Resolves after the local echo; the file goes out in the background
   * (idle() waits for it).
   */
  send(peer: string, name: string, mime: string, bytes: Uint8Array): Promise<void> {
    return this.sender.send(peer, name, mime, bytes);
  }

  /** Resolves once the files queued for `peer` are posted, failed or stopped. */
  idle(peer: string): Promise<void> {
    return this.sender.idle(peer);
  }

  /** Mark incoming files that stopped moving as failed ("ask again"); also runs every 15 s. */
  checkStalls(): Promise<void> {
    return this.receiver.checkStalls();
  }

  retry(peer: string, id: string): Promise<void> {
    return this.sender.retry(peer, id);
  }

  /** "Ask again" on an incoming file that stalled or arrived damaged. */
  askAgain(peer: string, id: string): Promise<void> {
    return this.receiver.askAgain(peer, id);
  }

  /** Store an outgoing file's bytes that came by a self-copy (SPEC §8.3), as the sending device keeps them. */
  async putOut(peer: string, id: string, bytes: Uint8Array): Promise<void> {
    await this.#host.files.put(this.#host.key(fileRecord('out', peer, id)), bytes);
  }

  /** Delete a file's stored bytes (a message deleted for everyone, SPEC §8.5), and stop its transfer if it is still arriving; any URL handed out is revoked. */
  async wipe(peer: string, dir: 'in' | 'out', id: string): Promise<void> {
    if (dir === 'in') await this.receiver.forgetMessage(peer, id);
    const name = fileRecord(dir, peer, id);
    const e = this.#urls.get(name);
    this.#urls.delete(name);
    if (e) void e.url.then((u) => u && URL.revokeObjectURL(u));
    await this.#host.files.del(this.#host.key(name));
  }

  /** A deleted conversation (inside the write queue): the stored bytes of these messages' files, and the peer's incoming transfers. */
  async forget(peer: string, messages: readonly ChatMessage[]): Promise<void> {
    await this.receiver.forgetPeer(peer);
    for (const m of messages) {
      this.release(peer, m);
      await this.#host.files.del(this.#host.key(fileRecord(m.dir, peer, m.id)));
    }
  }

  /** The stored file's bytes (null while it is not complete). */
  async bytes(peer: string, m: ChatMessage): Promise<Uint8Array | null> {
    return (await this.#host.files.get(this.#host.key(fileRecord(m.dir, peer, m.id)))) ?? null;
  }

  /**
   * An object URL for a stored file: typed as the image for the four inline
   * image types, else application/octet-stream (so an HTML or SVG file is
   * never rendered by the browser, only downloaded). Null when not stored.
   * Every non-null answer is held until release(): bubbles on screen share
   * one URL, and the decrypted copy goes once the last one unmounts.
   */
  async url(peer: string, m: ChatMessage): Promise<string | null> {
    const name = fileRecord(m.dir, peer, m.id);
    let e = this.#urls.get(name);
    if (!e) {
      e = { url: this.#makeUrl(peer, m), refs: 0 };
      this.#urls.set(name, e);
    }
    e.refs++;
    const u = await e.url;
    if (!u) this.release(peer, m);
    return u;
  }

  /** A bubble no longer shows the file: its URL is revoked when nothing else holds it. */
  release(peer: string, m: ChatMessage): void {
    const name = fileRecord(m.dir, peer, m.id);
    const e = this.#urls.get(name);
    if (!e || --e.refs > 0) return;
    this.#urls.delete(name);
    void e.url.then((u) => u && URL.revokeObjectURL(u));
  }

  async #makeUrl(peer: string, m: ChatMessage): Promise<string | null> {
    const bytes = await this.bytes(peer, m);
    if (!bytes || !m.attachment) return null;
    const type = rendersInline(m.attachment.mime) ? m.attachment.mime : 'application/octet-stream';
    return URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  }
}
