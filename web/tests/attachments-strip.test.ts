// Before sending (SPEC §13.1, review r12 #6/#7/#21): the type comes from the
// bytes, PNG/WebP/GIF lose their metadata without being re-encoded (never
// bigger, animation kept), photos are re-encoded no bigger than the original.
import { describe, expect, it } from 'vitest';
import { jpegWithin, JPEG_QUALITIES, prepareFile, type OpenPicture } from '../src/lib/attachments/prepare';
import { sniffImage, stripGif, stripPng, stripWebp } from '../src/lib/attachments/strip';
import { MAX_FILE } from '../src/lib/attachments/body';

const enc = new TextEncoder();
const cat = (...parts: (Uint8Array | number[] | string)[]) => {
  const bs = parts.map((p) => (typeof p === 'string' ? enc.encode(p) : Uint8Array.from(p)));
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bs) (out.set(b, at), (at += b.length));
  return out;
};
const u32be = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const u32le = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
const has = (b: Uint8Array, s: string) => Buffer.from(b).includes(Buffer.from(s));
const SECRET = 'GPS-51.5007N';

const pngChunk = (type: string, data: string) => cat(u32be(data.length), type, data, [0, 0, 0, 0]);
const PNG = cat([0x89], 'PNG\r\n\x1a\n', pngChunk('IHDR', 'x'.repeat(13)), pngChunk('acTL', '12345678'), pngChunk('tEXt', `Comment\0${SECRET}`), pngChunk('eXIf', SECRET), pngChunk('IDAT', 'pixels'), pngChunk('IEND', ''));

function webp(): Uint8Array {
  const chunk = (type: string, data: Uint8Array | string) => {
    const d = typeof data === 'string' ? enc.encode(data) : data;
    return cat(type, u32le(d.length), d, d.length & 1 ? [0] : []);
  };
  const body = cat('WEBP', chunk('VP8X', Uint8Array.from([0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0])), chunk('ANIM', 'anim!!'), chunk('ANMF', 'frame'), chunk('EXIF', SECRET), chunk('XMP ', `<x>${SECRET}</x>`));
  return cat('RIFF', u32le(body.length), body);
}

function gif(): Uint8Array {
  const app = (id: string, data: string) => cat([0x21, 0xff, 11], id, [data.length], data, [0]);
  return cat(
    'GIF89a',
    [1, 0, 1, 0, 0x80, 0, 0], // 1×1, global colour table of 2
    [0, 0, 0, 255, 255, 255],
    app('NETSCAPE2.0', '\x01\x00\x00'),
    app('XMP DataXMP', SECRET),
    [0x21, 0xfe, SECRET.length], SECRET, [0], // comment
    [0x21, 0xf9, 4, 0, 10, 0, 0, 0], // graphic control (frame delay)
    [0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4c, 0x01, 0], // image, LZW data
    [0x3b],
  );
}

describe('sniffImage', () => {
  it('by the first bytes', () => {
    expect(sniffImage(cat([0xff, 0xd8, 0xff, 0xe1]))).toBe('image/jpeg');
    expect(sniffImage(PNG)).toBe('image/png');
    expect(sniffImage(webp())).toBe('image/webp');
    expect(sniffImage(gif())).toBe('image/gif');
    expect(sniffImage(cat([0, 0, 0, 24], 'ftypheic'))).toBe('image/heic');
    expect(sniffImage(cat([0, 0, 0, 24], 'ftypmif1'))).toBe('image/heic');
    expect(sniffImage(enc.encode('%PDF-1.7'))).toBeNull();
  });
});

describe('metadata stripped without re-encoding', () => {
  it('PNG: text and EXIF chunks go, animation and pixels stay', () => {
    const out = stripPng(PNG)!;
    expect(has(out, SECRET)).toBe(false);
    for (const c of ['IHDR', 'acTL', 'IDAT', 'IEND']) expect(has(out, c), c).toBe(true);
    expect(stripPng(PNG.subarray(0, PNG.length - 5))).toBeNull();
  });

  it('WebP: EXIF and XMP go, flags and RIFF size follow, animation stays', () => {
    const out = stripWebp(webp())!;
    expect(has(out, SECRET)).toBe(false);
    expect(has(out, 'ANMF')).toBe(true);
    expect(new DataView(out.buffer).getUint32(4, true)).toBe(out.length - 8);
    expect(out[20]).toBe(0x02); // animation only
  });

  it('GIF: comments and XMP go, loop count, frame delay and image stay', () => {
    const g = gif();
    const out = stripGif(g)!;
    expect(has(out, SECRET)).toBe(false);
    expect(has(out, 'NETSCAPE2.0')).toBe(true);
    expect(out.length).toBe(g.length - (14 + 1 + SECRET.length + 1) - (3 + SECRET.length + 1));
    expect(out[out.length - 1]).toBe(0x3b);
  });
});

/** A stand-in for the canvas (node has none): each quality gives a JPEG of `bytesAt(q)` bytes. */
const fakeOpen = (bytesAt: (q: number) => number, calls: number[] = []): OpenPicture => async () => ({
  encode: async (type, q) => (calls.push(q), new Blob([new Uint8Array(bytesAt(q))], { type })),
});

describe('prepareFile', () => {
  it('a JPEG without a type is re-encoded all the same (its EXIF goes)', async () => {
    const f = new File([cat([0xff, 0xd8, 0xff, 0xe1], `Exif ${SECRET}`)], 'IMG_0001');
    const p = await prepareFile(f, fakeOpen(() => 10));
    expect(p.mime).toBe('image/jpeg');
    expect(has(p.bytes, SECRET)).toBe(false);
  });

  it('a PNG without a type loses its metadata chunks, nothing else', async () => {
    const p = await prepareFile(new File([PNG], 'scan'), fakeOpen(() => 1));
    expect(p).toMatchObject({ name: 'scan', mime: 'image/png' });
    expect(p.bytes).toEqual(stripPng(PNG));
  });

  it('quality steps down until the photo is no bigger than the original', async () => {
    const calls: number[] = [];
    const big = new File([cat([0xff, 0xd8, 0xff], new Uint8Array(1700))], 'p.jpg', { type: 'image/jpeg' });
    const p = await prepareFile(big, fakeOpen((q) => Math.round(q * 2000), calls));
    expect(calls).toEqual(JPEG_QUALITIES.slice(0, 2));
    expect(p.bytes.length).toBeLessThanOrEqual(big.size);
    const blob = await jpegWithin((await fakeOpen((q) => 5000 - q)(new Blob()))!, 10);
    expect(blob!.size).toBe(Math.round(5000 - JPEG_QUALITIES.at(-1)!)); // none fits: the smallest
  });

  it('too big after cleaning says so', async () => {
    const f = new File([cat([0xff, 0xd8, 0xff], new Uint8Array(100))], 'p.heic', { type: 'image/heic' });
    await expect(prepareFile(f, fakeOpen(() => MAX_FILE + 1))).rejects.toThrow(/after removing location data/);
  });
});
