// The browser half of profile pictures (SPEC §14): decode, centre-crop,
// re-encode (which also strips EXIF), and scramble/unscramble through a 2D
// canvas. The permutation itself is visual.ts's pure code; the scrambled
// PNG is written and read by png.ts, never by the canvas (SPEC §14.2: no
// colour management on the way).
import { randomBytes } from '../bytes';
import type * as PngModule from './png';
import { LOCAL_SIDE, parsePicture, permutation, PUBLISHED_SIDE, rgbaToRgb, rgbToRgba, scramble, scrambledPictureUrl, unscramble } from './visual';

/** JPEG quality of the local and the plain published picture. */
const JPEG_QUALITY = 0.85;

/**
 * png.ts with fast-png, fflate and iobuffer (about 12 kB gzipped): loaded the
 * first time a scrambled picture is written or read, not with the app.
 */
let pngModule: Promise<typeof PngModule> | undefined;
function png(): Promise<typeof PngModule> {
  pngModule ??= import('./png').catch((err: unknown) => {
    pngModule = undefined; // offline before the precache had it: try again next time
    throw err;
  });
  return pngModule;
}

/** The largest scrambled picture a reader unscrambles (published ones are 192). */
const MAX_SIDE = 512;

function canvas(side: number): { c: HTMLCanvasElement; g: CanvasRenderingContext2D } {
  const c = document.createElement('canvas');
  c.width = side;
  c.height = side;
  const g = c.getContext('2d', { willReadFrequently: true, alpha: false });
  if (!g) throw new Error('This browser cannot draw pictures.');
  return { c, g };
}

function loadImage(url: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('That picture could not be read.'));
    img.src = url;
  });
}

/** A picked file → the local picture: centre-cropped square, 256×256 JPEG data URL. */
export async function cropToJpeg(file: Blob): Promise<string> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file);
  } catch {
    throw new Error('That file is not a picture this browser can read.');
  }
  const side = Math.min(bmp.width, bmp.height);
  const { c, g } = canvas(LOCAL_SIDE);
  g.drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, LOCAL_SIDE, LOCAL_SIDE);
  bmp.close();
  return c.toDataURL('image/jpeg', JPEG_QUALITY);
}

/** The RGB pixels of a picture drawn at `side`×`side`. */
async function pixels(url: string, side: number): Promise<Uint8Array> {
  const img = await loadImage(url);
  const { g } = canvas(side);
  g.drawImage(img, 0, 0, side, side);
  return rgbaToRgb(g.getImageData(0, 0, side, side).data);
}

function encodeJpeg(rgb: Uint8Array, side: number): string {
  const { c, g } = canvas(side);
  g.putImageData(new ImageData(rgbToRgba(rgb), side, side), 0, 0);
  return c.toDataURL('image/jpeg', JPEG_QUALITY);
}

/** 8-bit RGB PNG (SPEC §14.2); the canvas would write RGBA. */
async function encodePng(rgb: Uint8Array, side: number): Promise<string> {
  const { encodeRgbPng, toBase64 } = await png();
  return `data:image/png;base64,${toBase64(encodeRgbPng(rgb, side, side))}`;
}

/** What gets published: the picture's URL, and its visual key when scrambled. */
export interface Published {
  picture: string;
  key: Uint8Array | null;
}

/**
 * The published picture of a local one: 192×192; with `visual`, its pixels
 * permuted under a fresh key and salt as PNG with the salt fragment, else a
 * plain JPEG (SPEC §14).
 */
export async function publishPicture(localUrl: string, visual: boolean, key?: Uint8Array): Promise<Published> {
  const rgb = await pixels(localUrl, PUBLISHED_SIDE);
  if (!visual) return { picture: encodeJpeg(rgb, PUBLISHED_SIDE), key: null };
  const k = key ?? randomBytes(32);
  const salt = randomBytes(16);
  const p = permutation(PUBLISHED_SIDE * PUBLISHED_SIDE, k, salt);
  return { picture: scrambledPictureUrl(await encodePng(scramble(rgb, p), PUBLISHED_SIDE), salt), key: k };
}

/**
 * A published picture as a reader shows it: unscrambled (PNG data URL) with
 * the key, the noise itself without one, the plain picture when it was not
 * scrambled. Null when it is not a §14 picture.
 */
export async function revealPicture(picture: string, key: Uint8Array | null): Promise<{ url: string; clear: boolean } | null> {
  const parts = parsePicture(picture);
  if (!parts) return null;
  if (!parts.salt) return { url: parts.dataUrl, clear: true };
  if (!key) return { url: parts.dataUrl, clear: false };
  // Decoded by png.ts, not drawn on a canvas: the exact stored samples.
  const { decodeRgbPng, fromBase64 } = await png();
  const bytes = fromBase64(parts.dataUrl.slice(parts.dataUrl.indexOf(',') + 1));
  const img = bytes && decodeRgbPng(bytes, MAX_SIDE * MAX_SIDE);
  if (!img || img.width !== img.height || img.width < 1 || img.width > MAX_SIDE) return { url: parts.dataUrl, clear: false };
  const side = img.width;
  const p = permutation(side * side, key, parts.salt);
  return { url: await encodePng(unscramble(img.rgb, p), side), clear: true };
}
