#!/usr/bin/env node
// End-to-end test in real Chromium against the real server binary.
//
//   KEZ_SERVER_BIN  server binary (default ../target/debug/kez-chat-server)
//   CHROMIUM        browser binary (default: `which chromium`)
//   KEZ_ARTIFACTS   screenshot directory (default ../test-artifacts)
//   KEZ_E2E_COLOR_SCHEME=dark  run with prefers-color-scheme: dark
//
// Serves web/dist (run `vite build` first; `npm run e2e` does).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const web = resolve(here, '..');
const serverBin = resolve(web, process.env.KEZ_SERVER_BIN ?? '../target/debug/kez-chat-server');
const artifacts = resolve(web, process.env.KEZ_ARTIFACTS ?? '../test-artifacts');
const dist = join(web, 'dist');
const DOMAIN = 'kez.test';
const PASS = { alice: 'alice correct horse battery', bob: 'bob staple paper clip' };
const TEXT1 = 'Hello Bob 👋 — this one is sealed 🔐 ünïcödé';
const TEXT2 = 'Hi Alice! Got it, loud and clear ✓';

const chromiumPath =
  process.env.CHROMIUM ??
  (() => {
    try {
      return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
    } catch {
      return '/usr/bin/chromium';
    }
  })();

/** @param {string} msg */
function log(msg) {
  console.log(`[e2e] ${msg}`);
}

/** @param {unknown} cond @param {string} msg */
function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

if (!existsSync(join(dist, 'index.html'))) throw new Error(`${dist}/index.html missing — run \`npm run build\``);
if (!existsSync(serverBin)) throw new Error(`server binary ${serverBin} missing (set KEZ_SERVER_BIN)`);

// ---- server ------------------------------------------------------------------
const tmp = mkdtempSync(join(tmpdir(), 'kez-e2e-'));
const dbPath = join(tmp, 'kez.db');
// KEZ_E2E_EMBEDDED=1: the binary was built with --features embed-web and serves
// its built-in copy of the client (the shipping shape), so no --web-dir.
const webArgs = process.env.KEZ_E2E_EMBEDDED === '1' ? [] : ['--web-dir', dist];
const server = spawn(serverBin, ['--bind', '127.0.0.1:0', '--db', dbPath, '--server', DOMAIN, ...webArgs], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', NO_COLOR: '1' },
});
let serverLog = '';
/** @type {Promise<string>} */
const baseUrl = new Promise((resolveUrl, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not report its address:\n${serverLog}`)), 15_000);
  /** @param {Buffer} chunk */
  const onData = (chunk) => {
    serverLog += chunk.toString();
    // eslint-disable-next-line no-control-regex
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serverLog.replace(/\x1b\[[0-9;]*m/g, ''));
    if (m) {
      clearTimeout(timer);
      resolveUrl(m[1]);
    }
  };
  server.stderr.on('data', onData);
  server.stdout.on('data', onData);
  server.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${serverLog}`)));
});

/** @type {import('playwright-core').Browser | undefined} */
let browser;
/** @type {{ who: string, text: string, url: string }[]} */
const consoleErrors = [];
/** Console errors we deliberately provoke (an HTTP 409 from a taken handle). */
// 409: the taken handle; ERR_INTERNET_DISCONNECTED: API calls during the offline step.
const expectedErrors = [/status of 409/, /ERR_INTERNET_DISCONNECTED/];

