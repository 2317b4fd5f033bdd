// Shared by the end-to-end scenarios: paths and settings from the
// environment, the server process, the browser, windows that record console
// errors, sign-up, and the checks every run ends with (no plaintext in the
// database, no unexpected console error).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const web = resolve(here, '..');
export const serverBin = resolve(web, process.env.KEZ_SERVER_BIN ?? '../target/debug/kez-chat-server');
export const artifacts = resolve(web, process.env.KEZ_ARTIFACTS ?? '../test-artifacts');
export const dist = join(web, 'dist');
export const colorScheme = process.env.KEZ_E2E_COLOR_SCHEME === 'dark' ? 'dark' : 'light';
export const DOMAIN = 'kez.test';
export const PASS = { alice: 'alice correct horse battery', bob: 'bob staple paper clip' };
export const TEXT1 = 'Hello Bob 👋 — this one is sealed 🔐 ünïcödé';
export const TEXT2 = 'Hi Alice! Got it, loud and clear ✓';
/** Every message text the scenarios send: none may be stored in clear (add a scenario's new ones here). */
export const NEEDLES = [TEXT1, TEXT2, 'loud and clear', 'while you were away', 'to your other tab', 'ünïcödé', 'שלום עולם', 'first line on the phone', 'Receipt after a network drop', 'burst 0'];
/**
 * Console errors we deliberately provoke or that are answers, not faults: 409 for the taken handle;
 * ERR_INTERNET_DISCONNECTED, API calls during the offline step; 404 from a profile lookup of a
 * handle that published none (SPEC §14.5); 429 from message posts: every scenario posts from one
 * address, and a server run with lower `--message-rate-per-minute`/`--silent-rate-per-minute`
 * than the defaults makes the `burst` scenario meet the per-IP buckets (SPEC §7.5), which the
 * queue waits out (`Retry-After`). Matched against "<text> <url>".
 */
const EXPECTED_ERRORS = [
  /status of 409/,
  /ERR_INTERNET_DISCONNECTED/,
  /status of 404 \(Not Found\) \S+\/v1\/u\/[a-z0-9_-]+\/profile$/,
  // The Verify panel's reverse lookup of a key with no handle here (keys gives bob a mocked, unregistered key; SPEC §5).
  /status of 404 \(Not Found\) \S+\/v1\/by-primary\/ed25519%3A[0-9a-f]{64}$/,
  /status of 429 \(Too Many Requests\) \S+\/v1\/messages(\?notify=false)?$/,
  // The sign-ups of onboard/passkey/screens may meet the per-IP registration bucket; they wait and retry.
  /status of 429 \(Too Many Requests\) \S+\/v1\/register$/,
  // ops-phone refuses a reaction's post on purpose (a final 4xx no server sends: 418) to show its Retry.
  /status of 418 .*\/v1\/messages\?notify=false$/,
];

export const chromiumPath =
  process.env.CHROMIUM ??
  (() => {
    try {
      return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
    } catch {
      return '/usr/bin/chromium';
    }
  })();

/**
 * @typedef {import('playwright-core').Page} Page
 * @typedef {import('playwright-core').BrowserContext} BrowserContext
 * @typedef {{ who: string, text: string, url: string }} ConsoleError
 * @typedef {{ ctx: BrowserContext, page: Page }} Window  an isolated browser context and its current tab
 */

/**
 * What the scenarios share. They run in order on one server and one browser,
 * each starting from what the ones before left: `register` sets `alice` and
 * `bob`, later scenarios move `bob.page` to his current tab, `lock` records
 * the phrase he revealed.
 * @typedef {object} Run
 * @property {string} base        the server's origin, `http://127.0.0.1:<port>`
 * @property {string} dbPath      its SQLite file
 * @property {import('playwright-core').Browser} browser
 * @property {ConsoleError[]} errors  console errors of every page, checked by the last scenario
 * @property {Window} alice
 * @property {Window} bob
 * @property {string[]} bobWords  bob's 24 words as Settings revealed them
 * @property {string[]} aliceWords  alice's 24 words as sign-up showed them
 */

