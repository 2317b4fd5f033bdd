// Chat over nostr (SPEC §12) against a real relay on 127.0.0.1 (PyPI's
// nostr-relay, NOSTR_RELAY_BIN; skipped without it). A second kez server is
// started with `--nostr-relays ws://127.0.0.1:<port>` and a metrics port;
// carol and dave register there; on the default `both` a message shows once
// and, with the relay killed, still arrives through the server (shown once);
// with the relay back they switch Settings → Delivery to "nostr relays
// only", and chat with the delivered mark while the server is never asked
// to store (no POST /v1/messages in its request log, and
// `kez_messages_stored_total` does not move); the "via" line stays inside
// its bubble at every line fill. Then that server is stopped and they
// still chat. Carol's browser has a push subscription at a stand-in push
// service (a local HTTP server; the browser's PushManager is replaced by one
// that hands out its URL, as no real push service is reachable here): dave's
// message over the relay makes it receive a push, which on transport `nostr`
// can only come through the server's nostr listener. The relay count opens
// its popover of relay states. Console errors of this scenario are its own
// (requests to the stopped server fail on purpose), not the run's.
import { createServer as createHttpServer } from 'node:http';
import { verifyEvent } from 'nostr-tools/pure';
import { assert, colorScheme, log, shot, signUp, DOMAIN } from '../helpers.mjs';
import { messagePosts, metaInsideBubble } from '../nostr-checks.mjs';
import { metric, query, relayBin, withRelayServer } from '../nostr-server.mjs';

const PASS = 'nostr test passphrase 1';

/** How many of `page`'s incoming messages read `text`, after a moment for a second copy to show up. @param {import('playwright-core').Page} page @param {string} text */
async function shownOnce(page, text) {
  const loc = page.locator('[data-message][data-dir="in"] [data-body]').filter({ hasText: text });
  await loc.first().waitFor();
  await page.waitForTimeout(1500);
  const n = await loc.count();
  assert(n === 1, `"${text}" shown once, got ${n}`);
}

/** `kez_messages_stored_total` from the metrics port. @param {string} metrics */
async function storedTotal(metrics) {
  const text = await (await fetch(`${metrics}/metrics`)).text();
  const m = /^kez_messages_stored_total (\d+)/m.exec(text);
  assert(m, `kez_messages_stored_total in /metrics:\n${text.slice(0, 400)}`);
  return Number(m[1]);
}

/**
 * First unlock published, per identity, one kind 10002 listing the relay and
 * one minimal kind 0 (content `{}`, no tags: nothing on the relay maps an
 * addr to a handle, review r11 #2), both by the same (derived, not one-time)
 * key and valid. Polled, bounded: they go out in the background.
 * @param {string} url @param {number} count identities expected
 * @returns {Promise<Set<string>>} the derived public keys
 */
