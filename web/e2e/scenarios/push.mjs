// Web Push in a real (persistent) profile, user dave: the nudge is shown
// once and "Not now" survives a reload; with notifications granted, the
// Settings toggle calls `pushManager.subscribe` exactly once, which fails or
// hangs (no push service is reachable here) and, after at most the client's
// 20 s timeout, the toggle says so in a sentence; two empty pushes delivered
// through DevTools show exactly one "New message" notification.
import { rmSync } from 'node:fs';
import { assert, launchProfile, log, shot, signUp, tempProfile, watch } from '../helpers.mjs';

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').BrowserContext} BrowserContext */

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'push nudge, toggle and notification (persistent profile)',
  async run(t) {
    const profile = tempProfile();
    const ctx = await launchProfile(profile);
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      page.setDefaultTimeout(20_000);
      watch(t, page, 'dave');
      await page.goto(t.base + '/');
      await signUp(page, 'dave', 'dave long enough passphrase');
      await nudgeOnce(page, t.base);
      await ctx.grantPermissions(['notifications'], { origin: t.base });
      await toggleFails(page, t.base);
      await pushesCollapse(ctx, page, t.base);
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
};

/**
 * No permission overrides in this profile: notifications are "default", so
 * the Messages page nudges once; "Not now" is remembered across reloads.
 * @param {Page} page @param {string} base
 */
async function nudgeOnce(page, base) {
  const nudge = page.getByTestId('push-nudge');
  await nudge.getByRole('button', { name: 'Turn on' }).waitFor();
  await shot(page, '4a-push-nudge.png');
  await nudge.getByRole('button', { name: 'Not now' }).click();
  await nudge.waitFor({ state: 'detached' });
  await page.reload();
  await page.goto(base + '/#/settings');
  await page.locator('[data-testid="push-toggle"]:not([data-state="checking"])').waitFor();
  await page.goto(base + '/#/chats');
  await page.getByTestId('my-kez').waitFor();
  assert((await page.getByTestId('push-nudge').count()) === 0, 'dismissed push nudge stays dismissed after a reload');
  log('dave: push nudge shown once, "Not now" remembered');
}

/** @param {Page} page @param {string} base */
async function toggleFails(page, base) {
  await page.goto(base + '/#/settings');
  const toggle = page.getByRole('switch', { name: 'Notifications' });
  await page.locator('[data-testid="push-toggle"][data-state="off"]').waitFor();
  assert((await toggle.getAttribute('aria-checked')) === 'false', 'toggle starts off');
  const calls = await page.evaluate(() => {
    // Count subscribe calls (the page's own code path), leaving them unchanged.
    const proto = PushManager.prototype;
    const orig = proto.subscribe;
    /** @type {any} */ (window).__subscribeCalls = 0;
    proto.subscribe = function (...args) {
      /** @type {any} */ (window).__subscribeCalls++;
      return orig.apply(this, args);
    };
    return /** @type {any} */ (window).__subscribeCalls;
  });
  assert(calls === 0, 'no subscribe yet');
  await toggle.click();
  // subscribe either fails at once or hangs until the client's 20 s timeout.
  const err = page.getByTestId('push-error');
  await err.waitFor({ timeout: 40_000 });
  const text = (await err.textContent())?.trim() ?? '';
  assert(/push service/.test(text), `friendly push error, got ${JSON.stringify(text)}`);
  assert((await page.evaluate(() => /** @type {any} */ (window).__subscribeCalls)) === 1, 'pushManager.subscribe was called once');
  assert((await toggle.getAttribute('aria-checked')) === 'false', 'toggle stays off');
  await shot(page, '5a-settings-push-error.png', { fullPage: true });
  log(`dave: toggle → pushManager.subscribe → "${text}"`);
}

/**
 * The worker's push handler, fed through DevTools (no push service needed):
 * two empty pushes → one generic notification (same tag).
 * @param {BrowserContext} ctx @param {Page} page @param {string} base
 */
async function pushesCollapse(ctx, page, base) {
  const cdp = await ctx.newCDPSession(page);
  /** @type {{registrationId: string, scopeURL: string, isDeleted: boolean}[]} */
  const regs = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => regs.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  for (let i = 0; i < 50 && !regs.some((r) => r.scopeURL === `${base}/` && !r.isDeleted); i++) await page.waitForTimeout(100);
  const reg = regs.find((r) => r.scopeURL === `${base}/` && !r.isDeleted);
  if (!reg) throw new Error('DevTools sees no service worker registration at /');
  for (let i = 0; i < 2; i++) {
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: base, registrationId: reg.registrationId, data: '' });
  }
  const notifications = () =>
    page.evaluate(async () =>
      (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag })),
    );
  /** @type {{title: string, body: string, tag: string}[]} */
  let shown = [];
  for (let i = 0; i < 50 && shown.length === 0; i++) {
    await page.waitForTimeout(100);
    shown = await notifications();
  }
  await page.waitForTimeout(300);
  shown = await notifications();
  assert(shown.length === 1, `two pushes collapse into one notification (got ${JSON.stringify(shown)})`);
  assert(shown[0].title === 'New message' && shown[0].tag === 'kez-chat-new-message', `generic notification, got ${JSON.stringify(shown[0])}`);
  log(`dave: empty pushes → one "${shown[0].title}" notification (tag ${shown[0].tag})`);
}
