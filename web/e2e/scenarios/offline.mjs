// Offline: the service worker has cached the page and the app's script (no
// API answer); opening `/icon-192.png` in a tab (also a navigation) leaves
// them alone; a live page going offline stops saying "live" at once;
// offline, the app opens from the cache with the history kept
// on this device, and on a phone-sized window with the thread open the
// header shows the connection state the hidden list footer would, until
// the app is live again online.
import { assert, conversation, log, shot } from '../helpers.mjs';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'offline app from the service worker cache',
  async run(t) {
    const B3 = t.bob.page;
    const shell = await checkShellCache(t);
    // A live page that loses the network says so at once (the browser's
    // `offline` event), not once its dead stream times out (TODO #213).
    await B3.locator('[data-live="live"]').waitFor();
    await t.bob.ctx.setOffline(true);
    await B3.locator('[data-live="reconnecting"]').waitFor({ timeout: 5_000 });
    log('bob: a live page went offline and stopped saying "live" at once');
    await B3.goto(t.base + '/');
    await conversation(B3, 'alice').click();
    await B3.locator('[data-message][data-dir="in"] [data-body]').getByText('to your other tab').waitFor();
    assert((await B3.locator('[data-live="live"]').count()) === 0, 'not live while offline');
    await shot(B3, '8-offline.png');
    // A screen loaded on demand (its own chunk, never opened in this tab) comes from the precache too.
    await B3.evaluate(() => (location.hash = '#/settings'));
    await B3.locator('[data-testid="push-toggle"]').waitFor();
    await B3.evaluate(() => history.back());
    await B3.locator('[data-message][data-dir="in"] [data-body]').getByText('to your other tab').waitFor();
    log('bob: offline, Settings (loaded on demand) opens from the precache');
    // Phone-sized with the thread open: the list's status footer is hidden, so the thread header says it.
    await B3.setViewportSize({ width: 390, height: 780 });
    const headerStatus = B3.getByTestId('thread-live-status');
    await headerStatus.waitFor();
    assert((await headerStatus.getAttribute('data-state')) !== 'live', 'the thread header shows the offline state');
    assert(!(await B3.getByTestId('live-status').isVisible()), 'the footer is hidden on a phone with a thread open');
    await shot(B3, '8b-offline-phone.png');
    await t.bob.ctx.setOffline(false);
    await headerStatus.waitFor({ state: 'detached', timeout: 90_000 }); // live: nothing to say
    assert((await B3.locator('[data-live="live"]').count()) === 1, 'live again (footer hidden but there)');
    await B3.setViewportSize({ width: 1100, height: 760 });
    await B3.locator('[data-live="live"]').waitFor();
    log(`bob: offline, the app opens from the service worker cache (${shell.keys.length} files) with its history; live again online`);
  },
};

/**
 * The page and the app's script are cached, no API answer is; opening a
 * file in a tab is a navigation too, but only an HTML answer may become the
 * cached page (a PNG under '/' would also prune every asset).
 * @param {import('../helpers.mjs').Run} t
 */
async function checkShellCache(t) {
  const B3 = t.bob.page;
  const shell = await B3.evaluate(async () => {
    const cache = await caches.open('kez-chat-shell-v1');
    const keys = (await cache.keys()).map((r) => new URL(r.url).pathname);
    const script = /** @type {HTMLScriptElement | null} */ (document.querySelector('script[src*="/assets/"]'));
    return { keys, script: script ? new URL(script.src).pathname : null };
  });
  assert(shell.keys.includes('/'), `the page is cached (got ${shell.keys.join(', ')})`);
  assert(shell.script && shell.keys.includes(shell.script), `the app's script is cached (${shell.script})`);
  assert(!shell.keys.some((k) => k.startsWith('/v1/')), 'no API response is cached');
  // Every built asset is precached at install (sw.js's list), the chunks loaded with import() too.
  const sw = await (await t.bob.ctx.request.get(t.base + '/sw.js')).text();
  const listed = /** @type {string[]} */ (JSON.parse(/const PRECACHE = (\[.*\]);/.exec(sw)?.[1] ?? '[]'));
  assert(listed.length > 3 && listed.some((f) => /\/kit-/.test(f)), `sw.js lists the lazy chunks (got ${listed.length} files)`);
  const missing = listed.filter((f) => !shell.keys.includes(f));
  assert(missing.length === 0, `every listed asset is cached (missing ${missing.join(', ')})`);
  const iconTab = await t.bob.ctx.newPage();
  const icon = await iconTab.goto(t.base + '/icon-192.png');
  assert(icon?.ok() && (icon.headers()['content-type'] ?? '').startsWith('image/png'), 'the icon opens in a tab');
  await iconTab.close();
  const afterIcon = await B3.evaluate(async (script) => {
    const cache = await caches.open('kez-chat-shell-v1');
    const page = await cache.match('/');
    return {
      type: page?.headers.get('Content-Type') ?? null,
      root: (await page?.text())?.includes('<div id="app">') ?? false,
      script: script ? Boolean(await cache.match(script)) : false,
    };
  }, shell.script);
  assert(afterIcon.root && afterIcon.type?.startsWith('text/html'), `the cached page is still the app's (${afterIcon.type})`);
  assert(afterIcon.script, `the app's script is still cached after opening the icon`);
  log('bob: opening /icon-192.png in a tab leaves the cached page and its assets alone');
  return shell;
}
