// Web Push, the browser side: what PushController needs from the browser
// (faked in tests), and the real thing over navigator and the service worker.
import { detectSupport, withTimeout, type PushSupport } from './push';

/** What the controller needs from the browser (faked in tests). */
export interface PushPlatform {
  support(): PushSupport;
  permission(): NotificationPermission;
  requestPermission(): Promise<NotificationPermission>;
  /** The active service worker registration (scope `/`), or null when there is none. */
  registration(): Promise<Pick<ServiceWorkerRegistration, 'pushManager'> | null>;
}

let registering: Promise<ServiceWorkerRegistration | null> | null = null;

/** Register `/sw.js` (scope `/`) once; null when unavailable. Never logs or throws. */
export function registerServiceWorker(): Promise<ServiceWorkerRegistration | null> {
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) return Promise.resolve(null);
  registering ??= navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => null);
  return registering;
}

export function browserPlatform(): PushPlatform {
  return {
    support: () =>
      detectSupport({
        userAgent: navigator.userAgent,
        platform: navigator.platform ?? '',
        maxTouchPoints: navigator.maxTouchPoints ?? 0,
        standalone:
          matchMedia('(display-mode: standalone)').matches || (navigator as Navigator & { standalone?: boolean }).standalone === true,
        secure: window.isSecureContext,
        hasServiceWorker: 'serviceWorker' in navigator,
        hasPushManager: 'PushManager' in window,
        hasNotification: 'Notification' in window,
      }),
    permission: () => ('Notification' in window ? Notification.permission : 'denied'),
    requestPermission: () => Notification.requestPermission(),
    registration: async () => {
      const reg = await registerServiceWorker();
      if (!reg) return null;
      // pushManager.subscribe needs an active worker; `ready` waits for activation.
      return reg.active ? reg : withTimeout(navigator.serviceWorker.ready, 10_000).catch(() => null);
    },
  };
}
