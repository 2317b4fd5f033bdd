// The QR code of an invite link (issue 13), by uqr (unjs, MIT, no
// dependencies, no network): its module matrix turned into one SVG path,
// so the component draws it without injecting markup.
import { encode } from 'uqr';

/** A QR code as an SVG path over a `size`×`size` grid (border included), dark modules filled. */
export interface QrPath {
  size: number;
  d: string;
}

/** The QR code of `text` (error correction M, a 2-module quiet zone). */
export function qrPath(text: string): QrPath {
  const { data, size } = encode(text, { ecc: 'M', border: 4 });
  let d = '';
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) if (data[y][x]) d += `M${x} ${y}h1v1h-1z`;
  }
  return { size, d };
}
