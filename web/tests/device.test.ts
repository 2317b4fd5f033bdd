import { describe, expect, it } from 'vitest';
import { autofocusOk, composerKey, enterSends, type ComposerKey } from '../src/lib/device';

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

describe('composerKey (Enter in the composer)', () => {
  const k = (key: string, mods: Partial<ComposerKey> = {}): ComposerKey => ({
    key,
    shiftKey: false,
    ctrlKey: false,
    metaKey: false,
    isComposing: false,
    ...mods,
  });
  it('desktop: Enter sends, Shift+Enter is a new line', () => {
    expect(composerKey(k('Enter'), true)).toBe('send');
    expect(composerKey(k('Enter', { shiftKey: true }), true)).toBeNull();
  });
  it('touch: Enter is a new line (the send button sends); Ctrl/Cmd+Enter still sends', () => {
    expect(composerKey(k('Enter'), false)).toBeNull();
    expect(composerKey(k('Enter', { shiftKey: true }), false)).toBeNull();
    expect(composerKey(k('Enter', { ctrlKey: true }), false)).toBe('send');
    expect(composerKey(k('Enter', { metaKey: true }), false)).toBe('send');
  });
  it('never mid-composition, never for other keys', () => {
    expect(composerKey(k('Enter', { isComposing: true }), true)).toBeNull();
    expect(composerKey(k('a'), true)).toBeNull();
  });
  it('Enter sends only with a fine pointer', () => {
    const mm = (fine: boolean) => (q: string) => ({ matches: q === '(pointer: fine)' ? fine : false });
    expect(enterSends(mm(true))).toBe(true);
    expect(enterSends(mm(false))).toBe(false);
  });
});
