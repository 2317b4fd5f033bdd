// Onboarding backup (issue 13): olga copies the phrase (the clipboard holds
// exactly the 24 words), downloads it (kez-recovery-<key>.txt: one line of
// what it is + the words), opens "I saved it" but answers "Not yet", then
// chooses "Later". The chat list shows the reminder, also after a reload;
// Settings leads with "Back up your recovery phrase": after the passphrase,
// a download named after her handle, then the 3-word check, end it. omar
// downloads at sign-up and confirms "I saved it": no reminder pending.
import { readFileSync } from 'node:fs';
import { assert, log, openWindow, shot, DOMAIN } from '../helpers.mjs';

const PASS = 'olga later backup please';

/** @param {import('playwright-core').Page} page @param {import('playwright-core').Locator} button */
async function download(page, button) {
  const [dl] = await Promise.all([page.waitForEvent('download'), button.click()]);
  const path = await dl.path();
  return { name: dl.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'onboarding backup: copy, download, later, reminder',
  async run(t) {
    const { ctx, page: P } = await openWindow(t, 'olga');
    await P.getByRole('link', { name: 'Create a new identity' }).click();
    await P.locator('[data-word]').first().waitFor(); // the screen is loaded on demand
    const words = await P.locator('[data-word]').allTextContents();
    assert(words.length === 24, '24 words');
    const phrase = words.join(' ');

    await P.getByRole('button', { name: 'Copy words' }).click();
    await P.getByRole('button', { name: 'Copied' }).waitFor();
    const clip = await P.evaluate(() => navigator.clipboard.readText());
    assert(clip === phrase, 'the clipboard holds exactly the phrase');
    await P.getByText('Other apps on this device can read the clipboard').waitFor();

    const first = await download(P, P.getByRole('button', { name: 'Download as a file' }));
    assert(/^kez-recovery-[0-9a-f]{8}\.txt$/.test(first.name), `file name before a handle exists: ${first.name}`);
    const lines = first.text.split('\n');
    assert(lines.length === 3 && lines[1] === phrase && lines[2] === '', 'the file is one line + the words');
    assert(/^kez-chat recovery phrase \(24 words\)/.test(lines[0]), 'the first line says what it is');
    log('olga: phrase copied and downloaded');

    // "I saved it" asks first; "Not yet" goes back; then "Later". At sign-up it is not the main
    // button: Continue (the word check) is (review r13 #14).
    const savedClass = (await P.getByRole('button', { name: 'I saved it' }).getAttribute('class')) ?? '';
    assert(savedClass.includes('btn-secondary') && !savedClass.includes('btn-primary'), `"I saved it" is secondary at sign-up, got ${savedClass}`);
    await P.getByRole('button', { name: 'I saved it' }).click();
    await P.getByRole('button', { name: 'Not yet' }).click();
    await P.getByRole('button', { name: 'Later: remind me to back up' }).click();
    await P.locator('#new-passphrase').fill(PASS);
    await P.locator('#confirm-passphrase').fill(PASS);
    await P.getByRole('button', { name: 'Create identity' }).click();
    await register(P, 'olga');
    await P.getByTestId('backup-reminder').waitFor();
    await P.reload();
    await P.getByTestId('backup-reminder').getByRole('heading', { name: 'Back up your recovery phrase' }).waitFor();
    await shot(P, 'shot-backup-reminder-desktop-light.png', { fullPage: false });
    log('olga: "Later" leaves a reminder in the chat list, also after a reload');

    // Settings: the card comes first, the phrase needs the passphrase.
    await P.getByTestId('backup-reminder').getByRole('link', { name: 'Back up now' }).click();
    const card = P.locator('[data-testid="phrase-settings"][data-pending="true"]');
    await card.getByRole('heading', { name: 'Back up your recovery phrase' }).waitFor();
    await card.getByRole('button', { name: 'Reveal recovery phrase' }).click();
    await P.locator('#reveal-passphrase').fill(PASS);
    await P.getByRole('button', { name: 'Show phrase' }).click();
    await P.getByRole('list', { name: 'Recovery phrase' }).waitFor();
    const second = await download(P, card.getByRole('button', { name: 'Download as a file' }));
    assert(second.name === 'kez-recovery-olga.txt', `file name with the handle: ${second.name}`);
    assert(second.text === first.text, 'same content');
    // Written down instead: the words hide and three are asked for (a wrong one first).
    await card.getByRole('button', { name: 'I wrote them down: check' }).click();
    assert((await P.getByRole('list', { name: 'Recovery phrase' }).count()) === 0, 'the words are hidden during the check');
    const inputs = P.locator('input[data-position]');
    await inputs.nth(0).fill('notaword');
    await P.getByRole('button', { name: 'Confirm' }).click();
    await P.getByText(/doesn’t match/).waitFor();
    for (let i = 0; i < 3; i++) await inputs.nth(i).fill(words[Number(await inputs.nth(i).getAttribute('data-position')) - 1]);
    await P.getByRole('button', { name: 'Confirm' }).click();
    await P.locator('[data-testid="phrase-settings"][data-pending="false"]').getByRole('heading', { name: 'Recovery phrase' }).waitFor();
    const rec = /** @type {any} */ (await readKV(P, 'backup:'));
    assert(rec && rec.pending === false && rec.how === 'quiz' && rec.deferred_at && rec.done_at, `backup record: ${JSON.stringify(rec)}`);
    await P.goto(t.base + '/#/chats');
    await P.getByTestId('my-kez').waitFor();
    await P.reload();
    await P.getByTestId('my-kez').waitFor();
    assert((await P.getByTestId('backup-reminder').count()) === 0, 'no reminder once backed up');
    log('olga: backed up from Settings (the 3-word check); the reminder is gone');
    await ctx.close();

    // omar: downloads at sign-up and confirms "I saved it": no reminder, no quiz.
    const omar = await openWindow(t, 'omar');
    const O = omar.page;
    await O.getByRole('link', { name: 'Create a new identity' }).click();
    await download(O, O.getByRole('button', { name: 'Download as a file' }));
    await O.getByRole('button', { name: 'I saved it' }).click();
    await O.getByRole('button', { name: 'Yes, they’re saved' }).click();
    await O.locator('#new-passphrase').fill(PASS);
    await O.locator('#confirm-passphrase').fill(PASS);
    await O.getByRole('button', { name: 'Create identity' }).click();
    // Not registered (the per-IP registration budget is small): the record is written at creation.
    await O.getByRole('heading', { name: 'Pick your handle' }).waitFor();
    const orec = /** @type {any} */ (await readKV(O, 'backup:'));
    assert(orec && orec.pending === false && orec.how === 'saved' && !orec.deferred_at, `omar's record: ${JSON.stringify(orec)}`);
    log('omar: "I saved it" at sign-up, no reminder pending');
    await omar.ctx.close();
  },
};

/**
 * The first clear IndexedDB record whose key starts with `prefix` (backup:, passkey:).
 * @param {import('playwright-core').Page} page @param {string} prefix
 */
export function readKV(page, prefix) {
  return page.evaluate(
    (prefix) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('kez-chat');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const store = open.result.transaction('kv').objectStore('kv');
          const keys = store.getAllKeys();
          keys.onsuccess = () => {
            const k = keys.result.find((k) => String(k).startsWith(prefix));
            if (k === undefined) {
              open.result.close();
              return resolve(null);
            }
            const v = store.get(k);
            v.onsuccess = () => {
              open.result.close();
              resolve(v.result);
            };
          };
        };
      }),
    prefix,
  );
}

