// Issue 13 fault 1: bob's network fails at the moment he would acknowledge
// alice's message (his POSTs are refused while his live stream still
// delivers), then he goes offline and back online; alice's message turns
// "Delivered" without bob opening or re-opening the chat (his client
// retries pending receipts when it is online or live again).
import { assert, conversation, log } from '../helpers.mjs';

const TEXT = 'Receipt after a network drop';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'receipt retried when the connection comes back',
  async run(t) {
    const A = t.alice.page;
    const B = t.bob.page;
    await conversation(A, 'bob').click();
    await conversation(B, 'alice').click();
    let refused = 0;
    /** @param {import('playwright-core').Route} route */
    const refuse = (route) => {
      const req = route.request();
      if (req.method() !== 'POST') return route.continue();
      // Only a stored post to alice is the receipt counted here: bob's own-devices `read` (stored or
      // ephemeral, to his own handle, SPEC §8.6) and any ephemeral post go through.
      if (req.url().includes('ephemeral=true') || !String(req.postDataJSON()?.to ?? '').startsWith('alice')) return route.continue();
      refused += 1;
      return route.abort('internetdisconnected');
    };
    // Receipts go to `/v1/messages?notify=false` (SPEC §7.5).
    const MESSAGES = /\/v1\/messages(\?|$)/;
    await B.route(MESSAGES, refuse);
    await A.locator('#composer').fill(TEXT);
    await A.locator('#composer').press('Enter');
    const mine = A.locator('[data-message][data-dir="out"]').filter({ hasText: TEXT });
    await A.locator('[data-message][data-dir="out"][data-state="sent"]').filter({ hasText: TEXT }).waitFor();
    await B.locator('[data-message][data-dir="in"]').filter({ hasText: TEXT }).waitFor();
    // bob's receipt was tried and refused: alice stays at "Sent".
    await waitUntil(() => refused > 0, 20_000, 'bob tried to post the receipt');
    assert((await mine.getAttribute('data-state')) === 'sent', 'still "Sent" while bob cannot post');

    await B.unroute(MESSAGES, refuse);
    // Offline and back: the browser's "online" event (an open stream may survive a short drop).
    await t.bob.ctx.setOffline(true);
    await B.waitForFunction(() => !navigator.onLine);
    await t.bob.ctx.setOffline(false);
    await B.waitForFunction(() => navigator.onLine);
    await A.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: TEXT }).waitFor({ timeout: 30_000 });
    log(`bob: receipt refused ${refused}×, then sent once live again; alice sees "Delivered" (bob never re-opened the chat)`);
  },
};

/** @param {() => boolean} cond @param {number} ms @param {string} what */
async function waitUntil(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
