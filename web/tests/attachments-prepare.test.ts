// What the picker does before sending (SPEC §13.1): which images are
// re-encoded through a canvas, and how a converted file is renamed. The
// canvas itself runs in the browser (e2e).
import { describe, expect, it } from 'vitest';
import { reencodeTarget, renamed } from '../src/lib/attachments/prepare';
import { safeMime, safeName } from '../src/lib/attachments/sender';
import { isValidMime, isValidName } from '../src/lib/attachments/body';

describe('prepare', () => {
  it('re-encodes photos as JPEG (EXIF gone), HEIC too; PNG/WebP/GIF are stripped instead (strip.ts), SVG goes as it is', () => {
    expect(reencodeTarget('image/jpeg')).toBe('image/jpeg');
    expect(reencodeTarget('image/heic')).toBe('image/jpeg');
    expect(reencodeTarget('image/heif')).toBe('image/jpeg');
    for (const m of ['image/png', 'image/webp', 'image/gif', 'image/svg+xml', 'application/pdf', 'text/html', '']) expect(reencodeTarget(m)).toBeNull();
  });

  it('renames a converted file by its new type', () => {
    expect(renamed('IMG_0001.HEIC', 'image/jpeg')).toBe('IMG_0001.jpg');
    expect(renamed('scan', 'image/png')).toBe('scan.png');
    expect(renamed('.heic', 'image/jpeg')).toBe('image.jpg');
  });

  it('cleans names and types to what SPEC §13 accepts', () => {
    for (const n of ['a/b\\c.txt', '..', '', 'x\u0000y', 'é'.repeat(200), '  spaced  ']) expect(isValidName(safeName(n)), n).toBe(true);
    expect(safeName('a/b.txt')).toBe('a_b.txt');
    // SPEC §13: bidi controls and invisible characters would let "invoice‮fdp.exe" read as "invoiceexe.pdf".
    for (const n of ['invoice\u202efdp.exe', 'a\u2066b\u2069.txt', 'a\u200b.txt', '\u061c\u200f\ufeff']) {
      expect(isValidName(n), n).toBe(false);
      expect(isValidName(safeName(n)), n).toBe(true);
    }
    expect(safeName('invoice\u202efdp.exe')).toBe('invoicefdp.exe');
    expect(isValidName('👩\u200d💻.png')).toBe(true);
    expect(safeMime('Text/Plain; charset=UTF-8')).toBe('text/plain');
    expect(safeMime('')).toBe('application/octet-stream');
    expect(safeMime('weird type')).toBe('application/octet-stream');
    expect(isValidMime(safeMime('IMAGE/PNG'))).toBe(true);
  });
});
