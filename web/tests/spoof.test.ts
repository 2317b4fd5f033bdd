// Bidi controls and invisible characters in names people read (SPEC §13
// file names, §14.1 display names): refused when received, dropped when sent.
import { describe, expect, it } from 'vitest';
import { primaryFromSeed } from '../src/lib/identity';
import { buildProfile, cleanDisplayName, verifyProfile } from '../src/lib/profile/document';
import { hasSpoofChar } from '../src/lib/spoof';
import { seedFor } from './helpers';

const alice = seedFor('alice');
const A = primaryFromSeed(alice);
const BAD = ['Ali\u202eecila', 'a\u2066b\u2069', 'a\u200bb', 'a\u200fb', 'a\u061cb', '\ufeffa', 'a\u2028b'];

describe('bidi and invisible characters', () => {
  it('the set: overrides, isolates, marks, zero-width space; not ZWJ/ZWNJ', () => {
    for (const s of BAD) expect(hasSpoofChar(s), JSON.stringify(s)).toBe(true);
    for (const s of ['Alice', '👩\u200d💻', 'می\u200cخواهم', 'é ✓']) expect(hasSpoofChar(s), s).toBe(false);
  });

  it('a display name holding one is invalid_display_name; the sender cleans it away', () => {
    for (const display_name of BAD) {
      const d = buildProfile(alice, { handle: 'alice', server: 'kez.test', display_name, picture: null, visual_keys: [], updated_at: '2026-05-25T03:00:00Z' });
      expect(() => verifyProfile(d, A), JSON.stringify(display_name)).toThrow('invalid_display_name');
      const clean = cleanDisplayName(display_name)!;
      expect(hasSpoofChar(clean)).toBe(false);
      const ok = buildProfile(alice, { handle: 'alice', server: 'kez.test', display_name: clean, picture: null, visual_keys: [], updated_at: '2026-05-25T03:00:00Z' });
      expect(verifyProfile(ok, A).display_name).toBe(clean);
    }
    expect(cleanDisplayName('Ali\u202eecila')).toBe('Aliecila');
  });
});
