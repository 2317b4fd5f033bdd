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
  /** Object URLs handed out, by record name (revoked on close). */
  readonly #urls = new Map<string, string>();

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
    for (const u of this.#urls.values()) URL.revokeObjectURL(u);
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

  /** The stored file's bytes (null while it is not complete). */
  async bytes(peer: string, m: ChatMessage): Promise<Uint8Array | null> {
    return (await this.#host.files.get(this.#host.key(fileRecord(m.dir, peer, m.id)))) ?? null;
  }

  /**
   * An object URL for a stored file: typed as the image for the four inline
   * image types, else application/octet-stream (so an HTML or SVG file is
   * never rendered by the browser, only downloaded). Null when not stored.
   */
  async url(peer: string, m: ChatMessage): Promise<string | null> {
    const name = fileRecord(m.dir, peer, m.id);
    const have = this.#urls.get(name);
    if (have) return have;
    const bytes = await this.bytes(peer, m);
    if (!bytes || !m.attachment) return null;
    const type = rendersInline(m.attachment.mime) ? m.attachment.mime : 'application/octet-stream';
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
    this.#urls.set(name, url);
    return url;
  }
}
