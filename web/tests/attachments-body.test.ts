// Attachment bodies (SPEC §13): building, parsing, every rule of the shapes,
// and the opener's malformed_message for a bad body. The shared vectors
// (tests/vectors/media.json) are checked in attachments-vectors.test.ts.
import { describe, expect, it } from 'vitest';
import {
  CHUNK_SIZE,
  chunkBody,
  chunkCount,
  inlineBody,
  isValidMime,
  isValidName,
  MAX_FILE,
  needBody,
  parseBody,
  pointerBody,
  rendersInline,
  sha256Hex,
} from '../src/lib/attachments/body';
import { jcs } from '../src/lib/jcs';
import { bytesToHex } from '../src/lib/bytes';
import { sha256 } from '@noble/hashes/sha2.js';
import { openEnvelope, seal } from '../src/lib/envelope';
import { primaryFromSeed } from '../src/lib/identity';
import { seedFor } from './helpers';

const FID = 'AAECAwQFBgcICQoLDA0ODw';
const HASH = 'a'.repeat(64);
const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

describe('file names and types', () => {
  it('accepts ordinary names and refuses paths, control characters and dot names', () => {
    for (const ok of ['cat.jpg', 'ünï côdé.pdf', 'a', 'x'.repeat(255), '😀'.repeat(63)]) expect(isValidName(ok), ok).toBe(true);
    for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'a\nb', 'a\u0000', 'a\u007f', 'a\u0085', 'x'.repeat(256), '😀'.repeat(64), 'a\ud800'])
      expect(isValidName(bad), JSON.stringify(bad)).toBe(false);
  });

  it('accepts lowercase RFC 6838 types only', () => {
    for (const ok of ['image/jpeg', 'application/vnd.ms-excel', 'text/plain', 'application/x-7z-compressed']) expect(isValidMime(ok), ok).toBe(true);
    for (const bad of ['Image/JPEG', 'image', 'image/', '/jpeg', 'text/plain; charset=utf-8', 'image/ jpeg', `a/${'b'.repeat(126)}`])
      expect(isValidMime(bad), bad).toBe(false);
  });

  it('renders only the four raster types inline: never SVG or HTML', () => {
    for (const m of ['image/jpeg', 'image/png', 'image/gif', 'image/webp']) expect(rendersInline(m)).toBe(true);
    for (const m of ['image/svg+xml', 'text/html', 'application/xhtml+xml', 'image/heic', 'application/pdf']) expect(rendersInline(m)).toBe(false);
  });
});

describe('bodies round-trip', () => {
  it('inline', async () => {
    const b = bytes(1234);
    const body = inlineBody('cat.jpg', 'image/jpeg', b, await sha256Hex(b));
    const f = parseBody('file', body)!;
    expect(f).toMatchObject({ type: 'kez-file-v1', mode: 'inline', name: 'cat.jpg', size: 1234 });
    expect(body).toBe(jcs(JSON.parse(body)));
  });

  it('pointer: chunks = ceil(size / 81920), 2..=128', () => {
    for (const size of [CHUNK_SIZE + 1, 2 * CHUNK_SIZE, MAX_FILE]) {
      const f = parseBody('file', pointerBody(FID, 'a.bin', 'application/octet-stream', size, HASH))!;
      expect(f).toMatchObject({ mode: 'pointer', chunks: chunkCount(size), chunk_size: CHUNK_SIZE });
    }
    expect(chunkCount(MAX_FILE)).toBe(128);
  });

  it('chunks: all but the last exactly 81,920 bytes', () => {
    const file = bytes(2 * CHUNK_SIZE + 5);
    expect(parseBody('chunk', chunkBody(FID, file, 0))).toMatchObject({ index: 0, count: 3 });
    expect(parseBody('chunk', chunkBody(FID, file, 2))).toMatchObject({ index: 2, count: 3 });
  });

  it('need', () => {
    expect(parseBody('need', needBody(FID, [3, 7]))).toEqual({ type: 'kez-file-need-v1', file_id: FID, missing: [3, 7] });
  });
});

describe('bodies refused', () => {
  const inline = { type: 'kez-file-v1', mode: 'inline', name: 'a', mime: 'text/plain', size: 2, sha256: bytesToHex(sha256(new Uint8Array(2))), data: 'AAA' };
  const pointer = { type: 'kez-file-v1', mode: 'pointer', file_id: FID, name: 'a', mime: 'text/plain', size: 81921, sha256: HASH, chunks: 2, chunk_size: 81920 };
  const chunk = { type: 'kez-file-chunk-v1', file_id: FID, index: 1, count: 2, data: 'AAA' };
  const cases: [string, 'file' | 'chunk' | 'need', unknown][] = [
    ['extra field', 'file', { ...inline, x: 1 }],
    ['missing field', 'file', { ...inline, sha256: undefined }],
    ['inline size ≠ data', 'file', { ...inline, size: 3 }],
    ['inline hash ≠ data', 'file', { ...inline, sha256: HASH }],
    ['inline over 80 KiB', 'file', { ...inline, size: 81921 }],
    ['padded data', 'file', { ...inline, data: 'AAA=' }],
    ['upper-case hash', 'file', { ...inline, sha256: 'A'.repeat(64) }],
    ['pointer too small', 'file', { ...pointer, size: 81920, chunks: 1 }],
    ['pointer over 10 MiB', 'file', { ...pointer, size: MAX_FILE + 1, chunks: 129 }],
    ['wrong chunk count', 'file', { ...pointer, chunks: 3 }],
    ['wrong chunk_size', 'file', { ...pointer, chunk_size: 65536 }],
    ['short file id', 'file', { ...pointer, file_id: 'AAECAwQFBgcICQoLDA0ODx' }],
    ['chunk index = count', 'chunk', { ...chunk, index: 2 }],
    ['count over 128', 'chunk', { ...chunk, count: 129 }],
    ['short non-last chunk', 'chunk', { ...chunk, index: 0 }],
    ['need unsorted', 'need', { type: 'kez-file-need-v1', file_id: FID, missing: [7, 3] }],
    ['need duplicate', 'need', { type: 'kez-file-need-v1', file_id: FID, missing: [3, 3] }],
    ['need empty', 'need', { type: 'kez-file-need-v1', file_id: FID, missing: [] }],
    ['need index 128', 'need', { type: 'kez-file-need-v1', file_id: FID, missing: [128] }],
  ];
  it.each(cases)('%s', (_, kind, o) => {
    expect(parseBody(kind, jcs(o))).toBeNull();
  });

  it('a body that is not exactly JCS', () => {
    const good = jcs(inline);
    expect(parseBody('file', good)).not.toBeNull();
    expect(parseBody('file', JSON.stringify(inline, null, 1))).toBeNull();
  });

  it('the opener says malformed_message for a file kind with a bad body, and opens a good one', async () => {
    const alice = seedFor('alice');
    const bob = seedFor('bob');
    const to = primaryFromSeed(bob);
    const base = { id: 'Q2hhdE1lc3NhZ2VJZDAx', from_handle: 'alice@kez.test', to, sent_at: new Date().toISOString().slice(0, 19) + 'Z' };
    const b = bytes(2, 0);
    const good = seal(alice, { ...base, kind: 'file', body: inlineBody('a', 'text/plain', b, await sha256Hex(b)) }).envelope;
    expect(openEnvelope(bob, good).kind).toBe('file');
    const bad = seal(alice, { ...base, kind: 'chunk', body: '{}' }).envelope;
    expect(() => openEnvelope(bob, bad)).toThrow('malformed_message');
  });
});