async function announced(url, count) {
  for (let i = 0; ; i++) {
    const lists = await query(url, { kinds: [10002] });
    const meta = await query(url, { kinds: [0] });
    if (lists.length >= count && meta.length >= count) {
      assert(meta.every((e) => e.content === '{}' && e.tags.length === 0), `minimal kind 0: ${JSON.stringify(meta.map((e) => [e.content, e.tags]))}`);
      assert([...lists, ...meta].every((e) => verifyEvent(e)), 'kind 10002 / 0 verify');
      assert(lists.every((e) => JSON.stringify(e.tags) === JSON.stringify([['r', url + '/']])), `10002 tags: ${JSON.stringify(lists.map((e) => e.tags))}`);
      const keys = new Set(meta.map((e) => e.pubkey));
      assert(keys.size === count && lists.every((e) => keys.has(e.pubkey)), 'each identity signs its 10002 and kind 0 with one key');
      return keys;
    }
    assert(i < 100, `relay list and kind 0 published: ${lists.length} lists, ${meta.length} kind 0`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The stand-in push service: a local HTTP server that records each request
 * (method, path, body length) and answers 201, as a push service does.
 * @returns {Promise<{ origin: string, got: { method: string, path: string, bodyLen: number }[], close: () => Promise<void> }>}
 */
async function startPushStandIn() {
  /** @type {{ method: string, path: string, bodyLen: number }[]} */
  const got = [];
  const srv = createHttpServer((req, res) => {
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => {
      got.push({ method: req.method ?? '', path: req.url ?? '', bodyLen: n });
      res.writeHead(201).end();
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', () => r(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
  return { origin: `http://127.0.0.1:${port}`, got, close: () => new Promise((r) => srv.close(() => r()))};
}

/**
 * An init script: notifications granted, and a PushManager whose
 * subscription is `endpoint` with a fresh P-256 key and auth secret (the
 * server checks and stores them like a real one's).
 * @param {string} endpoint
 */
function fakePushManager(endpoint) {
  return `(() => {
  const endpoint = ${JSON.stringify(endpoint)};
  const b64u = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
  let sub = null;
  const make = async () => {
    const kp = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
    const raw = await crypto.subtle.exportKey('raw', kp.publicKey);
    const auth = crypto.getRandomValues(new Uint8Array(16)).buffer;
    const json = { endpoint, expirationTime: null, keys: { p256dh: b64u(raw), auth: b64u(auth) } };
    return { endpoint, expirationTime: null, options: { userVisibleOnly: true }, toJSON: () => json,
      getKey: (n) => (n === 'p256dh' ? raw : auth), unsubscribe: async () => ((sub = null), true) };
  };
  if (self.PushManager) {
    PushManager.prototype.subscribe = async function () { return (sub ??= await make()); };
    PushManager.prototype.getSubscription = async function () { return sub; };
    PushManager.prototype.permissionState = async function () { return 'granted'; };
  }
  if (self.Notification) {
    Object.defineProperty(Notification, 'permission', { get: () => 'granted' });
    Notification.requestPermission = async () => 'granted';
  }
})();`;
}

/** Settings → Notifications on (registered with the server), with the stand-in's PushManager. @param {import('playwright-core').Page} page */
async function enablePush(page) {
  await page.getByRole('link', { name: 'Settings' }).first().click();
  const toggle = page.getByTestId('push-toggle');
  await page.locator('[data-testid="push-toggle"]:not([data-state="checking"])').waitFor();
  // Permission already granted: the client may have subscribed by itself.
  if ((await toggle.getAttribute('data-state')) === 'off') await page.getByRole('switch', { name: 'Notifications' }).click();
  await page
    .locator('[data-testid="push-toggle"][data-state="on"]')
    .waitFor()
    .catch(async (e) => {
      throw new Error(`push toggle: ${await page.locator('main').innerText()}`, { cause: e });
    });
  await page.getByRole('link', { name: 'Back to chats' }).click();
}

/** The relay count opens the popover listing the relay as connected; Escape closes it. @param {import('playwright-core').Page} page */
async function relayPopover(page) {
  const button = page.getByTestId('relays-live');
  await button.click();
  const pop = page.getByTestId('relay-popover');
  await pop.locator('[data-state="connected"][data-problem=""]').getByText('connected').waitFor();
  assert((await button.getAttribute('aria-expanded')) === 'true', 'relay count button is expanded');
  await shot(page, 'nostr-relay-popover.png');
  await page.keyboard.press('Escape');
  await pop.waitFor({ state: 'detached' });
}

/** @param {import('playwright-core').Page} page */
export async function chooseNostr(page) {
  await page.getByRole('link', { name: 'Settings' }).first().click();
  const box = page.getByTestId('transport-settings');
  await box.getByTestId('transport-nostr').check();
  await box.getByTestId('transport-save').click();
  await box.getByText('Saved.').waitFor();
  await page.getByRole('link', { name: 'Back to chats' }).click();
  await page.locator('[data-testid="relays-live"][data-count="1"]').waitFor();
  await page.locator('[data-live="live"]').waitFor();
}

/**
 * The scenario's steps on the second server and its relay (see the header).
 * @param {import('../helpers.mjs').Run} t @param {import('../nostr-server.mjs').RelayServer} env
 * @param {Awaited<ReturnType<typeof startPushStandIn>>} pushes
 */
async function chatOverNostr(t, env, pushes) {
  const { server, metrics, contexts } = env;
  /** @type {string[]} */
  const errors = [];
  const base = await server.base;
  log(`second server at ${base} with relay ${env.relay.url}`);
  const info = await (await fetch(`${base}/v1/server`)).json();
  assert(JSON.stringify(info.nostr_relays) === JSON.stringify([env.relay.url + '/']), `discovery lists the relay: ${JSON.stringify(info)}`);
  const csp = (await fetch(`${base}/`)).headers.get('content-security-policy') ?? '';
  assert(csp.includes(env.relay.url), `CSP connect-src lists the relay: ${csp}`);

  /** @param {string} who @param {string} [init] */
  const open = async (who, init) => {
    const ctx = await t.browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme });
    contexts.push(ctx);
    if (init) await ctx.addInitScript({ content: init });
    const page = await ctx.newPage();
    page.setDefaultTimeout(20_000);
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`[${who}] ${msg.text()}`);
    });
    page.on('pageerror', (err) => errors.push(`[${who}] pageerror: ${err.message}`));
    await page.goto(base + '/');
    return page;
  };
  const carolPush = `${pushes.origin}/push/carol`;
  const C = await open('carol', fakePushManager(carolPush));
  const D = await open('dave');
  await signUp(C, 'carol', PASS);
  await signUp(D, 'dave', PASS);
  await enablePush(C);
  log('carol: push subscription at the stand-in push service');
  // Default with relays advertised: both. Every message goes both ways and shows once.
  await C.locator('[data-testid="relays-live"][data-count="1"]').waitFor();
  await D.locator('[data-testid="relays-live"][data-count="1"]').waitFor();
  const derived = await announced(env.relay.url, 2);
  log('first unlock: kind 10002 and a minimal kind 0 (no handle, no addr) on the relay, signed by each one’s derived key');
  await C.locator('#start-chat').fill(`dave@${DOMAIN}`);
  await C.getByRole('button', { name: 'Chat', exact: true }).click();
  await C.getByTestId('thread-title').getByText(`dave@${DOMAIN}`).waitFor();
  await C.locator('#composer').fill('both ways at once');
  await C.locator('#composer').press('Enter');
  const convD = D.locator(`[data-testid="conversation"][data-peer="carol@${DOMAIN}"]`);
  await convD.waitFor();
  await convD.click();
  await shownOnce(D, 'both ways at once');
  await C.locator('[data-message][data-dir="out"][data-state="delivered"]').first().waitFor();
  log('transport both: delivered, shown once');

  // The relay dies mid-conversation: the server path carries on.
  await env.relayDown();
  await C.locator('#composer').fill('relay is down');
  await C.locator('#composer').press('Enter');
  await shownOnce(D, 'relay is down');
  await C.locator('[data-message][data-dir="out"][data-state="delivered"]').nth(1).waitFor();
  log('relay killed: delivered through the server, shown once');
  await env.relayUp();
  log('relay restarted');

  await chooseNostr(C);
  await chooseNostr(D);
  log('carol and dave: transport nostr, relay connected');
  await relayPopover(C);
  log('relay popover: the relay listed as connected');
  const before = await storedTotal(metrics);
  const postsBefore = messagePosts(server);
  assert(postsBefore > 0, 'the request log shows the "both" part’s POST /v1/messages');
  await C.locator(`[data-testid="conversation"][data-peer="dave@${DOMAIN}"]`).click();
  await convD.click();

  // An existing conversation: nothing asks the server; the relay takes it.
  await C.locator('#composer').fill('over the relay 1');
  await C.locator('#composer').press('Enter');
  await C.locator('[data-message][data-dir="out"]').last().getByTestId('via').getByText('via 127.0.0.1').waitFor();
  await metaInsideBubble(C);
  log('"via 127.0.0.1:…" stays inside its bubble at every line fill');
  await D.locator('[data-message][data-dir="in"] [data-body]').getByText('over the relay 1').waitFor();
  await C.locator('[data-message][data-dir="out"][data-state="delivered"]').nth(2).waitFor();
  log('carol → dave over nostr, delivered');
  const pushedBefore = await metric(metrics, 'kez_nostr_events_accepted');
  const toCarol = () => pushes.got.filter((p) => p.path === '/push/carol');
  assert(toCarol().length === 0, `no push to carol before dave writes: ${JSON.stringify(pushes.got)}`);
  await D.locator('#composer').fill('reply by relay');
  await D.locator('#composer').press('Enter');
  await C.locator('[data-message][data-dir="in"] [data-body]').getByText('reply by relay').waitFor();
  // The listener pushes after its coalescing window (2 s): wait for it, bounded.
  for (let i = 0; i < 150 && toCarol().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  const got = toCarol();
  assert(got.length === 1 && got[0].method === 'POST' && got[0].bodyLen === 0, `one empty push to carol: ${JSON.stringify(pushes.got)}`);
  const pushedAfter = await metric(metrics, 'kez_nostr_events_accepted');
  // (Its count may also include carol's message to dave, pushed meanwhile.)
  assert(pushedAfter > pushedBefore, `the nostr listener pushed it (kez_nostr_events_accepted ${pushedBefore} → ${pushedAfter})`);
  log('dave → carol over nostr: one push at the stand-in, through the nostr listener');
  await D.locator('[data-message][data-dir="out"][data-state="delivered"]').first().waitFor();
  const after = await storedTotal(metrics);
  assert(after === before, `POST /v1/messages never stored anything (kez_messages_stored_total ${before} → ${after})`);
  const postsAfter = messagePosts(server);
  assert(postsAfter === postsBefore, `POST /v1/messages never called on nostr (request log: ${postsBefore} → ${postsAfter})`);
  log(`on nostr the server was never asked to store (POST /v1/messages stays at ${postsAfter} in its log, kez_messages_stored_total at ${after})`);

  // The kez server goes away; the relay carries on.
  await server.stop();
  log('kez server stopped');
  await C.locator('#composer').fill('server is gone, still here');
  await C.locator('#composer').press('Enter');
  await D.locator('[data-message][data-dir="in"] [data-body]').getByText('server is gone, still here').waitFor();
  await C.locator('[data-message][data-dir="out"][data-state="delivered"]').nth(3).waitFor();
  await D.locator('#composer').fill('and back, without it');
  await D.locator('#composer').press('Enter');
  await C.locator('[data-message][data-dir="in"] [data-body]').getByText('and back, without it').waitFor();
  log('chat goes on with the kez server stopped');

  // Relay restart on nostr only (review r11 #1): the send waits while it is
  // down (the send queue shows "Waiting…", issue 13), and once it is back
  // the count returns to 1 and the message goes out by itself (nostr-tools
  // reconnects after 10 s).
  await env.relayDown();
  await C.locator('[data-testid="relays-live"][data-count="0"]').waitFor({ timeout: 20_000 });
  await C.locator('#composer').fill('sent while the relay is down');
  await C.locator('#composer').press('Enter');
  const pending = C.locator('[data-message][data-dir="out"]').filter({ hasText: 'sent while the relay is down' });
  await C.locator('[data-message][data-dir="out"][data-state="sending"]').filter({ hasText: 'sent while the relay is down' }).getByTestId('waiting').waitFor();
  log('relay killed: the send waits');
  await env.relayUp();
  await C.locator('[data-testid="relays-live"][data-count="1"]').waitFor({ timeout: 40_000 });
  await D.locator('[data-message][data-dir="in"] [data-body]').getByText('sent while the relay is down').waitFor({ timeout: 20_000 });
  await pending.and(C.locator('[data-state="delivered"]')).waitFor({ timeout: 20_000 });
  log('relay back: count 1 again, the waiting message sent by itself and delivered');
  const events = await query(env.relay.url, { kinds: [4243, 4244] });
  const signers = new Set(events.map((e) => e.pubkey));
  assert(events.length > 0 && signers.size === events.length && events.every((e) => !derived.has(e.pubkey)), 'messages and acks: a one-time key each, never a derived key');
  log(`${events.length} message/ack events on the relay, each by its own one-time key`);
  await shot(C, 'nostr-carol.png');
  await shot(D, 'nostr-dave.png');
  const unexpected = errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED|net::ERR_/.test(e));
  assert(unexpected.length === 0, `console errors:\n${unexpected.join('\n')}`);
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'chat over nostr (real relay), server not used, then stopped',
  async run(t) {
    const bin = relayBin('nostr scenario');
    if (!bin) return;
    const pushes = await startPushStandIn();
    try {
      await withRelayServer(bin, { args: ['--allow-insecure-push-endpoints'] }, (env) => chatOverNostr(t, env, pushes));
    } finally {
      await pushes.close();
    }
  },
};
