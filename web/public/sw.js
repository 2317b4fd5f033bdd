// kez-chat service worker: notifications, and an offline app shell.
//
// Pushes carry no payload (SPEC §10): the push service learns nothing, and
// there is nothing to read here. Every push shows the same generic
// notification — browsers (Safari in particular) revoke subscriptions whose
// pushes show nothing — and a shared `tag` collapses several into one.
//
// Offline: the app's own files are cached so an installed app opens without
// a network and shows the history kept on the device. Pages are fetched
// network-first (a new version is picked up at once), hashed /assets/ files
// cache-first; the API (/v1/, /.well-known/, /internal/) is never cached.
// Every /assets/ file of the build (PRECACHE, written in by vite.config.ts:
// the chunks the app loads on demand with import() as well) is fetched at
// install, so an installed app has all of itself offline, not only the parts
// it had opened before.
/* eslint-env serviceworker */
/// <reference lib="webworker" />
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

const TAG = 'kez-chat-new-message';
const SHELL = 'kez-chat-shell-v1';
const NEVER_CACHED = ['/v1/', '/.well-known/', '/internal/'];
/** @type {string[]} the build's /assets/ files; empty in `vite dev` */
const PRECACHE = [];

sw.addEventListener('install', (event) => {
  void sw.skipWaiting();
  event.waitUntil(precache());
});

/**
 * Fetches the page and the build's assets not cached yet. The page the
 * worker was installed from loaded before the worker existed, and the app
 * moves between screens without loading another page, so without this the
 * first session had no page to open offline (a new user on "nostr relays
 * only" could not open the app while the home server was down). A fetch
 * that fails (offline during the install) is left to the fetch handlers
 * below, so the worker still installs and the page keeps working.
 */
async function precache() {
  const cache = await caches.open(SHELL);
  await Promise.all([
    (async () => {
      try {
        const res = await fetch('/', { cache: 'no-cache' });
        if (isPage(res)) await cache.put('/', res);
      } catch {
        // kept by the next page load instead
      }
    })(),
    ...PRECACHE.map(async (path) => {
      if (await cache.match(path)) return;
      try {
        const res = await fetch(path);
        if (res.ok) await cache.put(path, res);
      } catch {
        // fetched on first use instead
      }
    }),
  ]);
}

/** Whether `res` may be kept as the app's page: a success, and HTML. @param {Response} res */
function isPage(res) {
  return res.ok && /^text\/html\b/i.test(res.headers.get('Content-Type') ?? '');
}

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== SHELL) await caches.delete(name);
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== sw.location.origin) return;
  if (NEVER_CACHED.some((p) => url.pathname.startsWith(p))) return;
  if (req.mode === 'navigate') event.respondWith(page(req));
  else if (url.pathname.startsWith('/assets/')) event.respondWith(asset(req));
  else event.respondWith(file(req));
});

/**
 * The SPA's page: network first; offline, the last one seen. Only an HTML
 * answer is kept as the page: a tab opened on /icon-192.png is a navigation
 * too, and storing the PNG under '/' (then pruning every asset it doesn't
 * mention) would leave the installed app nothing to open offline.
 * @param {Request} req
 */
async function page(req) {
  const cache = await caches.open(SHELL);
  try {
    const res = await fetch(req);
    if (isPage(res)) {
      const html = await res.clone().text();
      await cache.put('/', res.clone());
      await pruneAssets(cache, html);
    }
    return res;
  } catch (err) {
    const cached = await cache.match('/');
    if (cached) return cached;
    throw err;
  }
}

/** Hashed build output never changes under one name: cache first. @param {Request} req */
async function asset(req) {
  const cache = await caches.open(SHELL);
  const cached = await cache.match(req);
  if (cached) return cached;
  const res = await fetch(req);
  if (res.ok) await cache.put(req, res.clone());
  return res;
}

/** Icons, manifest and the like: network first, cached copy offline. @param {Request} req */
async function file(req) {
  const cache = await caches.open(SHELL);
  try {
    const res = await fetch(req);
    if (res.ok) await cache.put(req, res.clone());
    return res;
  } catch (err) {
    const cached = await cache.match(req);
    if (cached) return cached;
    throw err;
  }
}

/**
 * Drops cached /assets/ files neither the current page nor this build's
 * precache list uses (old versions); the chunks loaded on demand aren't in
 * the page. @param {Cache} cache @param {string} html
 */
async function pruneAssets(cache, html) {
  const used = new Set([...PRECACHE, ...Array.from(html.matchAll(/\/assets\/[^"'?#\s>]+/g), (m) => m[0])]);
  for (const key of await cache.keys()) {
    const path = new URL(key.url).pathname;
    if (path.startsWith('/assets/') && !used.has(path)) await cache.delete(key);
  }
}

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
