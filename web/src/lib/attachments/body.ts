// Attachment bodies (SPEC §13): the `body` string of a §8 sealed message of
// kind `file`, `chunk` or `need` is the JCS (§2) of exactly one of these
// objects. Building, parsing and validating them; a body that is not exactly
// one of these shapes makes the message `malformed_message`.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, fromB64url, toB64url, utf8ToBytes } from '../bytes';
import { jcs } from '../jcs';
import { hasSpoofChar } from '../spoof';

/** Raw bytes per chunk, and the largest inline file (SPEC §13). */
export const CHUNK_SIZE = 81_920;
/** Largest inline file: one chunk's worth. */
export const MAX_INLINE = CHUNK_SIZE;
/** Largest file at all: 10 MiB. */
export const MAX_FILE = 10 * 1024 * 1024;
/** Most chunks one file has: ceil(MAX_FILE / CHUNK_SIZE). */
export const MAX_CHUNKS = 128;

export interface InlineFile {
  type: 'kez-file-v1';
  mode: 'inline';
  name: string;
  mime: string;
  size: number;
  sha256: string;
  data: string;
}

export interface PointerFile {
  type: 'kez-file-v1';
  mode: 'pointer';
  file_id: string;
  name: string;
  mime: string;
  size: number;
  sha256: string;
  chunks: number;
  chunk_size: number;
}

export interface FileChunk {
  type: 'kez-file-chunk-v1';
  file_id: string;
  index: number;
  count: number;
  data: string;
}

export interface FileNeed {
  type: 'kez-file-need-v1';
  file_id: string;
  missing: number[];
}

export type FileBody = InlineFile | PointerFile;
export type AttachmentKind = 'file' | 'chunk' | 'need';

/** Lowercase `type/subtype` of RFC 6838 restricted-name characters, ≤ 127 bytes. */
const MIME_RE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;
// eslint-disable-next-line no-control-regex
const NAME_BAD_RE = /[/\\\u0000-\u001f\u007f-\u009f]|\p{Surrogate}/u;
const HEX64_RE = /^[0-9a-f]{64}$/;

/** Chunks of a file of `size` bytes: ceil(size / CHUNK_SIZE). */
export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_SIZE);
}

/** A file name SPEC §13 allows: 1..=255 UTF-8 bytes, no `/`, `\`, control, bidi or invisible characters, not `.`/`..`. */
export function isValidName(name: unknown): name is string {
  if (typeof name !== 'string' || name === '.' || name === '..' || NAME_BAD_RE.test(name) || hasSpoofChar(name)) return false;
  const n = utf8ToBytes(name).length;
  return n >= 1 && n <= 255;
}

export function isValidMime(mime: unknown): mime is string {
  return typeof mime === 'string' && mime.length <= 127 && MIME_RE.test(mime);
}

/** A 22-char unpadded b64url of 16 bytes. */
export function isFileId(id: unknown): id is string {
  if (typeof id !== 'string' || id.length !== 22) return false;
  try {
    return fromB64url(id).length === 16;
  } catch {
    return false;
  }
}

/** Decoded `data`, or null unless canonical unpadded b64url. */
function decodeData(data: unknown): Uint8Array | null {
  if (typeof data !== 'string') return null;
  try {
    return fromB64url(data);
  } catch {
    return null;
  }
}

const isInt = (v: unknown, lo: number, hi: number): v is number => Number.isSafeInteger(v) && (v as number) >= lo && (v as number) <= hi;

function hasExactly(o: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(o, k));
}

const INLINE_KEYS = ['type', 'mode', 'name', 'mime', 'size', 'sha256', 'data'];
const POINTER_KEYS = ['type', 'mode', 'file_id', 'name', 'mime', 'size', 'sha256', 'chunks', 'chunk_size'];
const CHUNK_KEYS = ['type', 'file_id', 'index', 'count', 'data'];
const NEED_KEYS = ['type', 'file_id', 'missing'];

function validFile(o: Record<string, unknown>): o is Record<string, unknown> & FileBody {
  if (o.type !== 'kez-file-v1' || !isValidName(o.name) || !isValidMime(o.mime)) return false;
  if (typeof o.sha256 !== 'string' || !HEX64_RE.test(o.sha256)) return false;
  if (o.mode === 'inline') {
    if (!hasExactly(o, INLINE_KEYS) || !isInt(o.size, 0, MAX_INLINE)) return false;
    const data = decodeData(o.data);
    // SPEC §13: an inline file whose hash does not match is malformed (≤ 80 KiB: cheap to check here).
    return data?.length === o.size && bytesToHex(sha256(data)) === o.sha256;
  }
  if (o.mode !== 'pointer' || !hasExactly(o, POINTER_KEYS) || !isFileId(o.file_id)) return false;
  if (!isInt(o.size, MAX_INLINE + 1, MAX_FILE)) return false;
  return o.chunk_size === CHUNK_SIZE && o.chunks === chunkCount(o.size);
}

