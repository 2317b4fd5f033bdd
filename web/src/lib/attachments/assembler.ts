// The receiving side's decisions (SPEC §13 client behaviour), as pure
// functions over the buffer index: which chunks a transfer may take (bounds
// per peer and in total), what is missing, when a transfer has stalled, and
// putting a complete file together.
import { CHUNK_SIZE, chunkCount, MAX_CHUNKS, type FileChunk, type PointerFile } from './body';

/** Raw chunk bytes buffered from one peer at most (two 10 MiB files and change). */
export const PEER_BUFFER_BYTES = 24 * 1024 * 1024;
/** Raw chunk bytes buffered from everyone together. */
export const TOTAL_BUFFER_BYTES = 64 * 1024 * 1024;
/** Incomplete transfers from one peer at once. */
export const PEER_TRANSFERS = 4;
/** Incomplete transfers at once, all peers together. */
export const TOTAL_TRANSFERS = 16;
/**
 * Incomplete transfers from strangers (peers the user never wrote to), all
 * together: the rest stay free for contacts, so throwaway identities sending
 * chunks cannot block every incoming file (review r12 #5).
 */
export const STRANGER_TRANSFERS = 4;
/** Raw chunk bytes buffered from strangers, all together. */
export const STRANGER_BUFFER_BYTES = 24 * 1024 * 1024;
/**
 * Chunks whose pointer has not come within this of the first one are
 * dropped: senders post the pointer first, so only a sender that never means
 * to send one (or a very unlucky reordering) waits this long.
 */
export const POINTERLESS_MS = 10 * 60_000;
/** A transfer whose pointer arrived and that got no chunk for this long shows as failed ("ask again"). */
export const STALL_MS = 90_000;
/** Incomplete transfers are forgotten after this without progress (the server keeps messages 48 h, §7.5). */
export const ORPHAN_MS = 48 * 3600_000;

/** What the pointer told us (kept in the buffer index once it arrived). */
export interface PointerInfo {
  /** The pointer message's id: its thread entry, and what the ack names. */
  msg_id: string;
  size: number;
  sha256: string;
  chunks: number;
}

/** One incoming file in the buffer index (sealed like the history). */
export interface Transfer {
  peer: string;
  file_id: string;
  /** Chunk count the chunks (or the pointer) announced. */
  count: number;
  /** Indices buffered, ascending. */
  have: number[];
  /** Raw bytes buffered. */
  bytes: number;
  /** Unix ms: first chunk or pointer, and the latest progress. */
  first_at: number;
  last_at: number;
  pointer?: PointerInfo;
  /** Set once the user was shown "failed" for this transfer (stall). */
  stalled?: boolean;
  /** From a peer the user had not written to when it started: counts against the strangers' share. */
  stranger?: boolean;
}

export const transferKey = (peer: string, fileId: string) => `${peer}|${fileId}`;

/** Why a chunk was not buffered. */
export type Refusal =
  | 'duplicate'
  | 'count_mismatch'
  | 'peer_bytes'
  | 'total_bytes'
  | 'peer_transfers'
  | 'total_transfers'
  | 'stranger_transfers'
  | 'stranger_bytes';

/**
 * Whether `chunk` (raw length `len`) from `peer` may go into the buffer,
 * given every transfer buffered now. Duplicates (the same chunk by both
 * transports, or re-sent) and chunks disagreeing with the announced count are
 * refused, as is anything over the bounds above; a `stranger`'s chunk also
 * over the strangers' share.
 */
export function admitChunk(
  transfers: readonly Transfer[],
  peer: string,
  chunk: Pick<FileChunk, 'file_id' | 'index' | 'count'>,
  len: number,
  stranger = false,
): Refusal | null {
  const t = transfers.find((x) => x.peer === peer && x.file_id === chunk.file_id);
  const strangers = transfers.filter((x) => x.stranger);
  if (t) {
    if (t.count !== chunk.count) return 'count_mismatch';
    if (t.have.includes(chunk.index)) return 'duplicate';
  } else {
    if (transfers.filter((x) => x.peer === peer).length >= PEER_TRANSFERS) return 'peer_transfers';
    if (transfers.length >= TOTAL_TRANSFERS) return 'total_transfers';
    if (stranger && strangers.length >= STRANGER_TRANSFERS) return 'stranger_transfers';
  }
  const sum = (xs: readonly Transfer[]) => xs.reduce((n, x) => n + x.bytes, 0);
  if (sum(transfers.filter((x) => x.peer === peer)) + len > PEER_BUFFER_BYTES) return 'peer_bytes';
  if (sum(transfers) + len > TOTAL_BUFFER_BYTES) return 'total_bytes';
  if ((t ? t.stranger : stranger) && sum(strangers) + len > STRANGER_BUFFER_BYTES) return 'stranger_bytes';
  return null;
}