async function main() {
  const base = await baseUrl;
  log(`server at ${base}, db ${dbPath}`);
  mkdirSync(artifacts, { recursive: true });

  const b = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  browser = b;

  /** @param {string} who */
  async function openWindow(who) {
    const ctx = await b.newContext({
      viewport: { width: 1100, height: 760 },
      colorScheme: process.env.KEZ_E2E_COLOR_SCHEME === 'dark' ? 'dark' : 'light',
    });
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await ctx.newPage();
    page.setDefaultTimeout(20_000);
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push({ who, text: msg.text(), url: msg.location().url });
    });
    page.on('pageerror', (err) => consoleErrors.push({ who, text: `pageerror: ${err.message}`, url: '' }));
    await page.goto(base + '/');
    return { ctx, page };
  }

  /** Create an identity (phrase → confirm 3 words → passphrase) and register `handle`. */
  async function signUp(/** @type {import('playwright-core').Page} */ page, /** @type {string} */ handle, /** @type {string} */ pass, taken = '', shots = false) {
    if (shots) await page.screenshot({ path: join(artifacts, '1-welcome.png') });
    await page.getByRole('link', { name: 'Create a new identity' }).click();
    const words = await page.locator('[data-word]').allTextContents();
    assert(words.length === 24, `24 words shown, got ${words.length}`);
    if (shots) await page.screenshot({ path: join(artifacts, '2-recovery-phrase.png') });
    await page.getByLabel('I’ve written these words down in order.').check();
    await page.getByRole('button', { name: 'Continue' }).click();
    const inputs = page.locator('input[data-position]');
    assert((await inputs.count()) === 3, 'asks for 3 words');
    // A wrong word is refused first.
    await inputs.nth(0).fill('notaword');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText(/doesn’t match/).waitFor();
    for (let i = 0; i < 3; i++) {
      const pos = Number(await inputs.nth(i).getAttribute('data-position'));
      await inputs.nth(i).fill(words[pos - 1]);
    }
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('#new-passphrase').fill(pass);
    await page.locator('#confirm-passphrase').fill(pass);
    await page.getByRole('button', { name: 'Create identity' }).click();
    await page.getByRole('heading', { name: 'Pick your handle' }).waitFor();

    // Client-side check: reserved handle.
    await page.locator('#handle').fill('admin');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText('That handle is reserved. Please pick another one.').waitFor();
    if (shots) await page.screenshot({ path: join(artifacts, '3-register-error.png') });
    if (taken) {
      // Server-side error code shown as a sentence next to the field.
      await page.locator('#handle').fill(taken);
      await page.getByRole('button', { name: 'Register' }).click();
      await page.getByText('Someone already has that handle. Try another one.').waitFor();
    }
    await page.locator('#handle').fill(handle);
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByTestId('my-kez').getByText(`${handle}@${DOMAIN}`).waitFor();
    await page.locator('[data-live="live"]').waitFor();
    return words;
  }

  const A = await openWindow('alice');
  const B = await openWindow('bob');

  await signUp(A.page, 'alice', PASS.alice, '', true);
  log('alice registered');
  await checkPwa(A.page, A.ctx, base);

  // Playwright denies every permission not granted (only clipboard here), so
  // notifications are "denied": no nudge, and the toggle says why it's disabled.
  await expectPushBlocked(A.page, base);
  log('alice: notifications blocked → no nudge, toggle disabled with the reason');
  await A.page.getByTestId('empty-state').getByText('End-to-end encrypted chat').waitFor();
  await A.page.screenshot({ path: join(artifacts, '4-empty-state.png') });
  await signUp(B.page, 'bob', PASS.bob, 'alice');
  log('bob registered (after being told "alice" is taken)');

  // Alice starts a chat: first herself (refused), then bob.
  await A.page.locator('#start-chat').fill('alice');
  await A.page.getByRole('button', { name: 'Chat', exact: true }).click();
  await A.page.getByText(/That’s you!/).waitFor();
  await A.page.locator('#start-chat').fill(`bob@${DOMAIN}`);
  await A.page.getByRole('button', { name: 'Chat', exact: true }).click();
  await A.page.getByTestId('thread-title').getByText(`bob@${DOMAIN}`).waitFor();

  // Send with Enter; Shift+Enter makes a newline.
  const composerA = A.page.locator('#composer');
  await composerA.fill(TEXT1);
  await composerA.press('Enter');
  const firstA = A.page.locator('[data-message][data-dir="out"]').first();
  await firstA.locator('[data-body]').getByText(TEXT1).waitFor();
  await A.page.locator('[data-message][data-dir="out"][data-state="sent"], [data-message][data-dir="out"][data-state="delivered"]').first().waitFor();
  log('alice: message sent');

  // Bob sees it live, under alice's handle, with an unread pill.
  const convB = B.page.locator(`[data-testid="conversation"][data-peer="alice@${DOMAIN}"]`);
  await convB.waitFor();
  await convB.getByTestId('unread').getByText('1').waitFor();
  await convB.getByText(TEXT1.slice(0, 20)).waitFor();
  await convB.click();
  await B.page.locator('[data-message][data-dir="in"] [data-body]').getByText(TEXT1).waitFor();
  assert((await convB.getByTestId('unread').count()) === 0, 'unread pill cleared on open');
  log('bob: received and decrypted');

  // Bob replies (multi-line via Shift+Enter).
  const composerB = B.page.locator('#composer');
  await composerB.click();
  await composerB.pressSequentially('Hi Alice!');
  await composerB.press('Shift+Enter');
  await composerB.pressSequentially(TEXT2.replace('Hi Alice! ', ''));
  await composerB.press('Enter');
  const expectedReply = 'Hi Alice!\n' + TEXT2.replace('Hi Alice! ', '');
  await B.page.locator('[data-message][data-dir="out"][data-state="sent"], [data-message][data-dir="out"][data-state="delivered"]').first().waitFor();

  // Alice sees the reply live and her first message becomes "delivered".
  await A.page.locator('[data-message][data-dir="in"] [data-body]').filter({ hasText: 'loud and clear' }).waitFor();
  const replyText = await A.page.locator('[data-message][data-dir="in"] [data-body]').first().evaluate((el) => el.firstChild?.textContent ?? '');
  assert(replyText === expectedReply, `reply text with newline, got ${JSON.stringify(replyText)}`);
  await A.page.locator('[data-message][data-dir="out"][data-state="delivered"]').first().waitFor();
  log('alice: reply received, first message delivered');
  // Bob's reply gets delivered too (alice has the thread open → immediate ack).
  await B.page.locator('[data-message][data-dir="out"][data-state="delivered"]').first().waitFor();

  await A.page.screenshot({ path: join(artifacts, 'alice.png') });
  await B.page.screenshot({ path: join(artifacts, 'bob.png') });

  // Reload bob: the persistent session restores, history is there.
  await B.page.reload();
  await B.page.locator(`[data-message][data-dir="in"] [data-body]`).getByText(TEXT1).waitFor();
  log('bob: history survives a reload (persistent session)');

  // Lock, reload, wrong passphrase refused, right one unlocks with history.
  await B.page.goto(base + '/#/settings');
  const toggleB = B.page.getByRole('switch', { name: 'Notifications' });
  await toggleB.waitFor();
  assert(await toggleB.isDisabled(), 'push toggle disabled when notifications are blocked');
  await B.page.getByTestId('push-unavailable').getByText(/blocked for this site/).waitFor();
  await B.page.getByRole('button', { name: 'Reveal recovery phrase' }).click();
  await B.page.locator('#reveal-passphrase').fill('wrong wrong wrong');
  await B.page.getByRole('button', { name: 'Show phrase' }).click();
  await B.page.getByText('That passphrase doesn’t unlock this identity.').waitFor();
  await B.page.locator('#reveal-passphrase').fill(PASS.bob);
  await B.page.getByRole('button', { name: 'Show phrase' }).click();
  await B.page.getByRole('list', { name: 'Recovery phrase' }).waitFor();
  const bobWords = (await B.page.getByRole('list', { name: 'Recovery phrase' }).locator('li').allTextContents()).map((t) =>
    t.replace(/^\s*\d+/, '').trim(),
  );
  assert(bobWords.length === 24, 'settings reveals 24 words');
  await B.page.screenshot({ path: join(artifacts, '5-settings.png'), fullPage: true });
  await B.page.getByRole('button', { name: 'Lock now' }).click();
  await B.page.getByRole('heading', { name: 'Welcome back' }).waitFor();
  // Locked: the browser's IndexedDB holds history only sealed (SPEC §8.2).
  const idb = await B.page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('kez-chat');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('kv').objectStore('kv').getAll();
          all.onerror = () => reject(all.error);
          all.onsuccess = () => {
            const bytes = (/** @type {Uint8Array} */ u) => Array.from(u, (c) => String.fromCharCode(c)).join('');
            const dump = JSON.stringify(all.result, (_k, v) => (v instanceof Uint8Array ? bytes(v) : v));
            const sealed = all.result.filter((v) => v && v.kez_sealed === 1).length;
            open.result.close();
            resolve({ dump, sealed });
          };
        };
      }),
  );
  assert(idb.sealed >= 3, `sealed chat records in IndexedDB (got ${idb.sealed})`);
  for (const n of ['Hello Bob', 'loud and clear']) assert(!idb.dump.includes(n), `IndexedDB holds "${n}" in clear`);
  log(`bob (locked): IndexedDB holds ${idb.sealed} sealed chat records and no message text`);
  await B.page.reload();
  await B.page.getByRole('heading', { name: 'Welcome back' }).waitFor();
  await B.page.locator('#passphrase').fill('definitely not it');
  await B.page.getByRole('button', { name: 'Unlock' }).click();
  await B.page.getByText('That passphrase doesn’t unlock this identity.').waitFor();
  await B.page.screenshot({ path: join(artifacts, '6-unlock-wrong-passphrase.png') });
  log('bob: wrong passphrase refused');
  await B.page.locator('#passphrase').fill(PASS.bob);
  await B.page.getByRole('button', { name: 'Unlock' }).click();
  await B.page.locator(`[data-testid="conversation"][data-peer="alice@${DOMAIN}"]`).click();
  await B.page.locator('[data-message][data-dir="in"] [data-body]').getByText(TEXT1).waitFor();
  await B.page.locator('[data-message][data-dir="out"] [data-body]').filter({ hasText: 'loud and clear' }).waitFor();
  await B.page.locator('[data-live="live"]').waitFor();
  log('bob: unlocked with the right passphrase, history intact');

  // A message sent while bob's tab is closed arrives on the next open.
  await B.page.close();
  await composerA.fill('while you were away');
  await composerA.press('Enter');
  await A.page.locator('[data-message][data-dir="out"][data-state="sent"]').filter({ hasText: 'while you were away' }).waitFor();
  const B2 = await B.ctx.newPage();
  B2.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ who: 'bob', text: msg.text(), url: msg.location().url });
  });
  B2.on('pageerror', (err) => consoleErrors.push({ who: 'bob', text: `pageerror: ${err.message}`, url: '' }));
  await B2.goto(base + '/');
  await B2.locator(`[data-testid="conversation"][data-peer="alice@${DOMAIN}"]`).getByTestId('unread').getByText('1').waitFor();
  log('bob: offline message arrived on next open');

  // Phone-sized viewport.
  await B2.setViewportSize({ width: 390, height: 780 });
  await B2.locator(`[data-testid="conversation"][data-peer="alice@${DOMAIN}"]`).click();
  await B2.locator('[data-message] [data-body]').getByText('while you were away').waitFor();
  await B2.screenshot({ path: join(artifacts, 'bob-phone.png') });
  await A.page.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: 'while you were away' }).waitFor();
  await A.page.screenshot({ path: join(artifacts, 'alice-final.png') });

  // One active tab per identity (Web Locks): a second tab of bob's (same
  // profile, same IndexedDB) waits; "Use here" moves him there, and the first
  // tab stops and shows the same notice.
  const B3 = await B.ctx.newPage();
  B3.setDefaultTimeout(20_000);
  B3.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ who: 'bob (tab 2)', text: msg.text(), url: msg.location().url });
  });
  B3.on('pageerror', (err) => consoleErrors.push({ who: 'bob (tab 2)', text: `pageerror: ${err.message}`, url: '' }));
  await B3.goto(base + '/');
  const otherTab = (/** @type {import('playwright-core').Page} */ p) => p.getByRole('heading', { name: 'KEZ is open in another tab' });
  await otherTab(B3).waitFor();
  assert((await B3.getByTestId('my-kez').count()) === 0, 'the waiting tab shows no chats');
  assert((await B2.locator('[data-live="live"]').count()) === 1, 'the first tab stays live while the second waits');
  await B3.screenshot({ path: join(artifacts, '7-open-in-another-tab.png') });
  log('bob, second tab: "KEZ is open in another tab"');
  await B3.getByRole('button', { name: 'Use here' }).click();
  await otherTab(B2).waitFor();
  assert((await B2.locator('[data-message]').count()) === 0, 'the displaced tab no longer shows the history');
  assert((await B2.getByTestId('live-status').count()) === 0, 'the displaced tab has no inbox connection');
  const convB3 = B3.locator(`[data-testid="conversation"][data-peer="alice@${DOMAIN}"]`);
  await convB3.waitFor();
  await B3.locator('[data-live="live"]').waitFor();
  await composerA.fill('to your other tab');
  await composerA.press('Enter');
  await convB3.getByTestId('unread').getByText('1').waitFor();
  await convB3.click();
  await B3.locator('[data-message][data-dir="in"] [data-body]').getByText('to your other tab').waitFor();
  await B3.locator('[data-message][data-dir="in"] [data-body]').getByText('while you were away').waitFor();
  await B3.locator('[data-message][data-dir="out"] [data-body]').filter({ hasText: 'loud and clear' }).waitFor();
  await A.page.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: 'to your other tab' }).waitFor();
  assert((await B2.locator('[data-message]').count()) === 0, 'the displaced tab stays stopped');
  log('bob: "Use here" moved him to the second tab (history there, live); the first tab stopped');

  // Offline: the app opens from the service worker's cache and shows the
  // history kept on this device; back online it goes live again.
  const shell = await B3.evaluate(async () => {
    const cache = await caches.open('kez-chat-shell-v1');
    const keys = (await cache.keys()).map((r) => new URL(r.url).pathname);
    const script = /** @type {HTMLScriptElement | null} */ (document.querySelector('script[src*="/assets/"]'));
    return { keys, script: script ? new URL(script.src).pathname : null };
  });
  assert(shell.keys.includes('/'), `the page is cached (got ${shell.keys.join(', ')})`);
  assert(shell.script && shell.keys.includes(shell.script), `the app's script is cached (${shell.script})`);
  assert(!shell.keys.some((k) => k.startsWith('/v1/')), 'no API response is cached');
  // Opening a file in a tab is a navigation too: only an HTML answer may
  // become the cached page (a PNG under '/' would also prune every asset).
  const iconTab = await B.ctx.newPage();
  const icon = await iconTab.goto(base + '/icon-192.png');
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
  await B.ctx.setOffline(true);
  await B3.goto(base + '/');
  await convB3.click();
  await B3.locator('[data-message][data-dir="in"] [data-body]').getByText('to your other tab').waitFor();
  assert((await B3.locator('[data-live="live"]').count()) === 0, 'not live while offline');
  await B3.screenshot({ path: join(artifacts, '8-offline.png') });
  // Phone-sized with the thread open: the list's status footer is hidden, so the thread header says it.
  await B3.setViewportSize({ width: 390, height: 780 });
  const headerStatus = B3.getByTestId('thread-live-status');
  await headerStatus.waitFor();
  assert((await headerStatus.getAttribute('data-state')) !== 'live', 'the thread header shows the offline state');
  assert(!(await B3.getByTestId('live-status').isVisible()), 'the footer is hidden on a phone with a thread open');
  await B3.screenshot({ path: join(artifacts, '8b-offline-phone.png') });
  await B.ctx.setOffline(false);
  await headerStatus.waitFor({ state: 'detached', timeout: 90_000 }); // live: nothing to say
  assert((await B3.locator('[data-live="live"]').count()) === 1, 'live again (footer hidden but there)');
  await B3.setViewportSize({ width: 1100, height: 760 });
  await B3.locator('[data-live="live"]').waitFor();
  log(`bob: offline, the app opens from the service worker cache (${shell.keys.length} files) with its history; live again online`);

  // "Verify": alice reads bob's full key in blocks of 4; bob's Settings shows the same.
  await A.page.getByRole('button', { name: 'Verify', exact: true }).click();
  const aliceSees = ((await A.page.getByTestId('verify-key').textContent()) ?? '').replace(/\s+/g, ' ').trim();
  await A.page.screenshot({ path: join(artifacts, 'alice-verify-key.png') });
  await B3.goto(base + '/#/settings');
  const bobHas = ((await B3.getByTestId('primary').textContent()) ?? '').replace(/\s+/g, ' ').trim();
  // Notifications are blocked for bob, so Lock says nothing will arrive while locked.
  await B3.getByTestId('lock-notifications').getByText('Notifications are off on this device', { exact: false }).waitFor();
  assert(/^ed25519:( [0-9a-f]{4}){16}$/.test(aliceSees.replace('ed25519:', 'ed25519: ')), `key in 16 blocks of 4, got ${JSON.stringify(aliceSees)}`);
  assert(aliceSees === bobHas, `alice's "Verify" matches bob's Settings (${aliceSees} vs ${bobHas})`);
  assert((await A.page.getByTestId('key-changed').count()) === 0, 'no key-change warning for a first contact');
  await B3.goto(base + '/#/chats');
  log('alice: "Verify" shows bob\'s key in blocks of 4, the same as in his Settings');

  // A directory that suddenly gives "bob" another key (a reset, or a lying
  // server) doesn't open a second, identical-looking chat unannounced.
  const otherKey = 'ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'; // RFC 8032 test 1
  await A.page.route('**/v1/u/bob', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ handle: 'bob', fqhn: `bob@${DOMAIN}`, primary: otherKey, registered_at: '2026-01-01T00:00:00Z' }),
    }),
  );
  await A.page.locator('#start-chat').fill('bob');
  await A.page.getByRole('button', { name: 'Chat', exact: true }).click();
  const changed = `bob@${DOMAIN}’s key changed since you last talked. Only continue if bob told you they reset their identity.`;
  await A.page.getByTestId('start-chat-notice').getByText(changed).waitFor();
  await A.page.getByTestId('key-changed').getByText(changed).waitFor();
  await A.page.getByRole('button', { name: 'Verify the new key' }).click();
  const shown = ((await A.page.getByTestId('verify-key').textContent()) ?? '').replace(/\s+/g, '');
  assert(shown === otherKey, `"Verify" shows the new key (${shown})`);
  assert((await A.page.getByTestId('key-changed-mark').count()) === 1, 'the new conversation is marked in the list, the old one not');
  await A.page.screenshot({ path: join(artifacts, 'alice-key-changed.png') });
  await A.page.getByRole('button', { name: /confirmed it/ }).click();
  await A.page.getByTestId('key-changed').waitFor({ state: 'detached' });
  await A.page.unroute('**/v1/u/bob');
  log('alice: a different key for "bob" → "key changed" warning, full key under "Verify"');

  // A fresh browser restores bob from his phrase: the handle is found on the
  // server and the inbox replays what is still stored there.
  const C = await openWindow('bob-restored');
  await C.page.getByRole('link', { name: 'I have a recovery phrase' }).click();
  await C.page.locator('#phrase').fill(bobWords.join(' '));
  await C.page.locator('#new-passphrase').fill('a new passphrase here');
  await C.page.locator('#confirm-passphrase').fill('a new passphrase here');
  await C.page.getByRole('button', { name: 'Restore' }).click();
  await C.page.getByTestId('my-kez').getByText(`bob@${DOMAIN}`).waitFor();
  await C.page.locator(`[data-testid="conversation"][data-peer="alice@${DOMAIN}"]`).click();
  await C.page.locator('[data-message][data-dir="in"] [data-body]').getByText(TEXT1).waitFor();
  log('bob restored from the recovery phrase in a fresh browser');

  // Push subscribe in a real (non-incognito) profile with notifications granted:
  // no push service is reachable here, so subscribe fails or times out, and the
  // toggle says so in a sentence. (Incognito contexts can't use push at all.)
  await checkPushToggle(base, signUp);

  // An iPhone browser tab (user agent only): push needs the Home Screen app there.
  const E = await b.newContext({
    viewport: { width: 390, height: 780 },
    colorScheme: process.env.KEZ_E2E_COLOR_SCHEME === 'dark' ? 'dark' : 'light',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  });
  const erin = await E.newPage();
  erin.setDefaultTimeout(20_000);
  erin.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ who: 'erin', text: msg.text(), url: msg.location().url });
  });
  erin.on('pageerror', (err) => consoleErrors.push({ who: 'erin', text: `pageerror: ${err.message}`, url: '' }));
  await erin.goto(base + '/');
  await signUp(erin, 'erin', 'erin long enough passphrase');
  const hint = erin.locator('[data-testid="push-nudge"][data-kind="install"]');
  await hint.getByText('Add to Home Screen', { exact: false }).waitFor();
  await erin.screenshot({ path: join(artifacts, '4b-push-ios-hint.png') });
  await hint.getByRole('button', { name: 'Got it' }).click();
  await hint.waitFor({ state: 'detached' });
  await erin.goto(base + '/#/settings');
  await erin.getByTestId('push-unavailable').getByText(/Add to Home Screen/).waitFor();
  assert(await erin.getByRole('switch', { name: 'Notifications' }).isDisabled(), 'iOS tab: toggle disabled');
  await E.close();
  log('erin (iPhone tab): "Add to Home Screen" hint, toggle disabled with the reason');

  // The server stored only ciphertext.
  const needles = [TEXT1, TEXT2, 'loud and clear', 'while you were away', 'to your other tab', 'ünïcödé'];
  /** @param {string} when */
  const checkDb = (when) => {
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      const f = dbPath + suffix;
      if (!existsSync(f)) continue;
      const bytes = readFileSync(f);
      for (const n of needles) assert(!bytes.includes(Buffer.from(n, 'utf8')), `${when}: ${f} contains "${n}"`);
    }
  };
  checkDb('while running');
  assert(existsSync(dbPath), 'database file exists');

  const unexpected = consoleErrors.filter((e) => !expectedErrors.some((re) => re.test(e.text)));
  if (unexpected.length) throw new Error(`console errors:\n${unexpected.map((e) => `  [${e.who}] ${e.text} ${e.url}`).join('\n')}`);
  log(`console: ${consoleErrors.length} expected error(s) (HTTP 409 for the taken handle, failed requests while offline), none unexpected`);

  await b.close();
  browser = undefined;
  await stopServer();
  checkDb('after shutdown');
  log(`screenshots in ${artifacts}`);
}

