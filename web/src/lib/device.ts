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

/**
 * Whether Enter sends in the composer. With a fine pointer (a desktop's
 * mouse or trackpad, so a real keyboard) Enter sends and Shift+Enter is a
 * new line, as in every desktop chat. On a touch screen the on-screen
 * keyboard's Enter is the only way to a new line and the send button is
 * under the thumb, so there Enter is a new line. Unknown counts as touch.
 */
export const enterSends = autofocusOk;

/** The keys the composer sees, as a KeyboardEvent has them. */
export interface ComposerKey {
  key: string;
  shiftKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  isComposing: boolean;
}

/**
 * What a key press in the composer does: 'send', or null to let the
 * textarea have it (a new line, typing). Ctrl/Cmd+Enter sends on every
 * device (a phone with a keyboard attached); nothing sends mid-composition
 * (an IME's Enter picks the candidate).
 */
export function composerKey(e: ComposerKey, enterIsSend: boolean): 'send' | null {
  if (e.key !== 'Enter' || e.isComposing) return null;
  if (e.ctrlKey || e.metaKey) return 'send';
  return enterIsSend && !e.shiftKey ? 'send' : null;
}
