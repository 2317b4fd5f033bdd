import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const ORIGIN = 'https://kez.test';
const SW_SOURCE = readFileSync(resolve(__dirname, '../public/sw.js'), 'utf8');

/** One Cache of a fake CacheStorage, keyed by pathname (the worker only caches its own origin). */
class FakeCache {
  entries = new Map<string, Response>();
  #path = (key: string | { url: string }) => new URL(typeof key === 'string' ? key : key.url, ORIGIN).pathname;
  async put(key: string | { url: string }, res: Response) {
    this.entries.set(this.#path(key), res);
  }
  async match(key: string | { url: string }) {
    return this.entries.get(this.#path(key))?.clone();
  }
  async keys() {
    return [...this.entries.keys()].map((p) => new Request(ORIGIN + p));
  }
  async delete(key: string | { url: string }) {
    return this.entries.delete(this.#path(key));
  }
}

type Handler = (event: unknown) => void;

/** Runs public/sw.js against fakes; `site` is what the network answers (path → [Content-Type, body]). */
function loadWorker(site: Record<string, [string, string]>, source = SW_SOURCE) {
  const listeners: Record<string, Handler> = {};
  const cache = new FakeCache();
  const net = { online: true };
  const self = {
    location: { origin: ORIGIN },
    addEventListener: (type: string, fn: Handler) => (listeners[type] = fn),
    skipWaiting: async () => undefined,
  };
  const caches = { open: async () => cache, keys: async () => ['kez-chat-shell-v1'], delete: async () => true };
  const fetch = vi.fn(async (req: { url: string } | string) => {
    if (!net.online) throw new TypeError('Failed to fetch');
    const page = site[new URL(typeof req === 'string' ? req : req.url, ORIGIN).pathname];
    if (!page) return new Response('not found', { status: 404, headers: { 'Content-Type': 'text/plain' } });
    return new Response(page[1], { status: 200, headers: { 'Content-Type': page[0] } });
  });
  new Function('self', 'caches', 'fetch', source)(self, caches, fetch);

  /** Dispatch install like the browser, and wait for what it holds the install open for. */
  async function install(): Promise<void> {
    let held: Promise<unknown> = Promise.resolve();
    listeners.install({ waitUntil: (p: Promise<unknown>) => (held = p) });
    await held;
  }

  /** Dispatch a fetch event like the browser: what the worker answers. */
  async function get(path: string, mode: 'navigate' | 'no-cors' = 'navigate'): Promise<Response> {
    let answer: Promise<Response> | null = null;
    // Node's Request refuses mode 'navigate': the worker only reads these fields.
    const request = { method: 'GET', url: ORIGIN + path, mode };
    listeners.fetch({ request, respondWith: (p: Promise<Response>) => (answer = p) });
    if (!answer) throw new Error(`the worker did not answer ${path}`);
    return answer;
  }
  return { cache, net, get, install };
}

const INDEX = '<!doctype html><div id="app"></div><script type="module" src="/assets/index-abc123.js"></script>';

describe('service worker app shell', () => {
  it('keeps only HTML as the cached page: opening /icon-192.png in a tab neither replaces it nor prunes the assets', async () => {
    const { cache, net, get } = loadWorker({
      '/': ['text/html; charset=utf-8', INDEX],
      '/chats': ['text/html; charset=utf-8', INDEX], // a client-side route: the server answers index.html
      '/assets/index-abc123.js': ['text/javascript', 'console.log(1)'],
      '/icon-192.png': ['image/png', '\x89PNG'],
      '/manifest.webmanifest': ['application/manifest+json', '{}'],
    });
    await get('/');
    await get('/assets/index-abc123.js', 'no-cors');
    expect([...cache.entries.keys()].sort()).toEqual(['/', '/assets/index-abc123.js']);

    const icon = await get('/icon-192.png');
    expect(icon.headers.get('Content-Type')).toBe('image/png'); // the tab still shows it
    await get('/manifest.webmanifest');
    await get('/missing'); // 404: not a page either
    expect(await (await cache.match('/'))!.text()).toBe(INDEX);
    expect(cache.entries.has('/assets/index-abc123.js')).toBe(true);

    // Any HTML answer of a navigation is the app's page.
    await get('/chats');
    expect((await cache.match('/'))!.headers.get('Content-Type')).toMatch(/^text\/html/);

    // Offline, the installed app opens from the cache.
    net.online = false;
    const offline = await get('/');
    expect(await offline.text()).toBe(INDEX);
    expect(await (await get('/assets/index-abc123.js', 'no-cors')).text()).toBe('console.log(1)');
  });

  it('keeps the page at install, so the first session opens offline (the page it was installed from loaded before it existed)', async () => {
    const { cache, net, get, install } = loadWorker({ '/': ['text/html; charset=utf-8', INDEX] });
    await install();
    expect([...cache.entries.keys()]).toEqual(['/']);
    net.online = false;
    expect(await (await get('/chats')).text()).toBe(INDEX);
  });

  it('an install that gets no HTML page (an error, or offline) keeps the page it had', async () => {
    const { cache, net, install } = loadWorker({ '/': ['text/plain', 'maintenance'] });
    await cache.put('/', new Response(INDEX, { headers: { 'Content-Type': 'text/html' } }));
    await install();
    expect(await (await cache.match('/'))!.text()).toBe(INDEX);
    net.online = false;
    await install();
    expect(await (await cache.match('/'))!.text()).toBe(INDEX);
  });

  it('precaches the build assets at install (chunks loaded with import() too) and keeps them when the page is fetched', async () => {
    // vite.config.ts writes the build's list into dist/sw.js; the source's list is empty.
    expect(SW_SOURCE).toContain('const PRECACHE = [];');
    const lazy = '/assets/qr-def456.js';
    const source = SW_SOURCE.replace('const PRECACHE = [];', `const PRECACHE = ${JSON.stringify(['/assets/index-abc123.js', lazy, '/assets/gone-0.js'])};`);
    const { cache, net, get, install } = loadWorker(
      {
        '/': ['text/html; charset=utf-8', INDEX],
        '/assets/index-abc123.js': ['text/javascript', 'console.log(1)'],
        [lazy]: ['text/javascript', 'export const qr = 1'],
      },
      source,
    );
    await cache.put('/assets/index-old999.js', new Response('old'));
    await install(); // a 404 in the list (gone-0.js) doesn't fail the install
    expect(cache.entries.has(lazy)).toBe(true);
    await get('/'); // the page doesn't mention the lazy chunk: it stays; the old entry goes
    expect([...cache.entries.keys()].sort()).toEqual(['/', '/assets/index-abc123.js', lazy]);
    net.online = false;
    expect(await (await get(lazy, 'no-cors')).text()).toBe('export const qr = 1');
  });
});
