// Linked accounts (sigchain claims, SPEC §15) against the real server's proof checks (§15.5).
// A second kez server is started with `--github-api-url`, `--gist-raw-host`, `--doh-url` and
// `--proof-https-test-origin` pointing at a stand-in (a node http server here playing the GitHub
// API, the claimed website and the DoH endpoint; it serves what the user "published" and records
// what it is asked) and the test switch `--allow-insecure-proof-fetches`. ann links a GitHub
// account and a website: the stand-in serves exactly the proof text the UI copied, and both show
// "Verified"; a DNS claim whose TXT record holds the wrong text shows "Failed" with the reason.
// ben opens ann's Verify panel (from the conversation menu): the chain is verified in his
// browser, the proofs "checked by kez.test"; ann removes the website, ben's "Check again" no
// longer lists it; a tampered chain (a Playwright route) is shown as failing verification, with
// no claim. A DNS proof that failed is checked again by "I've published it" (not "already linked")
// and, once fixed, by "Check again" (the server started with --proof-recheck-after-secs 0). Focus
// after Remove / Cancel. A third server with --sig-server-url (the stand-in plays it): the page reads
// the chain there (CSP) and offers no changes. Phone width: the Verify panel and Settings fit.
// Console errors are this scenario's own.
import { createServer } from 'node:http';
import { assert, colorScheme, log, shot, signUp, startServer, DOMAIN } from '../helpers.mjs';

const PASS = 'claims test passphrase 1';
const GIST = '0123456789abcdef0123456789abcdef';

