// Words for the live connection's state (SPEC §7.4): the Messages list's
// footer, and an open thread's header on a phone, where the footer is hidden.
import { ApiError } from './api';
import type { LiveStatus } from './inbox';

/** Shown when the server refuses the inbox signature as stale (SPEC §7.2 ±300 s). */
export const CLOCK_PROBLEM =
  'Can’t receive messages: this device’s clock looks wrong. Set the correct date and time, and messages will arrive.';

/** The footer's sentence for the live connection (Messages list). */
export function liveStatusText(live: LiveStatus, problem: string | null): string {
  switch (live) {
    case 'live':
      return 'live';
    case 'reconnecting':
      return 'reconnecting…';
    case 'paused':
      return 'paused (live in another tab)';
    case 'auth_failed':
      return problem ?? CLOCK_PROBLEM;
    case 'connecting':
      return 'connecting…';
  }
}

/**
 * The same for an open thread's header on a phone, where the list and its
 * footer are hidden: nothing while live (the normal case needs no words
 * and the header no clutter), otherwise the footer's words — including the
 * whole clock sentence, since nothing arrives until the user fixes it.
 */
export function threadLiveText(live: LiveStatus, problem: string | null): string | null {
  return live === 'live' ? null : liveStatusText(live, problem);
}

/**
 * The sentence an inbox error leaves for the footer, or undefined when it
 * changes nothing: only a 401 says why live delivery is refused (a stale
 * signature means the device clock is off).
 */
export function liveProblemFor(e: unknown): string | undefined {
  if (!(e instanceof ApiError) || e.status !== 401) return undefined;
  return e.code === 'stale_auth' ? CLOCK_PROBLEM : e.message;
}