/** Record a buffered chunk in `t` (in place). */
export function noteChunk(t: Transfer, index: number, len: number, now: number): void {
  if (t.have.includes(index)) return;
  t.have.push(index);
  t.have.sort((a, b) => a - b);
  t.bytes += len;
  t.last_at = now;
  t.stalled = false;
}

/** Indices of `count` not in `have`, ascending. */
export function missingChunks(count: number, have: readonly number[]): number[] {
  const got = new Set(have);
  const out: number[] = [];
  for (let i = 0; i < Math.min(count, MAX_CHUNKS); i++) if (!got.has(i)) out.push(i);
  return out;
}

/** Whether every chunk the pointer announced is buffered. */
export function isComplete(t: Transfer): boolean {
  return !!t.pointer && t.count === t.pointer.chunks && t.have.length === t.count;
}

/** Whether a pointer agrees with what the chunks announced (else the chunks are dropped). */
export function pointerMatches(t: Transfer, p: Pick<PointerFile, 'chunks' | 'size'>): boolean {
  return t.count === p.chunks && p.chunks === chunkCount(p.size);
}

/** Whether a transfer with a pointer has waited too long for its next chunk. */
export function isStalled(t: Transfer, now: number, since: number): boolean {
  return !!t.pointer && !isComplete(t) && now - Math.max(t.last_at, since) > STALL_MS;
}

/**
 * A transfer to drop: chunks whose pointer did not come within
 * POINTERLESS_MS of the first (more chunks do not extend that), or an
 * incomplete transfer that got nothing for ORPHAN_MS (whatever is missing
 * has expired everywhere).
 */
export function isOrphan(t: Transfer, now: number): boolean {
  if (!t.pointer && now - t.first_at > POINTERLESS_MS) return true;
  return now - Math.max(t.first_at, t.last_at) > ORPHAN_MS;
}

export type Assembly = { ok: true; bytes: Uint8Array } | { ok: false; reason: 'missing' | 'wrong_size' };

/**
 * The file from its chunks in index order: every chunk present, all but the
 * last exactly CHUNK_SIZE bytes, and the total `size`. The SHA-256 check
 * against the pointer is the caller's (async WebCrypto).
 */
export function assemble(size: number, chunks: readonly (Uint8Array | undefined)[]): Assembly {
  const count = chunkCount(size);
  if (chunks.length !== count) return { ok: false, reason: 'missing' };
  const out = new Uint8Array(size);
  let at = 0;
  for (const [i, c] of chunks.entries()) {
    const r = place(out, at, i, count, c);
    if (typeof r !== 'number') return { ok: false, reason: r };
    at = r;
  }
  return at === size ? { ok: true, bytes: out } : { ok: false, reason: 'wrong_size' };
}

/**
 * As assemble, reading chunk i with `get(i)` one at a time into one buffer
 * of `size` bytes, so a 10 MiB file never has its chunks and the whole file
 * in memory at once.
 */
export async function assembleFrom(size: number, get: (i: number) => Promise<Uint8Array | undefined>): Promise<Assembly> {
  const count = chunkCount(size);
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const r = place(out, at, i, count, await get(i));
    if (typeof r !== 'number') return { ok: false, reason: r };
    at = r;
  }
  return at === size ? { ok: true, bytes: out } : { ok: false, reason: 'wrong_size' };
}

/** Copy chunk `i` of `count` into `out` at `at`: the offset after it, or why not. */
function place(out: Uint8Array, at: number, i: number, count: number, c: Uint8Array | undefined): number | 'missing' | 'wrong_size' {
  if (!c) return 'missing';
  if ((i < count - 1 && c.length !== CHUNK_SIZE) || at + c.length > out.length) return 'wrong_size';
  out.set(c, at);
  return at + c.length;
}
