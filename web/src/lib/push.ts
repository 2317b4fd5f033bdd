// Web Push, the pure parts (SPEC §10): what this browser can do, what the
// self-heal check should do, whether to nudge, and plain sentences for the
// errors the Push API throws. The stateful side is push.svelte.ts.
import { ApiError } from './api';
import { bytesEqual, fromB64url } from './bytes';

/** The user's choice on this device; null = never decided (auto-enable / nudge apply). */
export type PushPref = 'on' | 'off';

/**
 * `supported`: service worker + PushManager + Notification.
 * `ios-install`: iOS/iPadOS browser tab; push works only from a Home Screen app.
 * `unsupported`: no Push API here.
 * `insecure`: the page isn't https (nor localhost), so there is no Push API.
 * `server-off`: the browser could, but this server has no push endpoints.
 */
export type PushSupport = 'supported' | 'ios-install' | 'unsupported' | 'insecure' | 'server-off';

export interface PlatformFacts {
  userAgent: string;
  platform: string;
  maxTouchPoints: number;
  /** `display-mode: standalone` or `navigator.standalone` (iOS). */
  standalone: boolean;
  /** `window.isSecureContext` */
  secure: boolean;
  hasServiceWorker: boolean;
  hasPushManager: boolean;
  hasNotification: boolean;
}

/** iPhone, iPod, or an iPad (which says "Macintosh" but has a touch screen). */
export function isIOS(f: Pick<PlatformFacts, 'userAgent' | 'platform' | 'maxTouchPoints'>): boolean {
  if (/\b(iPhone|iPad|iPod)\b/.test(f.userAgent)) return true;
  return (f.platform === 'MacIntel' || /\bMacintosh\b/.test(f.userAgent)) && f.maxTouchPoints > 1;
}

export function detectSupport(f: PlatformFacts): PushSupport {
  // On iOS, push exists only for an installed web app (iOS 16.4+), so a
  // browser tab gets the "Add to Home Screen" hint even if it has the APIs.
  if (isIOS(f) && !f.standalone) return 'ios-install';
  if (f.hasServiceWorker && f.hasPushManager && f.hasNotification) return 'supported';
  return f.secure ? 'unsupported' : 'insecure';
}

/** Whether a subscription was made with the server's current VAPID key. */
export function sameServerKey(subKey: ArrayBuffer | null | undefined, serverKey: string, storedKey?: string | null): boolean {
  if (subKey && subKey.byteLength > 0) {
    try {
      return bytesEqual(new Uint8Array(subKey), fromB64url(serverKey));
    } catch {
      return false;
    }
  }
  // Browsers without PushSubscription.options: compare with the key we used.
  // Unknown counts as a match, or every boot would make a new subscription.
  return storedKey ? storedKey === serverKey : true;
}

export interface HealInput {
  permission: NotificationPermission;
  pref: PushPref | null;
  /** The browser holds a push subscription for this site. */
  browserSub: boolean;
  /** That subscription uses the server's current VAPID key (ignored without one). */
  keyMatches: boolean;
  /** The server's answer for that endpoint; null = not asked yet. */
  serverSubscribed: boolean | null;
}

/**
 * `nothing`; `check`: ask the server, then decide again with its answer;
 * `post`: re-send the existing subscription; `subscribe`: make one and send it;
 * `resubscribe`: drop the old one (VAPID key changed), make a new one, send it;
 * `drop`: push is off here but the browser still has a subscription — withdraw it.
 */
export type HealAction = 'nothing' | 'check' | 'post' | 'subscribe' | 'resubscribe' | 'drop';

/** The self-heal decision run on every boot/unlock (browser sub × server answer × key match). */
export function healAction(i: HealInput): HealAction {
  // Without permission nothing can be shown; the browser drops subscriptions itself.
  if (i.permission !== 'granted') return 'nothing';
  // Auto-enable: permission granted before and never turned off on this device.
  const wanted = i.pref === 'on' || i.pref === null;
  if (!wanted) return i.browserSub ? 'drop' : 'nothing';
  if (!i.browserSub) return 'subscribe';
  if (!i.keyMatches) return 'resubscribe';
  if (i.serverSubscribed === null) return 'check';
  return i.serverSubscribed ? 'nothing' : 'post';
}

export interface NudgeInput {
  support: PushSupport;
  permission: NotificationPermission;
  pref: PushPref | null;
  /** Already asked or dismissed once on this device. */
  nudged: boolean;
}

/** The Messages banner: `ask` (turn on notifications), `install` (iOS hint) or nothing. */
export function nudgeKind(i: NudgeInput): 'none' | 'ask' | 'install' {
  if (i.nudged || i.pref !== null) return 'none';
  if (i.support === 'ios-install') return 'install';
  if (i.support !== 'supported') return 'none';
  return i.permission === 'default' ? 'ask' : 'none';
}

/** Why the toggle can't be used, or null. */
export function unavailableReason(support: PushSupport, permission: NotificationPermission): string | null {
  switch (support) {
    case 'ios-install':
      return 'On iPhone and iPad, notifications work only from the installed app: tap Share, then “Add to Home Screen”, and open kez-chat from there.';
    case 'unsupported':
      return 'This browser doesn’t support push notifications.';
    case 'insecure':
      return 'Notifications need a secure (https) connection to this site.';
    case 'server-off':
      return 'This server doesn’t send push notifications.';
    case 'supported':
      return permission === 'denied'
        ? 'Notifications are blocked for this site. Allow them in your browser’s site settings to turn this on.'
        : null;
  }
}

/**
 * What Settings' Lock section says about notifications. Locking only forgets
 * the key here: the server still pushes for every new message and the worker
 * still shows its generic "New message", so say so rather than let "locked"
 * sound like "silent".
 */
export function lockNotificationText(subscribed: boolean): string {
  return subscribed
    ? 'Notifications keep coming while locked: this device still gets “New message” (never who wrote or what). Turn Notifications off above first if you want it quiet.'
    : 'Notifications are off on this device, so nothing arrives while it’s locked.';
}

export class PushTimeoutError extends Error {
  constructor() {
    super('push subscription timed out');
    this.name = 'PushTimeoutError';
  }
}

export class PermissionNotGrantedError extends Error {
  constructor(public readonly permission: NotificationPermission) {
    super(`notification permission ${permission}`);
    this.name = 'PermissionNotGrantedError';
  }
}

const UNREACHABLE =
  'Your browser couldn’t reach its push service, so notifications can’t be turned on right now. Check your connection and try again later.';

/** A plain sentence for whatever enabling/disabling push threw. */
export function pushErrorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof PermissionNotGrantedError) {
    return e.permission === 'denied'
      ? 'Notifications are blocked for this site. Allow them in your browser’s site settings, then try again.'
      : 'Allow notifications when your browser asks, to turn them on.';
  }
  if (e instanceof PushTimeoutError) return UNREACHABLE;
  const name = (e as { name?: unknown } | null)?.name;
  switch (name) {
    case 'NotAllowedError':
      return 'Notifications are blocked for this site. Allow them in your browser’s site settings, then try again.';
    case 'NotSupportedError':
      return 'This browser doesn’t support push notifications.';
    case 'InvalidStateError':
      return 'The notification helper isn’t running yet. Reload the page and try again.';
    case 'InvalidAccessError':
      return 'This server’s push key isn’t usable by your browser.';
    default:
      // AbortError ("push service error / not available"), network trouble…
      return UNREACHABLE;
  }
}

/** Rejects with PushTimeoutError after `ms` (the promise itself keeps running). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new PushTimeoutError()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
