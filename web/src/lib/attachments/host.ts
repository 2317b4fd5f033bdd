// What the attachment sender and receiver need from the ChatStore, and the
// names of their records (all under the store's per-identity prefix).
import type { SealedMessage } from '../envelope';
import type { KV } from '../kv';
import type { ChatAccess } from '../records';
import type { SealedFiles } from './filestore';
import type { Attachment } from './meta';

export interface AttachmentHost {
  chat: ChatAccess;
  /** The chat's sealed JSON records (buffer index, outgoing queue). */
  kv: KV;
  /** Sealed binary records: files and buffered chunks. */
  files: SealedFiles;
  /** `chat:<own primary>:<part>`. */
  key(part: string): string;
  transport(): 'server' | 'nostr' | 'both';
  /**
   * Put an inbound file message into its thread and conversation (as texts
   * are); false when the thread already had it. Runs inside the write queue.
   */
  receive(msg: SealedMessage, shown: { body: string; attachment: Attachment }): Promise<boolean>;
  /** Batch a delivery receipt for what is ackable in the peer's thread (SPEC §8.1). */
  scheduleAck(peer: string): void;
  /** A chunk of ours went under `id`: its ack is never taken for an early ack (history/earlyacks.ts). */
  sentChunk?(id: string): void;
}

/** A file's bytes: `in`bound ones under the sender's message id, `out`bound under ours. */
export const fileRecord = (dir: 'in' | 'out', peer: string, id: string) => `file:${dir}:${peer}:${id}`;
/** One buffered chunk. */
export const chunkRecord = (peer: string, fileId: string, index: number) => `chunk:${peer}:${fileId}:${index}`;

/** Resolves after `ms` (setTimeout; bounded by the caller's decisions). */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
