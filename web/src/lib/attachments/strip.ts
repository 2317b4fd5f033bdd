// What an image file really is (by its first bytes, not the browser's type,
// which is empty for files without an extension), and metadata removed from
// PNG, WebP and GIF without re-encoding them: the pixels and any animation
// stay as they are and the file never grows. Each walker copies whole
// chunks/blocks; a file it cannot walk to the end is reported as null (the
// caller then re-encodes it or refuses to send it as is).

/** The image type the bytes start with, or null (SPEC §13 sending: decided by content). */
export function sniffImage(b: Uint8Array): string | null {
  const at = (o: number, s: string) => [...s].every((c, i) => b[o + i] === c.charCodeAt(0));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b[0] === 0x89 && at(1, 'PNG\r\n\x1a\n')) return 'image/png';
  if (at(0, 'GIF87a') || at(0, 'GIF89a')) return 'image/gif';
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'image/webp';
  if (at(4, 'ftyp')) {
    const brand = String.fromCharCode(...b.subarray(8, 12));
    if (['avif', 'avis'].includes(brand)) return 'image/avif';
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'image/heic';
  }
  return null;
}

/** PNG chunks that carry text, EXIF (location) or a timestamp. */
const PNG_DROP = new Set(['eXIf', 'tEXt', 'zTXt', 'iTXt', 'tIME']);

/** The PNG without its metadata chunks (APNG frames kept), or null if it does not parse to IEND. */
export function stripPng(b: Uint8Array): Uint8Array | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const keep: Uint8Array[] = [b.subarray(0, 8)];
  for (let at = 8; at + 12 <= b.length; ) {
    const len = dv.getUint32(at);
    const end = at + 12 + len;
    if (end > b.length) return null;
    const type = String.fromCharCode(...b.subarray(at + 4, at + 8));
    if (!PNG_DROP.has(type)) keep.push(b.subarray(at, end));
    if (type === 'IEND') return concat(keep);
    at = end;
  }
  return null;
}

/** The WebP without its EXIF and XMP chunks (VP8X flags and RIFF size fixed; animation kept), or null. */
export function stripWebp(b: Uint8Array): Uint8Array | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 12 || dv.getUint32(4, true) + 8 !== b.length) return null;
  const keep: Uint8Array[] = [];
  for (let at = 12; at < b.length; ) {
    if (at + 8 > b.length) return null;
    const len = dv.getUint32(at + 4, true);
    const end = at + 8 + len + (len & 1);
    if (end > b.length) return null;
    const type = String.fromCharCode(...b.subarray(at, at + 4));
    if (type === 'VP8X') {
      const c = b.slice(at, end);
      c[8] &= ~0x0c; // EXIF (0x08) and XMP (0x04) present: no more
      keep.push(c);
    } else if (type !== 'EXIF' && type !== 'XMP ') keep.push(b.subarray(at, end));
    at = end;
  }
  const body = concat(keep);
  const out = concat([b.subarray(0, 12), body]);
  new DataView(out.buffer).setUint32(4, out.length - 8, true);
  return out;
}

/** Application extensions a GIF keeps: the loop count (animation), nothing else. */
const GIF_KEEP_APP = ['NETSCAPE2.0', 'ANIMEXTS1.0'];

/** Skip GIF data sub-blocks from `at`; the offset after the terminator, or -1. */
function skipSubBlocks(b: Uint8Array, at: number): number {
  while (at < b.length) {
    const n = b[at];
    if (n === 0) return at + 1;
    at += n + 1;
  }
  return -1;
}

/** Size of a colour table announced by packed field `p` (0 when absent). */
const colourTable = (p: number) => (p & 0x80 ? 3 * (1 << ((p & 7) + 1)) : 0);

/** The GIF without comments, plain text and application extensions other than the loop count (XMP lives there), or null. */
export function stripGif(b: Uint8Array): Uint8Array | null {
  if (b.length < 13) return null;
  let at = 13 + colourTable(b[10]);
  const keep: Uint8Array[] = [b.subarray(0, at)];
  while (at < b.length) {
    const start = at;
    if (b[at] === 0x3b) return concat([...keep, b.subarray(at, at + 1)]);
    if (b[at] === 0x2c) {
      if (at + 10 > b.length) return null;
      at = skipSubBlocks(b, at + 10 + colourTable(b[at + 9]) + 1);
      if (at < 0) return null;
      keep.push(b.subarray(start, at));
    } else if (b[at] === 0x21) {
      const label = b[at + 1];
      const app = label === 0xff && b[at + 2] === 11 ? String.fromCharCode(...b.subarray(at + 3, at + 14)) : '';
      at = skipSubBlocks(b, at + 2);
      if (at < 0) return null;
      if (label === 0xf9 || GIF_KEEP_APP.includes(app)) keep.push(b.subarray(start, at));
    } else return null;
  }
  return null;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
