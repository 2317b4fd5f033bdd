// kez-chat service worker: notifications only (no caching, no fetch handler).
//
// Pushes carry no payload (SPEC §10): the push service learns nothing, and
// there is nothing to read here. Every push shows the same generic
// notification — browsers (Safari in particular) revoke subscriptions whose
// pushes show nothing — and a shared `tag` collapses several into one.
/* eslint-env serviceworker */
/// <reference lib="webworker" />
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

const TAG = 'kez-chat-new-message';

sw.addEventListener('install', () => {
  void sw.skipWaiting();
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(sw.clients.claim());
});

sw.addEventListener('push', (event) => {
  event.waitUntil(
    sw.registration.showNotification('New message', {
      body: 'Open kez-chat to read it.',
      tag: TAG,
      // Alert again for a new message even though it replaces the last one.
      renotify: true,
      icon: '/icon-192.png',
      badge: '/badge-72.png',
    }),
  );
});

sw.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const windows = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const app = windows.find((c) => new URL(c.url).origin === sw.location.origin);
      if (app) {
        await app.focus();
        return;
      }
      await sw.clients.openWindow('/');
    })(),
  );
});