/**
 * @typedef {object} Scenario
 * @property {string} name  what a failure message names
 * @property {(t: Run) => Promise<void>} run
 */

/** @param {string} msg */
export function log(msg) {
  console.log(`[e2e] ${msg}`);
}

/** @param {unknown} cond @param {string} msg @returns {asserts cond} */
export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** Refuse to start without the built client or the server binary. */
export function preflight() {
  if (!existsSync(join(dist, 'index.html'))) throw new Error(`${dist}/index.html missing — run \`npm run build\``);
  if (!existsSync(serverBin)) throw new Error(`server binary ${serverBin} missing (set KEZ_SERVER_BIN)`);
}

/**
 * The real server on `127.0.0.1:0` with a fresh database in a temporary
 * directory, `--server kez.test`. `base` resolves from its `listening on`
 * log line (15 s at most). KEZ_E2E_EMBEDDED=1: the binary was built with
 * `--features embed-web` and serves its built-in copy of the client (the
 * shipping shape), so no `--web-dir`. `extraArgs` go after the others.
 */
export function startServer(extraArgs = /** @type {string[]} */ ([])) {
  const tmp = mkdtempSync(join(tmpdir(), 'kez-e2e-'));
  const dbPath = join(tmp, 'kez.db');
  const webArgs = process.env.KEZ_E2E_EMBEDDED === '1' ? [] : ['--web-dir', dist];
  const child = spawn(serverBin, ['--bind', '127.0.0.1:0', '--db', dbPath, '--server', DOMAIN, ...webArgs, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', NO_COLOR: '1' },
  });
  let output = '';
  /** @type {Promise<string>} */
  const base = new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not report its address:\n${output}`)), 15_000);
    /** @param {Buffer} chunk */
    const onData = (chunk) => {
      output += chunk.toString();
      // eslint-disable-next-line no-control-regex
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output.replace(/\x1b\[[0-9;]*m/g, ''));
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  /** SIGTERM, then SIGKILL after 5 s. */
  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  return { base, dbPath, stop, output: () => output, cleanup: () => rmSync(tmp, { recursive: true, force: true }) };
}

/** Headless Debian Chromium, without anything that phones home. */
export function launchBrowser() {
  return chromium.launch({
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
}

/**
 * A persistent profile (push needs one: incognito contexts can't use it and
 * Chromium logs an error if you try). Closing it is the caller's job.
 * @param {string} profile  a directory
 */
export function launchProfile(profile) {
  return chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1100, height: 760 },
    colorScheme,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

/** A fresh temporary directory for a browser profile. */
export function tempProfile() {
  return mkdtempSync(join(tmpdir(), 'kez-e2e-profile-'));
}

/**
 * Record `page`'s console errors and uncaught exceptions in `t.errors`.
 * @param {Run} t @param {Page} page @param {string} who
 */
export function watch(t, page, who) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') t.errors.push({ who, text: msg.text(), url: msg.location().url });
  });
  page.on('pageerror', (err) => t.errors.push({ who, text: `pageerror: ${err.message}`, url: '' }));
}

/**
 * An isolated context (desktop size, clipboard allowed, so notifications are
 * "denied") with one watched tab on the app.
 * @param {Run} t @param {string} who
 * @returns {Promise<Window>}
 */
export async function openWindow(t, who) {
  const ctx = await t.browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.base });
  const page = await ctx.newPage();
  page.setDefaultTimeout(20_000);
  watch(t, page, who);
  await page.goto(t.base + '/');
  return { ctx, page };
}

/** @param {Page} page @param {string} name  file name in the artifacts directory @param {{ fullPage?: boolean }} [opts] */
export function shot(page, name, opts = {}) {
  return page.screenshot({ path: join(artifacts, name), ...opts });
}

/** The Messages list entry for `handle@kez.test`. @param {Page} page @param {string} handle */
export function conversation(page, handle) {
  return page.locator(`[data-testid="conversation"][data-peer="${handle}@${DOMAIN}"]`);
}

/**
 * Goes to `url` and, if the lock screen shows, unlocks with `pass`, until
 * `peer`'s conversation is listed (a page opened again on a saved identity).
 * @param {import('playwright-core').Page} page
 * @param {string} url
 * @param {string} pass
 * @param {string} peer
 */
export async function openUnlocked(page, url, pass, peer) {
  await page.goto(url);
  const locked = page.getByRole('heading', { name: 'Welcome back' });
  await locked.or(conversation(page, peer).first()).first().waitFor();
  if (await locked.isVisible()) {
    await page.locator('#passphrase').fill(pass);
    await page.getByRole('button', { name: 'Unlock' }).click();
  }
  await conversation(page, peer).first().waitFor();
}

/**
 * Create an identity (phrase → a wrong word, then the 3 asked for →
 * passphrase) and register `handle`, after "admin" (reserved) and `taken`
 * if given (the server's 409 shown as a sentence). Returns the 24 words.
 * With `later`, the phrase is left for later (the backup reminder shows).
 * @param {Page} page @param {string} handle @param {string} pass @param {string} [taken] @param {boolean} [shots] @param {boolean} [later]
 */
export async function signUp(page, handle, pass, taken = '', shots = false, later = false) {
  if (shots) await shot(page, '1-welcome.png');
  await page.getByRole('link', { name: 'Create a new identity' }).click();
  await page.locator('[data-word]').first().waitFor(); // the screen is loaded on demand
  const words = await page.locator('[data-word]').allTextContents();
  assert(words.length === 24, `24 words shown, got ${words.length}`);
  if (shots) await shot(page, '2-recovery-phrase.png');
  if (later) {
    await page.getByRole('button', { name: 'Later: remind me to back up' }).click();
    await page.locator('#new-passphrase').fill(pass);
    await page.locator('#confirm-passphrase').fill(pass);
    await page.getByRole('button', { name: 'Create identity' }).click();
    await page.getByRole('heading', { name: 'Pick your handle' }).waitFor();
    await registerHandle(page, handle, taken, shots);
    return words;
  }
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
  await registerHandle(page, handle, taken, shots);
  return words;
}

/** @param {Page} page @param {string} handle @param {string} taken @param {boolean} shots */
async function registerHandle(page, handle, taken, shots) {
  // Client-side check: reserved handle.
  await page.locator('#handle').fill('admin');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByText('That handle is reserved. Please pick another one.').waitFor();
  if (shots) await shot(page, '3-register-error.png');
  if (taken) {
    // Server-side error code shown as a sentence next to the field.
    await page.locator('#handle').fill(taken);
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText('Someone already has that handle. Try another one.').waitFor();
  }
  await page.locator('#handle').fill(handle);
  await page.getByRole('button', { name: 'Register' }).click();
  // Typed in capitals, registered lower-cased (SPEC §3).
  await page.getByTestId('my-kez').getByText(`${handle.toLowerCase()}@${DOMAIN}`).waitFor();
  await page.locator('[data-live="live"]').waitFor();
}

/**
 * The server stored only ciphertext: no NEEDLES in the SQLite file or its
 * `-wal`/`-shm`/`-journal`.
 * @param {string} dbPath @param {string} when  named in the failure
 */
export function checkDbHasNoText(dbPath, when) {
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const f = dbPath + suffix;
    if (!existsSync(f)) continue;
    const bytes = readFileSync(f);
    for (const n of NEEDLES) assert(!bytes.includes(Buffer.from(n, 'utf8')), `${when}: ${f} contains "${n}"`);
  }
}

/** Fail on any console error other than the ones provoked on purpose. @param {ConsoleError[]} errors */
export function checkConsole(errors) {
  const unexpected = errors.filter((e) => !EXPECTED_ERRORS.some((re) => re.test(`${e.text} ${e.url}`)));
  if (unexpected.length) throw new Error(`console errors:\n${unexpected.map((e) => `  [${e.who}] ${e.text} ${e.url}`).join('\n')}`);
  log(`console: ${errors.length} expected error(s) (HTTP 409 for the taken handle, failed requests while offline, 404 for absent profiles and unregistered keys, 429 while the burst is paced), none unexpected`);
}