/**
 * The service worker is active at scope `/`, and the web app manifest is linked,
 * served as JSON with the installability fields, and every icon in it loads.
 * @param {import('playwright-core').Page} page
 * @param {import('playwright-core').BrowserContext} ctx
 * @param {string} base
 */
async function checkPwa(page, ctx, base) {
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
    const r = await ctx.request.get(url);
    const t = r.headers()['content-type'] ?? '';
    assert(r.status() === 200 && t.startsWith('image/'), `icon ${url}: 200 image/* (got ${r.status()} ${t})`);
    const icon = icons.find((i) => new URL(i.src, manifestUrl).href === url);
    if (t === 'image/png') {
      const b = await r.body();
      assert(b.subarray(1, 4).toString('latin1') === 'PNG', `${url} is a PNG`);
      const wh = `${b.readUInt32BE(16)}x${b.readUInt32BE(20)}`;
      if (icon) assert(icon.sizes.split(/\s+/).includes(wh), `${url} is ${icon.sizes} (got ${wh})`);
    }
  }
  log(`PWA: service worker active at /, manifest ok, ${urls.length} icons load`);
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

/**
 * @param {string} base
 * @param {(page: import('playwright-core').Page, handle: string, pass: string) => Promise<string[]>} signUp
 */
async function checkPushToggle(base, signUp) {
  const profile = mkdtempSync(join(tmpdir(), 'kez-e2e-profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1100, height: 760 },
    colorScheme: process.env.KEZ_E2E_COLOR_SCHEME === 'dark' ? 'dark' : 'light',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(20_000);
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push({ who: 'dave', text: msg.text(), url: msg.location().url });
    });
    page.on('pageerror', (err) => consoleErrors.push({ who: 'dave', text: `pageerror: ${err.message}`, url: '' }));
    await page.goto(base + '/');
    await signUp(page, 'dave', 'dave long enough passphrase');
    // No permission overrides in this profile: notifications are "default", so
    // the Messages page nudges once; "Not now" is remembered across reloads.
    const nudge = page.getByTestId('push-nudge');
    await nudge.getByRole('button', { name: 'Turn on' }).waitFor();
    await page.screenshot({ path: join(artifacts, '4a-push-nudge.png') });
    await nudge.getByRole('button', { name: 'Not now' }).click();
    await nudge.waitFor({ state: 'detached' });
    await page.reload();
    await page.goto(base + '/#/settings');
    await page.locator('[data-testid="push-toggle"]:not([data-state="checking"])').waitFor();
    await page.goto(base + '/#/chats');
    await page.getByTestId('my-kez').waitFor();
    assert((await page.getByTestId('push-nudge').count()) === 0, 'dismissed push nudge stays dismissed after a reload');
    log('dave: push nudge shown once, "Not now" remembered');

    await ctx.grantPermissions(['notifications'], { origin: base });
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
    await page.screenshot({ path: join(artifacts, '5a-settings-push-error.png'), fullPage: true });
    log(`dave: toggle → pushManager.subscribe → "${text}"`);

    // The worker's push handler, fed through DevTools (no push service needed):
    // two empty pushes → one generic notification (same tag).
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
    /** @type {{title: string, body: string, tag: string}[]} */
    let shown = [];
    for (let i = 0; i < 50 && shown.length === 0; i++) {
      await page.waitForTimeout(100);
      shown = await page.evaluate(async () =>
        (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag })),
      );
    }
    await page.waitForTimeout(300);
    shown = await page.evaluate(async () =>
      (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag })),
    );
    assert(shown.length === 1, `two pushes collapse into one notification (got ${JSON.stringify(shown)})`);
    assert(shown[0].title === 'New message' && shown[0].tag === 'kez-chat-new-message', `generic notification, got ${JSON.stringify(shown[0])}`);
    log(`dave: empty pushes → one "${shown[0].title}" notification (tag ${shown[0].tag})`);
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

async function stopServer() {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
}

try {
  await main();
  log('PASS');
} catch (err) {
  console.error(err);
  if (process.env.KEZ_E2E_VERBOSE) console.error(serverLog);
  process.exitCode = 1;
} finally {
  await browser?.close().catch(() => {});
  await stopServer();
  rmSync(tmp, { recursive: true, force: true });
}
