// What a picked, dropped or pasted file becomes before it is sent (browser
// only). Images the browser can decode are drawn on a canvas and re-encoded:
// that drops EXIF (location above all) and turns HEIC into JPEG where the
// browser decodes HEIC. PNG stays PNG (transparency), GIF is sent as is
// (re-encoding would stop the animation; GIF carries no EXIF). Anything else
// is sent byte for byte.
import { MAX_FILE } from './body';
import { FileTooLargeError } from './sender';

/** Images larger than this are not decoded (a canvas of them could exhaust memory). */
export const MAX_DECODE_BYTES = 40 * 1024 * 1024;
/** JPEG quality of re-encoded photos. */
export const JPEG_QUALITY = 0.9;

export interface Prepared {
  name: string;
  mime: string;
  bytes: Uint8Array;
}

/** The type to re-encode to, or null to send the file as it is. */
export function reencodeTarget(mime: string): 'image/png' | 'image/jpeg' | 'image/webp' | null {
  const m = mime.toLowerCase();
  if (!m.startsWith('image/') || m === 'image/gif' || m === 'image/svg+xml') return null;
  if (m === 'image/png') return 'image/png';
  if (m === 'image/webp') return 'image/webp';
  return 'image/jpeg';
}

/** `photo.heic` → `photo.jpg` when the type changed. */
export function renamed(name: string, mime: string): string {
  const ext = mime === 'image/png' ? 'png' : mime === 'image/webp' ? 'webp' : 'jpg';
  const base = name.replace(/\.[A-Za-z0-9]{1,5}$/, '');
  return `${base || 'image'}.${ext}`;
}

/** Draw and re-encode; null when the browser cannot decode it (then the original is sent). */
async function reencode(file: Blob, target: string): Promise<Blob | null> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    return null;
  }
  try {
    const canvas = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = canvas.getContext('2d');
    if (!ctx) return null;
    ctx.drawImage(bmp, 0, 0);
    const out = await canvas.convertToBlob({ type: target, quality: JPEG_QUALITY });
    // A browser that can't write WebP gives PNG: keep the type it really wrote.
    return out;
  } catch {
    return null;
  } finally {
    bmp.close();
  }
}

/**
 * The file as it will be sent. Throws FileTooLargeError (a friendly
 * sentence) when it is over 10 MiB, before anything is stored or sent.
 */
export async function prepareFile(file: File): Promise<Prepared> {
  const target = reencodeTarget(file.type);
  if (target && file.size <= MAX_DECODE_BYTES) {
    const out = await reencode(file, target);
    if (out) {
      if (out.size > MAX_FILE) throw new FileTooLargeError(out.size);
      const name = out.type === file.type ? file.name : renamed(file.name, out.type);
      return { name, mime: out.type, bytes: new Uint8Array(await out.arrayBuffer()) };
    }
  }
  if (file.size > MAX_FILE) throw new FileTooLargeError(file.size);
  return { name: file.name, mime: file.type || 'application/octet-stream', bytes: new Uint8Array(await file.arrayBuffer()) };
}
