// The screenshot set (issue 13): onboarding's phrase step, the chat list, a
// thread with a few messages and Settings, on a desktop (1280×800) and a
// phone (390×844, touch), each in light and dark, as
// `shot-<view>-<desktop|phone>-<light|dark>.png` in the artifacts directory.
// sam (desktop) and tess (phone) sign up and trade a few messages. Last in
// the run: it checks the console once more (these pages included).
import { join } from 'node:path';
import { artifacts, assert, checkConsole, conversation, log, watch, DOMAIN } from '../helpers.mjs';
import { quickSignUp } from './onboard.mjs';

const SIZES = {
  desktop: { viewport: { width: 1280, height: 800 } },
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
};
const LINES = ['Lunch tomorrow at noon? 🍜', 'Sure! The usual place by the river', 'Perfect, see you there 👋'];

/**
 * Both colour schemes of the current view.
 * @param {import('playwright-core').Page} page @param {string} view @param {'desktop' | 'phone'} size
 */
async function shots(page, view, size) {
  for (const scheme of /** @type {const} */ (['light', 'dark'])) {
    await page.emulateMedia({ colorScheme: scheme });
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    // The dark theme exists: body turns slate-950, light stays slate-50.
    assert(scheme === 'dark' ? bg !== 'rgb(248, 250, 252)' && bg !== 'rgb(255, 255, 255)' : bg !== 'rgb(2, 6, 23)', `${view} ${size} ${scheme}: body ${bg}`);
    // Colour transitions finish first (else a button is caught half way); long views whole.
    const path = join(artifacts, `shot-${view}-${size}-${scheme}.png`);
    await page.screenshot({ path, animations: 'disabled', fullPage: view === 'onboarding' || view === 'settings' });
  }
  await page.emulateMedia({ colorScheme: null });
}

/** @param {import('../helpers.mjs').Run} t @param {'desktop' | 'phone'} size @param {string} handle */
async function person(t, size, handle) {
  const ctx = await t.browser.newContext(SIZES[size]);
  const page = await ctx.newPage();
  page.setDefaultTimeout(20_000);
  watch(t, page, handle);
  await page.goto(t.base + '/');
  await page.getByRole('link', { name: 'Create a new identity' }).click();
  await page.locator('[data-word]').first().waitFor();
  await shots(page, 'onboarding', size);
  await page.getByRole('link', { name: 'Cancel' }).click();
  await page.getByRole('link', { name: 'Create a new identity' }).waitFor();
  await quickSignUp(page, handle, `${handle} screenshot passphrase`);
  return { ctx, page };
}

/** @param {import('playwright-core').Page} page @param {string} text */
async function send(page, text) {
  await page.locator('#composer').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('[data-message][data-dir="out"] [data-body]').getByText(text).waitFor();
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'screenshots: desktop + phone, light + dark',
  async run(t) {
    const sam = await person(t, 'desktop', 'sam');
    const tess = await person(t, 'phone', 'tess');
    const S = sam.page;
    const T = tess.page;
    await S.locator('#start-chat').fill(`tess@${DOMAIN}`);
    await S.getByRole('button', { name: 'Chat', exact: true }).click();
    await send(S, LINES[0]);
    await conversation(T, 'sam').click();
    await T.locator('[data-message][data-dir="in"] [data-body]').getByText(LINES[0]).waitFor();
    await send(T, LINES[1]);
    await S.locator('[data-message][data-dir="in"] [data-body]').getByText(LINES[1]).waitFor();
    await send(S, LINES[2]);
    await T.locator('[data-message][data-dir="in"] [data-body]').getByText(LINES[2]).waitFor();
    await S.locator('[data-message][data-dir="out"][data-state="delivered"]').last().waitFor();

    for (const [size, page] of /** @type {const} */ ([['desktop', S], ['phone', T]])) {
      await shots(page, 'thread', size);
      await page.goto(t.base + '/#/chats');
      await conversation(page, size === 'desktop' ? 'tess' : 'sam').waitFor();
      await shots(page, 'chats', size);
      await page.goto(t.base + '/#/settings');
      await page.getByRole('heading', { name: 'Settings' }).waitFor();
      await shots(page, 'settings', size);
    }
    log('screenshots: onboarding, chats, thread, settings × desktop/phone × light/dark');
    await sam.ctx.close();
    await tess.ctx.close();
    checkConsole(t.errors);
  },
};
