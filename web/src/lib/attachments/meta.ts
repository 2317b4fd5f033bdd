// What a thread message says about its file (ChatMessage.attachment), and the
// sentences the bubble shows for it.

/**
 * Outbound: `sending` (posting, `done` of `chunks`), `waiting` (a 429/507 or
 * no connection: paused, `note` says why), `ready` (every part posted; the
 * message status then says sent/delivered). Inbound: `receiving` (`done` of
 * `chunks` buffered), `ready` (assembled, SHA-256 checked, stored), `failed`
 * (stalled or damaged: "ask again").
 */
export type AttachmentState = 'sending' | 'waiting' | 'ready' | 'receiving' | 'failed';

export interface Attachment {
  name: string;
  mime: string;
  /** Raw bytes. */
  size: number;
  /** Lowercase hex SHA-256 of the whole file. */
  sha256: string;
  mode: 'inline' | 'pointer';
  /** Pointer mode: the file id (SPEC §13) and its chunk count. */
  file_id?: string;
  chunks?: number;
  /** Chunks posted (outbound) or buffered (inbound). */
  done: number;
  /** Outbound pointer mode: the pointer itself has been posted. */
  posted?: boolean;
  state: AttachmentState;
  /** Why it waits or failed, as a sentence. */
  note?: string;
  /** Outbound: `need` requests answered so far (bounded). */
  resent?: number;
}

/** `1.2 MB`, `80 KB`, `512 bytes` (decimal units, like file managers). */
export function formatSize(n: number): string {
  if (n < 1000) return `${n} bytes`;
  if (n < 1_000_000) return `${Math.round(n / 1000)} KB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}

/**
 * The progress line under a file bubble, or null when there is none to show.
 * `offline`: neither the server stream nor any relay is connected, so a
 * moving file says it is paused rather than counting on as if it moved.
 */
export function progressText(a: Attachment, dir: 'in' | 'out', offline = false): string | null {
  const of = `${a.done}/${a.chunks ?? 1}`;
  if (offline && (a.state === 'waiting' || a.state === 'sending' || a.state === 'receiving')) return `Paused – offline (${of})`;
  if (a.state === 'waiting') return `${a.note ?? 'Waiting…'} (${of} sent)`;
  if (a.state === 'sending') return a.mode === 'inline' ? 'Sending…' : `Sending ${of}…`;
  if (a.state === 'receiving') return `Receiving ${of}…`;
  if (a.state === 'failed' && dir === 'in') return a.note ?? 'This file didn’t arrive completely.';
  return null;
}

/** The conversation list's preview for a file. */
export function filePreview(name: string): string {
  return `📎 ${name}`;
}
