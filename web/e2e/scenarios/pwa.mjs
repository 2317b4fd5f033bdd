// The installable app: the service worker is active at scope `/` (`/sw.js`,
// JavaScript, not immutable); `<link rel=manifest>` points to a JSON manifest
// with the installability fields and icons that load at their declared
// sizes. With notifications denied (alice's context grants only the
// clipboard) there is no nudge and the Settings toggle says why it's off.
import { assert, log, shot } from '../helpers.mjs';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'service worker + manifest, push blocked',
  async run(t) {
    const { page, ctx } = t.alice;
    await checkServiceWorker(page, ctx, t.base);
    await checkManifest(page, ctx, t.base);
    // Playwright denies every permission not granted (only clipboard here), so
    // notifications are "denied": no nudge, and the toggle says why it's disabled.
    await expectPushBlocked(page, t.base);
    log('alice: notifications blocked → no nudge, toggle disabled with the reason');
    await page.getByTestId('empty-state').getByText('End-to-end encrypted chat').waitFor();
    await shot(page, '4-empty-state.png');
  },
};

/**
 * @param {import('playwright-core').Page} page
 * @param {import('playwright-core').BrowserContext} ctx
 * @param {string} base
 */
async function checkServiceWorker(page, ctx, base) {
  const sw = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    const w = reg.active;
    if (w && w.state !== 'activated') await new Promise((r) => w.addEventListener('statechange', () => w.state === 'activated' && r(null)));
    return { scope: reg.scope, state: reg.active?.state, url: reg.active?.scriptURL, push: 'pushManager' in reg };
  });
  assert(sw.scope === `${base}/`, `service worker scope is / (got ${sw.scope})`);
  assert(sw.state === 'activated', `service worker active (got ${sw.state})`);
  assert(sw.url === `${base}/sw.js`, `service worker script /sw.js (got ${sw.url})`);
  assert(sw.push, 'registration has a pushManager');
  const swRes = await ctx.request.get(`${base}/sw.js`);
  assert(swRes.status() === 200 && /javascript/.test(swRes.headers()['content-type'] ?? ''), '/sw.js served as JavaScript');
  assert(!/immutable/.test(swRes.headers()['cache-control'] ?? ''), '/sw.js is not cached as immutable');
}

/**
 * The web app manifest is linked, served as JSON with the installability
 * fields, and every icon in it (and the apple-touch-icon) loads.
 * @param {import('playwright-core').Page} page
 * @param {import('playwright-core').BrowserContext} ctx
 * @param {string} base
 */
async function checkManifest(page, ctx, base) {
  const links = await page.evaluate(() => ({
    manifest: /** @type {HTMLLinkElement | null} */ (document.querySelector('link[rel="manifest"]'))?.href ?? null,
    apple: /** @type {HTMLLinkElement | null} */ (document.querySelector('link[rel="apple-touch-icon"]'))?.href ?? null,
  }));
  const manifestUrl = links.manifest ?? '';
  assert(manifestUrl === `${base}/manifest.webmanifest`, `<link rel=manifest> → /manifest.webmanifest (got ${links.manifest})`);
  const res = await ctx.request.get(manifestUrl);
  assert(res.status() === 200, `manifest 200 (got ${res.status()})`);
  const type = res.headers()['content-type'] ?? '';
  assert(/^application\/(manifest\+)?json/.test(type), `manifest content-type JSON (got ${type})`);
  const m = await res.json();
  for (const f of ['name', 'short_name', 'start_url', 'display', 'theme_color', 'background_color']) {
    assert(typeof m[f] === 'string' && m[f], `manifest has ${f}`);
  }
  assert(m.display === 'standalone', 'manifest display standalone');
  assert(Array.isArray(m.icons) && m.icons.length > 0, 'manifest has icons');
  /** @type {{src: string, sizes: string, type?: string, purpose?: string}[]} */
  const icons = m.icons;
  const sizes = icons.flatMap((i) => i.sizes.split(/\s+/));
  assert(sizes.includes('192x192') && sizes.includes('512x512'), 'icons of 192 and 512 px');
  assert(icons.some((i) => (i.purpose ?? '').split(/\s+/).includes('maskable')), 'a maskable icon');
  const urls = [...icons.map((i) => new URL(i.src, manifestUrl).href), ...(links.apple ? [links.apple] : [])];
  assert(links.apple, '<link rel=apple-touch-icon>');
  for (const url of urls) {
    const icon = icons.find((i) => new URL(i.src, manifestUrl).href === url);
    await checkIcon(ctx, url, icon?.sizes);
  }
  log(`PWA: service worker active at /, manifest ok, ${urls.length} icons load`);
}

/**
 * @param {import('playwright-core').BrowserContext} ctx
 * @param {string} url
 * @param {string} [declared]  the manifest's `sizes`, if it lists this icon
 */
async function checkIcon(ctx, url, declared) {
  const r = await ctx.request.get(url);
  const t = r.headers()['content-type'] ?? '';
  assert(r.status() === 200 && t.startsWith('image/'), `icon ${url}: 200 image/* (got ${r.status()} ${t})`);
  if (t === 'image/png') {
    const b = await r.body();
    assert(b.subarray(1, 4).toString('latin1') === 'PNG', `${url} is a PNG`);
    const wh = `${b.readUInt32BE(16)}x${b.readUInt32BE(20)}`;
    if (declared !== undefined) assert(declared.split(/\s+/).includes(wh), `${url} is ${declared} (got ${wh})`);
  }
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} base
 */
async function expectPushBlocked(page, base) {
  await page.goto(base + '/#/settings');
  await page.locator('[data-testid="push-toggle"]:not([data-state="checking"])').waitFor();
  const toggle = page.getByRole('switch', { name: 'Notifications' });
  assert(await toggle.isDisabled(), 'push toggle disabled when notifications are blocked');
  assert((await toggle.getAttribute('aria-checked')) === 'false', 'push toggle off');
  await page.getByTestId('push-unavailable').getByText(/blocked for this site/).waitFor();
  await page.goto(base + '/#/chats');
  await page.getByTestId('my-kez').waitFor();
  assert((await page.getByTestId('push-nudge').count()) === 0, 'no push nudge when notifications are blocked');
}
