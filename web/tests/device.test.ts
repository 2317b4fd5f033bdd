import { describe, expect, it } from 'vitest';
import { autofocusOk } from '../src/lib/device';

describe('autofocusOk (composer focus on open)', () => {
  const mm = (fine: boolean) => (q: string) => ({ matches: q === '(pointer: fine)' ? fine : false });
  it('mouse / trackpad: focus; touch screen: no keyboard popping up', () => {
    expect(autofocusOk(mm(true))).toBe(true);
    expect(autofocusOk(mm(false))).toBe(false);
  });
  it('no matchMedia, or one that throws: treated as touch', () => {
    expect(autofocusOk(undefined)).toBe(false);
    expect(
      autofocusOk(() => {
        throw new Error('nope');
      }),
    ).toBe(false);
  });
  it('in Node (no window) the default is false, not an exception', () => {
    expect(autofocusOk()).toBe(false);
  });
});