/**
 * Register `handle` from "Pick your handle". The server allows 5
 * registrations per IP per minute (`--register-rate-per-minute`) and every
 * scenario signs up from 127.0.0.1: on "Too many attempts" it tries again
 * every 5 s, for 75 s at most (the bucket refills one per 12 s).
 * @param {import('playwright-core').Page} page @param {string} handle
 */
export async function register(page, handle) {
  await page.getByRole('heading', { name: 'Pick your handle' }).waitFor();
  await page.locator('#handle').fill(handle);
  const done = page.getByTestId('my-kez').getByText(`${handle}@${DOMAIN}`);
  const limited = page.getByText('Too many attempts in a short time.');
  const until = Date.now() + 75_000;
  for (;;) {
    await page.getByRole('button', { name: 'Register' }).click();
    await done.or(limited).first().waitFor();
    if (await done.isVisible()) return;
    assert(Date.now() < until, `registering ${handle}: still rate-limited after 75 s`);
    await page.waitForTimeout(5000);
  }
}

/**
 * Sign up without the 3-word check: "Download as a file" → "I saved it" →
 * "Yes" (or "Later" when `later`), the passphrase, then `register`.
 * @param {import('playwright-core').Page} page @param {string} handle @param {string} pass @param {boolean} [later]
 */
export async function quickSignUp(page, handle, pass, later = false) {
  await page.getByRole('link', { name: 'Create a new identity' }).click();
  if (later) {
    await page.getByRole('button', { name: 'Later: remind me to back up' }).click();
  } else {
    await page.getByRole('button', { name: 'Copy words' }).click();
    await page.getByRole('button', { name: 'I saved it' }).click();
    await page.getByRole('button', { name: 'Yes, they’re saved' }).click();
  }
  await page.locator('#new-passphrase').fill(pass);
  await page.locator('#confirm-passphrase').fill(pass);
  await page.getByRole('button', { name: 'Create identity' }).click();
  await register(page, handle);
}
