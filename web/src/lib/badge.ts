// The unread count on the installed app's icon (Badging API: Chromium
// desktop apps, Safari Home Screen apps). Elsewhere it is absent and this
// does nothing.
import type { SessionStatus } from './session.svelte';

/** The part of `navigator` used here (both methods missing = unsupported). */
export interface BadgeNavigator {
  setAppBadge?: (contents?: number) => Promise<void>;
  clearAppBadge?: () => Promise<void>;
}

/** What `appBadgeCount` looks at: `Session` fits. */
export interface BadgeSource {
  status: SessionStatus;
  elsewhere: boolean;
  chat: { totalUnread: number } | null;
}

/**
 * The badge for this tab's state, or null to leave it alone. Locked (or no
 * identity): cleared, so the icon doesn't advertise a count nobody here can
 * read. A tab waiting while another one is active (or still loading) leaves
 * it to the active tab, or opening a second tab would wipe the count.
 */
export function appBadgeCount(s: BadgeSource): number | null {
  if (s.status === 'locked' || s.status === 'new') return 0;
  if (s.status !== 'unlocked' || s.elsewhere || !s.chat) return null;
  return s.chat.totalUnread;
}

export class AppBadge {
  /** What this page last asked for; null = nothing yet (the first set also clears a stale badge). */
  #shown: number | null = null;
  readonly #nav: BadgeNavigator | undefined;

  constructor(nav: BadgeNavigator | undefined = typeof navigator === 'undefined' ? undefined : navigator) {
    this.#nav = nav;
  }

  /** `n` unread on the icon, 0 clears it. Calls the API only on a change; never throws or logs. */
  set(n: number): void {
    const nav = this.#nav;
    if (!nav || typeof nav.setAppBadge !== 'function' || typeof nav.clearAppBadge !== 'function') return;
    const count = Math.max(0, Math.floor(n));
    if (count === this.#shown) return;
    this.#shown = count;
    try {
      // Refusals (e.g. Safari without notification permission) are not worth a console error.
      void (count > 0 ? nav.setAppBadge(count) : nav.clearAppBadge()).catch(() => undefined);
    } catch {
      /* a synchronous throw from an odd implementation */
    }
  }
}
