// PNG for the scrambled picture (SPEC §14.2) through fast-png (image-js, MIT;
// deps fflate, iobuffer). Why not the canvas: its encoder writes RGBA (colour
// type 6), and its decoder goes through the browser's colour management, where
// one changed byte puts a pixel out of place. fast-png writes only IHDR, IDAT
// and IEND (no colour-space chunks) and decodes the stored samples as they
// are: it reads iCCP/gAMA/sRGB but applies none of them.
import { decode, encode } from 'fast-png';

/** Encode `rgb` (w·h·3 bytes, row-major) as an 8-bit RGB PNG (colour type 2). */
export function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  if (rgb.length !== width * height * 3 || width < 1 || height < 1) throw new Error('RGB size does not match the dimensions');
  return encode({ width, height, data: rgb, depth: 8, channels: 3 });
}

/** Decoded RGB pixels: w·h·3 bytes, row-major. */
export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/**
 * The exact 8-bit RGB samples of a PNG (alpha dropped, SPEC §14.2: "readers
 * ignore alpha"). Null when it is not a PNG, is corrupt, or is not 8-bit RGB
 * or RGBA (palette, greyscale and 16-bit pictures cannot come from a §14.2
 * scrambler), or has more than `maxPixels` pixels (checked from IHDR before
 * inflating).
 */
export function decodeRgbPng(png: Uint8Array, maxPixels: number): RgbImage | null {
  const size = headerSize(png);
  if (!size || size.width * size.height > maxPixels) return null;
  let img;
  try {
    img = decode(png, { checkCrc: true });
  } catch {
    return null;
  }
  const { width, height, depth, channels, data, palette } = img;
  if (depth !== 8 || palette || (channels !== 3 && channels !== 4) || data.length !== width * height * channels) return null;
  if (channels === 3) return { rgb: Uint8Array.from(data), width, height };
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; i < data.length; i += 4, o += 3) {
    rgb[o] = data[i];
    rgb[o + 1] = data[i + 1];
    rgb[o + 2] = data[i + 2];
  }
  return { rgb, width, height };
}

/** Width and height from the IHDR chunk, which the PNG spec puts first (bytes 16..24). */
function headerSize(png: Uint8Array): { width: number; height: number } | null {
  if (png.length < 33 || String.fromCharCode(...png.subarray(12, 16)) !== 'IHDR') return null;
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}

/** Standard base64 with padding (data URLs, RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Standard base64 (padding optional) → bytes; null when it is not base64. */
export function fromBase64(b64: string): Uint8Array | null {
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    return null;
  }
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