/** The stand-in: gists by id, well-known files by Host, TXT records by name. */
function standIn() {
  /** @type {Map<string, { owner: string, content: string }>} */
  const gists = new Map();
  /** @type {Map<string, string>} */
  const files = new Map();
  /** @type {Map<string, string>} */
  const txt = new Map();
  /** @type {{ path: string, host: string, accept: string }[]} */
  const seen = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    seen.push({ path: url.pathname + url.search, host: req.headers.host ?? '', accept: String(req.headers.accept ?? '') });
    const json = (/** @type {unknown} */ v) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    const gist = /^\/gists\/([0-9a-f]+)$/.exec(url.pathname);
    if (gist && gists.has(gist[1])) {
      const g = /** @type {{ owner: string, content: string }} */ (gists.get(gist[1]));
      return json({ id: gist[1], owner: { login: g.owner }, files: { 'kez-proof.json': { filename: 'kez-proof.json', truncated: false, content: g.content } } });
    }
    if (url.pathname === '/.well-known/kez-proof.txt') {
      const body = files.get((req.headers.host ?? '').toLowerCase());
      if (body !== undefined) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(body);
      }
    }
    // Playing a --sig-server-url service: every key's chain is empty, readable from any origin.
    const chain = /^\/v1\/sigchains\/ed25519\/([0-9a-f]{64})$/.exec(url.pathname);
    if (chain) {
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      return res.end(JSON.stringify({ primary: `ed25519:${chain[1]}`, links: [] }));
    }
    if (url.pathname === '/dns-query') {
      const name = url.searchParams.get('name') ?? '';
      const value = txt.get(name);
      if (value === undefined) return json({ Status: 3 });
      // DoH JSON: the record's character-strings (≤ 255 bytes each) quoted, `"` and `\` escaped.
      const strings = (value.match(/[\s\S]{1,255}/g) ?? []).map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
      return json({ Status: 0, Answer: [{ name: name + '.', type: 16, TTL: 300, data: strings.join(' ') }] });
    }
    res.writeHead(404);
    res.end();
  });
  const origin = new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`)));
  return { gists, files, txt, seen, origin: /** @type {Promise<string>} */ (origin), close: () => new Promise((r) => server.close(r)) };
}

/** @typedef {import('playwright-core').Page} Page */

/** The claim row in a list. @param {import('playwright-core').Locator} scope @param {string} service @param {string} name */
const claim = (scope, service, name) => scope.locator(`[data-testid="claim"][data-service="${service}"][data-name="${name}"]`);

/**
 * In Settings → Linked accounts: pick `service`, type `name`, create the proof and copy it with
 * the UI's own Copy button; returns what the clipboard got (what the user publishes).
 * @param {Page} page @param {string} service @param {string} name
 */
async function makeProof(page, service, name) {
  const form = page.getByTestId('claim-form');
  if (!(await form.isVisible())) await page.getByTestId('claim-add').click();
  await page.getByTestId(`claim-service-${service}`).check();
  await page.getByTestId('claim-name').fill(name);
  await page.getByTestId('claim-make-proof').click();
  const statement = await page.getByTestId('claim-statement').textContent();
  await page.getByRole('button', { name: 'Copy the proof text' }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert(copied === statement, 'the Copy button copies exactly the statement shown');
  return copied;
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'linked accounts: add, verify, revoke, a peer’s check',
  async run(t) {
    const stand = standIn();
    const origin = await stand.origin;
    const server = startServer([
      '--register-rate-per-minute', '120',
      '--allow-insecure-proof-fetches',
      '--github-api-url', origin,
      '--gist-raw-host', '127.0.0.1',
      '--doh-url', `${origin}/dns-query`,
      '--proof-https-test-origin', origin,
      // "Check again" re-checks a failed proof at once here (30 s by default, SPEC §15.5).
      '--proof-recheck-after-secs', '0',
    ]);
    /** @type {import('playwright-core').BrowserContext[]} */
    const contexts = [];
    /** @type {string[]} */
    const errors = [];
    try {
      const base = await server.base;
      log(`claims server at ${base}, proof stand-in at ${origin}`);
      /** @param {string} who */
      const open = async (who) => {
        const ctx = await t.browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme });
        await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
        contexts.push(ctx);
        const page = await ctx.newPage();
        page.setDefaultTimeout(20_000);
        page.on('console', (msg) => {
          if (msg.type() === 'error') errors.push(`[${who}] ${msg.text()} ${msg.location().url}`);
        });
        page.on('pageerror', (err) => errors.push(`[${who}] pageerror: ${err.message}`));
        await page.goto(base + '/');
        return page;
      };
      const A = await open('ann');
      const B = await open('ben');
      await signUp(A, 'ann', PASS);
      await signUp(B, 'ben', PASS);

      // ann: Settings → Linked accounts, empty.
      await A.goto(base + '/#/settings');
      const mine = A.getByTestId('linked-accounts');
      await mine.getByTestId('claims-empty').waitFor();

      // The form takes focus; Cancel gives it back to "Link an account".
      await A.getByTestId('claim-add').click();
      assert(await A.getByTestId('claim-service-github').evaluate((el) => el === document.activeElement), 'the form’s first choice has focus');
      await A.getByTestId('claim-form').getByRole('button', { name: 'Cancel' }).click();
      assert(await A.getByTestId('claim-add').evaluate((el) => el === document.activeElement), 'Cancel puts focus back on “Link an account”');

      // The name is checked as typed.
      await A.getByTestId('claim-add').click();
      await A.getByTestId('claim-service-https').check();
      await A.getByTestId('claim-name').fill('https://ann.example/');
      await A.getByTestId('claim-name-problem').getByText('without https://').waitFor();
      await A.getByTestId('claim-name').fill('10.0.0.1');
      await A.getByTestId('claim-name-problem').getByText('IP address').waitFor();

      // GitHub: the gist holds what the UI showed, owned by the claimed login.
      const ghText = await makeProof(A, 'github', 'Ann-Kez');
      stand.gists.set(GIST, { owner: 'ann-kez', content: ghText });
      await A.getByTestId('claim-gist').fill(`https://gist.github.com/mallory/${GIST}`);
      await A.getByText('names mallory, not Ann-Kez').waitFor();
      await A.getByTestId('claim-gist').fill(`https://gist.github.com/Ann-Kez/${GIST}`);
      await A.getByTestId('claim-published').click();
      await A.getByTestId('claim-result').getByText('Linked. Verified').waitFor();
      await claim(mine, 'github', 'Ann-Kez').and(A.locator('[data-status="verified"]')).waitFor();
      assert(stand.seen.some((s) => s.path === `/gists/${GIST}` && s.accept === 'application/vnd.github+json'), 'the server asked the GitHub stand-in for the gist');
      log('ann: GitHub account linked, verified by the server');

      // Website: the well-known file, asked for with the claim's host.
      const webText = await makeProof(A, 'https', 'ann.example');
      assert((await A.getByTestId('claim-url').textContent()) === 'https://ann.example/.well-known/kez-proof.txt', 'the well-known address is shown');
      stand.files.set('ann.example', webText);
      await A.getByTestId('claim-published').click();
      await claim(mine, 'https', 'ann.example').and(A.locator('[data-status="verified"]')).waitFor();
      assert(stand.seen.some((s) => s.path === '/.well-known/kez-proof.txt' && s.host === 'ann.example'), 'the server fetched the well-known file for ann.example');
      log('ann: website linked, verified');

      // DNS with the wrong text published (the website's statement): failed, with the reason in words
      // and what to do; "I've published it" again checks again (it does not say "already linked").
      const dnsText = await makeProof(A, 'dns', 'ann.example');
      stand.txt.set('_kez.ann.example', webText);
      await A.getByTestId('claim-published').click();
      await A.getByTestId('claim-result').getByText('Linked. Failed').waitFor();
      await A.getByTestId('claim-result').getByText('Fix what you published').waitFor();
      const dnsRow = claim(mine, 'dns', 'ann.example');
      await dnsRow.and(A.locator('[data-status="failed"]')).waitFor();
      await dnsRow.getByTestId('claim-reason').getByText('is for a different account').waitFor();
      await dnsRow.getByTestId('claim-recheck-when').getByText('Check again').waitFor();
      const asked = stand.seen.filter((s) => s.path.startsWith('/dns-query?name=_kez.ann.example')).length;
      await A.getByTestId('claim-published').click();
      await A.getByTestId('claim-result').getByText('Checked again. Failed').waitFor();
      assert(stand.seen.filter((s) => s.path.startsWith('/dns-query?name=_kez.ann.example')).length === asked + 1, 'the server looked at the TXT record again');
      assert(stand.seen.some((s) => s.path.startsWith('/dns-query?name=_kez.ann.example&type=TXT')), 'the server asked the DoH stand-in');
      await shot(A, 'claims-settings.png', { fullPage: true });
      log('ann: DNS claim with the wrong text shows Failed');

      // ben chats with ann and opens her Verify panel from the conversation menu.
      await B.locator('#start-chat').fill(`ann@${DOMAIN}`);
      await B.getByRole('button', { name: 'Chat', exact: true }).click();
      await B.getByTestId('thread-title').getByText(`ann@${DOMAIN}`).waitFor();
      await B.getByTestId('conversation-menu').click();
      await B.getByTestId('verify-conversation').click();
      const theirs = B.getByTestId('peer-claims');
      await claim(theirs, 'github', 'Ann-Kez').and(B.locator('[data-status="verified"]')).waitFor();
      await claim(theirs, 'https', 'ann.example').and(B.locator('[data-status="verified"]')).waitFor();
      await claim(theirs, 'dns', 'ann.example').and(B.locator('[data-status="failed"]')).waitFor();
      const note = (await theirs.getByTestId('peer-claims-note').textContent()) ?? '';
      assert(/this device checked every signature against the key above\. The proofs/.test(note) && note.includes(`checked by ${DOMAIN}`), `whose check it is: ${note}`);
      await claim(theirs, 'github', 'Ann-Kez').getByText(`Proof checked by ${DOMAIN}`).waitFor();
      await shot(B, 'claims-peer.png');
      log('ben: ann’s chain verified in his browser, her proofs checked by kez.test');

      // ann fixes the TXT record and presses "Check again": verified now, for ben too (review B1).
      stand.txt.set('_kez.ann.example', dnsText);
      await mine.getByTestId('claims-recheck').click();
      await dnsRow.and(A.locator('[data-status="verified"]')).waitFor();
      await B.getByTestId('peer-claims-recheck').click();
      await claim(theirs, 'dns', 'ann.example').and(B.locator('[data-status="verified"]')).waitFor();
      log('ann: fixed DNS proof verified after “Check again”; ben sees it verified');

      // ann removes the website (asked first); ben checks again and it is gone.
      const webRow = claim(mine, 'https', 'ann.example');
      await webRow.getByTestId('claim-revoke').click();
      await webRow.getByTestId('claim-revoke-cancel').click();
      assert(await webRow.getByTestId('claim-revoke').evaluate((el) => el === document.activeElement), 'Cancel puts focus back on Remove');
      await webRow.getByTestId('claim-revoke').click();
      await webRow.getByTestId('claim-revoke-confirm').click();
      await webRow.waitFor({ state: 'detached' });
      await mine.getByText('Website ann.example is no longer linked.').waitFor();
      assert(await mine.getByText('Website ann.example is no longer linked.').evaluate((el) => el === document.activeElement), 'focus moves to the sentence once the row is gone');
      await B.getByTestId('peer-claims-recheck').click();
      await claim(theirs, 'https', 'ann.example').waitFor({ state: 'detached' });
      await claim(theirs, 'github', 'Ann-Kez').and(B.locator('[data-status="verified"]')).waitFor();
      log('ann: website removed; ben no longer sees it');

      // A busy server (429 with Retry-After) is said in words with the wait, the rows stay; offline,
      // a refresh keeps what was shown with a note (review S2, S3).
      const proofsPath = '**/v1/sigchains/ed25519/*/proofs';
      await B.route(proofsPath, (route) => route.fulfill({ status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"error":"rate_limited"}' }));
      await B.getByTestId('peer-claims-recheck').click();
      await theirs.getByTestId('peer-claims-verdicts-problem').getByText('The server is busy. Try again in 1 second.').waitFor();
      await claim(theirs, 'github', 'Ann-Kez').and(B.locator('[data-status="verified"]')).waitFor();
      await B.unroute(proofsPath);
      await B.context().setOffline(true);
      await B.getByTestId('peer-claims-recheck').click();
      await theirs.getByTestId('peer-claims-stale').getByText('Couldn’t refresh').waitFor();
      assert((await claim(theirs, 'github', 'Ann-Kez').count()) === 1, 'offline, the rows shown stay');
      await B.context().setOffline(false);
      log('ben: a 429 says the wait; offline, the list stays with a note');

      // A tampered chain (a claim's name changed after signing) fails verification in ben's browser: no claim shown.
      const hex = String((await (await fetch(`${base}/v1/u/ann`)).json()).primary).replace('ed25519:', '');
      assert(/^[0-9a-f]{64}$/.test(hex), `ann's key read from Settings: ${hex}`);
      const chainPath = `**/v1/sigchains/ed25519/${hex}`;
      await B.route(chainPath, async (route) => {
        const res = await route.fetch();
        const body = await res.json();
        body.links[0].payload.body.claim.name = 'Ann-Kez-Evil';
        await route.fulfill({ response: res, body: JSON.stringify(body) });
      });
      await B.getByTestId('peer-claims-recheck').click();
      await theirs.getByTestId('peer-claims-invalid').getByText('failed verification on this device').waitFor();
      assert((await theirs.getByTestId('claim').count()) === 0, 'a chain that fails verification shows no claim');
      await B.unroute(chainPath);
      log('ben: a tampered chain is shown as failing verification');

      // Phone width: the panel and the Settings section fit without sideways scrolling.
      await B.setViewportSize({ width: 375, height: 740 });
      await B.getByTestId('peer-claims-recheck').click();
      await claim(theirs, 'github', 'Ann-Kez').waitFor();
      await A.setViewportSize({ width: 375, height: 740 });
      for (const [p, who] of /** @type {const} */ ([[A, 'ann'], [B, 'ben']])) {
        const wide = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert(wide <= 1, `${who}: no sideways scroll at phone width (${wide}px)`);
      }
      await shot(B, 'claims-peer-phone.png');

      // A server with --sig-server-url: its CSP lets the page read the chain there (review S1), and
      // Settings says the list is kept there instead of offering changes this server would refuse.
      const sig = startServer(['--register-rate-per-minute', '120', '--sig-server-url', origin]);
      const ctx = await t.browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme });
      try {
        const sigBase = await sig.base;
        const C = await ctx.newPage();
        C.setDefaultTimeout(20_000);
        C.on('console', (msg) => {
          if (msg.type() === 'error') errors.push(`[cara] ${msg.text()} ${msg.location().url}`);
        });
        await C.goto(sigBase + '/');
        await signUp(C, 'cara', PASS);
        await C.goto(sigBase + '/#/settings');
        const hers = C.getByTestId('linked-accounts');
        await hers.getByTestId('claims-empty').waitFor();
        await hers.getByTestId('claims-elsewhere').getByText(new URL(origin).host).waitFor();
        assert((await hers.getByTestId('claim-add').count()) === 0, 'no “Link an account” when another service keeps the chain');
        assert(stand.seen.some((s) => s.path.startsWith('/v1/sigchains/ed25519/')), 'the page read the chain from the sig server');
        log('cara: with --sig-server-url the chain is read there (CSP), no changes offered');
      } finally {
        await ctx.close(); // before its server goes away (no connection errors in the console)
        await sig.stop();
        sig.cleanup();
      }

      const unexpected = errors.filter(
        (e) =>
          !/status of 404 \(Not Found\) \S+\/v1\/u\/[a-z0-9_-]+\/profile$/.test(e) &&
          // ben's own 429 route and offline refresh, above
          !/^\[ben\] .*(status of 429 .*\/proofs$|ERR_INTERNET_DISCONNECTED)/.test(e),
      );
      assert(unexpected.length === 0, `console errors:\n${unexpected.join('\n')}`);
    } finally {
      for (const c of contexts) await c.close().catch(() => {});
      await server.stop();
      server.cleanup();
      await stand.close();
    }
  },
};
