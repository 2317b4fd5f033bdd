// What people type as a handle → the canonical lower-case form (SPEC §3).
import { describe, expect, it } from 'vitest';
import { foldKez } from '../src/lib/handles';
import { handleProblem } from '../src/lib/registration';

describe('foldKez', () => {
  it('lower-cases ASCII capitals, trims and drops one leading @', () => {
    expect(foldKez('Alice')).toBe('alice');
    expect(foldKez('  @BOB@Kez.Lat ')).toBe('bob@kez.lat');
    expect(foldKez('carol_9-X')).toBe('carol_9-x');
    expect(foldKez('')).toBe('');
  });

  it('leaves non-ASCII alone, so look-alikes stay invalid', () => {
    // U+212A KELVIN SIGN lower-cases to "k" in Unicode: folding it would let "\u212Aez" register as "kez".
    expect(foldKez('\u212Aarl')).toBe('\u212Aarl');
    expect(handleProblem(foldKez('\u212Aarl'))).not.toBeNull();
    expect(foldKez('ÄRGER')).toBe('Ärger');
  });

  it('makes a capitalised handle registrable', () => {
    expect(handleProblem('Alice')).toMatch(/lower case/);
    expect(handleProblem(foldKez('Alice'))).toBeNull();
  });
});
