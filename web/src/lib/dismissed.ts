// Hints the user closed ("Your KEZ" card), remembered per identity in
// localStorage. A flag names no contact and no secret (SPEC §8.2 lists it
// among what is kept in clear); storage that throws (private modes) just
// forgets, and the hint comes back.

/** What localStorage offers (tests pass a Map-backed one). */
export type FlagStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** The localStorage key of one closed hint: `kez-dismissed:<what>:<own primary>`. */
export function dismissedKey(what: string, primary: string): string {
  return `kez-dismissed:${what}:${primary}`;
}

function browserStorage(): FlagStorage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // a sandboxed frame throws on the mere access
  }
}

/** Whether the user closed `what`. */
export function isDismissed(what: string, primary: string, storage: FlagStorage | null = browserStorage()): boolean {
  try {
    return storage?.getItem(dismissedKey(what, primary)) === '1';
  } catch {
    return false;
  }
}

/** Remember (or, with `on` false, forget) that the user closed `what`. */
export function setDismissed(what: string, primary: string, on: boolean, storage: FlagStorage | null = browserStorage()): void {
  try {
    if (on) storage?.setItem(dismissedKey(what, primary), '1');
    else storage?.removeItem(dismissedKey(what, primary));
  } catch {
    /* quota or private mode: the hint shows again next time */
  }
}
