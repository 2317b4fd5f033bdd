// What a picked, dropped or pasted file becomes before it is sent (SPEC
// §13.1). The type is decided by the first bytes (a photo without an
// extension has an empty browser type but still its EXIF). PNG, WebP and
// GIF lose their metadata chunks without being re-encoded (strip.ts: never
// bigger, animation kept). JPEG and the other photo formats the browser
// decodes (HEIC, AVIF…) are drawn on a canvas (long side at most MAX_SIDE)
// and written as JPEG, which drops EXIF (location above all); the quality
// steps down until the result is no bigger than the original JPEG.
// Anything else is sent byte for byte.
import { MAX_FILE } from './body';
import { FileTooLargeError } from './sender';
import { sniffImage, stripGif, stripPng, stripWebp } from './strip';

/** Images larger than this are not decoded (a canvas of them could exhaust memory). */
export const MAX_DECODE_BYTES = 40 * 1024 * 1024;
/** Longest side of a re-encoded photo, in pixels (a 12 MP phone photo fits). */
export const MAX_SIDE = 4096;
/** JPEG qualities tried in turn until the result is no bigger than the original. */
export const JPEG_QUALITIES: readonly number[] = [0.9, 0.82, 0.74, 0.66];

export interface Prepared {
  name: string;
  mime: string;
  bytes: Uint8Array;
}

/** A decoded image that can be written out (the browser's canvas; tests pass their own). */
export interface Picture {
  /** null when the browser cannot write `type`. */
  encode(type: string, quality: number): Promise<Blob | null>;
}
/** Decode `file` scaled to at most MAX_SIDE, or null when the browser cannot. */
export type OpenPicture = (file: Blob) => Promise<Picture | null>;

/** The type to re-encode to, or null to send the file as it is (after strip.ts for PNG/WebP/GIF). */
export function reencodeTarget(mime: string): 'image/jpeg' | null {
  const m = mime.toLowerCase();
  if (!m.startsWith('image/') || ['image/gif', 'image/svg+xml', 'image/png', 'image/webp'].includes(m)) return null;
  return 'image/jpeg';
}

/** `photo.heic` → `photo.jpg` when the type changed. */
export function renamed(name: string, mime: string): string {
  const ext = mime === 'image/png' ? 'png' : mime === 'image/webp' ? 'webp' : 'jpg';
  const base = name.replace(/\.[A-Za-z0-9]{1,5}$/, '');
  return `${base || 'image'}.${ext}`;
}

/** `w`×`h` scaled down (never up) so the long side is at most `max`. */
export function fitWithin(w: number, h: number, max: number): [number, number] {
  const s = Math.min(1, max / Math.max(w, h));
  return [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
}

/** The browser's decoder: orientation applied, scaled to fit MAX_SIDE. */
export const openCanvas: OpenPicture = async (file) => {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    return null;
  }
  try {
    const [w, h] = fitWithin(bmp.width, bmp.height, MAX_SIDE);
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d');
    if (!ctx) return null;
    ctx.drawImage(bmp, 0, 0, w, h);
    return { encode: (type, quality) => canvas.convertToBlob({ type, quality }).catch(() => null) };
  } finally {
    bmp.close();
  }
};

/** The first JPEG of JPEG_QUALITIES no bigger than `limit`, else the smallest; null if none could be written. */
export async function jpegWithin(pic: Picture, limit: number): Promise<Blob | null> {
  let best: Blob | null = null;
  for (const q of JPEG_QUALITIES) {
    const out = await pic.encode('image/jpeg', q);
    if (!out || out.type !== 'image/jpeg') return best;
    if (!best || out.size < best.size) best = out;
    if (out.size <= limit) break;
  }
  return best;
}

const STRIP: Record<string, (b: Uint8Array) => Uint8Array | null> = { 'image/png': stripPng, 'image/webp': stripWebp, 'image/gif': stripGif };

/**
 * The file as it will be sent. Throws FileTooLargeError (a friendly
 * sentence) when it is over 10 MiB, before anything is stored or sent.
 */
export async function prepareFile(file: File, open: OpenPicture = openCanvas): Promise<Prepared> {
  const sniffed = sniffImage(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
  const type = sniffed ?? file.type;
  const strip = STRIP[type];
  if (strip && file.size <= MAX_DECODE_BYTES) {
    const out = strip(new Uint8Array(await file.arrayBuffer()));
    if (out && out.length <= MAX_FILE) return { name: file.name, mime: type, bytes: out };
    // Too big even without metadata, or not walkable: drawn again (scaled to MAX_SIDE) in its own type.
    const again = type === 'image/gif' ? null : await (await open(file))?.encode(type, JPEG_QUALITIES[0]);
    if (again?.type === type && again.size <= MAX_FILE) return { name: file.name, mime: type, bytes: new Uint8Array(await again.arrayBuffer()) };
    if (out) throw new FileTooLargeError(out.length, true);
  }
  if (reencodeTarget(type) && file.size <= MAX_DECODE_BYTES) {
    const pic = await open(file);
    const out = pic && (await jpegWithin(pic, type === 'image/jpeg' ? file.size : MAX_FILE));
    if (out) {
      if (out.size > MAX_FILE) throw new FileTooLargeError(out.size, true);
      const name = type === 'image/jpeg' ? file.name : renamed(file.name, out.type);
      return { name, mime: out.type, bytes: new Uint8Array(await out.arrayBuffer()) };
    }
  }
  if (file.size > MAX_FILE) throw new FileTooLargeError(file.size);
  return { name: file.name, mime: type || 'application/octet-stream', bytes: new Uint8Array(await file.arrayBuffer()) };
}