function validChunk(o: Record<string, unknown>): o is Record<string, unknown> & FileChunk {
  if (o.type !== 'kez-file-chunk-v1' || !hasExactly(o, CHUNK_KEYS) || !isFileId(o.file_id)) return false;
  if (!isInt(o.count, 2, MAX_CHUNKS) || !isInt(o.index, 0, o.count - 1)) return false;
  const n = decodeData(o.data)?.length;
  if (n === undefined) return false;
  return o.index < o.count - 1 ? n === CHUNK_SIZE : n >= 1 && n <= CHUNK_SIZE;
}

function validNeed(o: Record<string, unknown>): o is Record<string, unknown> & FileNeed {
  if (o.type !== 'kez-file-need-v1' || !hasExactly(o, NEED_KEYS) || !isFileId(o.file_id)) return false;
  const m = o.missing;
  if (!Array.isArray(m) || m.length < 1 || m.length > MAX_CHUNKS) return false;
  return m.every((x, i) => isInt(x, 0, MAX_CHUNKS - 1) && (i === 0 || x > m[i - 1]));
}

const VALIDATORS: Record<AttachmentKind, (o: Record<string, unknown>) => boolean> = {
  file: validFile,
  chunk: validChunk,
  need: validNeed,
};

export function parseBody(kind: 'file', body: string): FileBody | null;
export function parseBody(kind: 'chunk', body: string): FileChunk | null;
export function parseBody(kind: 'need', body: string): FileNeed | null;
export function parseBody(kind: AttachmentKind, body: string): FileBody | FileChunk | FileNeed | null;
/**
 * The object a `kind` message's body holds, or null unless the body is
 * exactly the JCS of a valid object of that kind (SPEC §13).
 */
export function parseBody(kind: AttachmentKind, body: string): FileBody | FileChunk | FileNeed | null {
  let o: unknown;
  try {
    o = JSON.parse(body);
    if (jcs(o) !== body) return null;
  } catch {
    return null;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return null;
  return VALIDATORS[kind](o as Record<string, unknown>) ? (o as FileBody | FileChunk | FileNeed) : null;
}

/** Whether `body` is a valid body for a message of `kind` (SPEC §8's malformed_message check). */
export function isValidBody(kind: AttachmentKind, body: string): boolean {
  return parseBody(kind, body) !== null;
}

/** Lowercase hex SHA-256 of `bytes` (WebCrypto: fast on 10 MiB). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

/** The body of an inline file (≤ MAX_INLINE bytes). */
export function inlineBody(name: string, mime: string, bytes: Uint8Array, sha256: string): string {
  const o: InlineFile = { type: 'kez-file-v1', mode: 'inline', name, mime, size: bytes.length, sha256, data: toB64url(bytes) };
  return jcs(o);
}

/** The body of a pointer to a file of `size` bytes sent as chunks. */
export function pointerBody(fileId: string, name: string, mime: string, size: number, sha256: string): string {
  const o: PointerFile = {
    type: 'kez-file-v1',
    mode: 'pointer',
    file_id: fileId,
    name,
    mime,
    size,
    sha256,
    chunks: chunkCount(size),
    chunk_size: CHUNK_SIZE,
  };
  return jcs(o);
}

/** The body of chunk `index` of `bytes` (the whole file). */
export function chunkBody(fileId: string, bytes: Uint8Array, index: number): string {
  const count = chunkCount(bytes.length);
  const data = toB64url(bytes.subarray(index * CHUNK_SIZE, Math.min(bytes.length, (index + 1) * CHUNK_SIZE)));
  const o: FileChunk = { type: 'kez-file-chunk-v1', file_id: fileId, index, count, data };
  return jcs(o);
}

/** The body of a missing-chunks request (`missing` ascending, distinct). */
export function needBody(fileId: string, missing: readonly number[]): string {
  const o: FileNeed = { type: 'kez-file-need-v1', file_id: fileId, missing: [...missing] };
  return jcs(o);
}

/** Only these render inline; everything else (SVG and HTML above all) is a download (SPEC §13). */
export const INLINE_IMAGE_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

export function rendersInline(mime: string): boolean {
  return INLINE_IMAGE_TYPES.includes(mime);
}
