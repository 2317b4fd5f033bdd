// Small facts about the device that change how the UI behaves.

type MatchMedia = (query: string) => { matches: boolean };

/**
 * Whether a text field may take the focus by itself. On a touch screen that
 * pops up the on-screen keyboard over half the thread every time one is
 * opened, so only with a fine pointer (mouse, trackpad), where it saves a
 * click. Unknown (no matchMedia) counts as touch.
 */
export function autofocusOk(mm: MatchMedia | undefined = typeof matchMedia === 'undefined' ? undefined : (q) => matchMedia(q)): boolean {
  try {
    return !!mm && mm('(pointer: fine)').matches;
  } catch {
    return false;
  }
}
