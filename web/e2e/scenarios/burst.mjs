// Issue 13 fault 2: alice sends 100 messages as fast as she can press Enter,
// against the server's default rate limits (bob's receipts come from the
// same address, like two people behind one NAT). Every message arrives at
// bob in the order sent, and none is left "Not sent" at alice: the queue
// posts them one after another per conversation and waits out any 429.
import { assert, conversation, log } from '../helpers.mjs';

const COUNT = 100;
const text = (/** @type {number} */ i) => `burst ${String(i).padStart(3, '0')}`;

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: '100 quick messages arrive in order',
  async run(t) {
    const A = t.alice.page;
    const B = t.bob.page;
    await conversation(A, 'bob').click();
    await conversation(B, 'alice').click();
    const composer = A.locator('#composer');
    const t0 = Date.now();
    for (let i = 0; i < COUNT; i++) {
      await composer.fill(text(i));
      await composer.press('Enter');
    }
    const typed = Date.now() - t0;
    const inbound = B.locator('[data-message][data-dir="in"] [data-body]').filter({ hasText: /^burst \d{3}/ });
    await B.waitForFunction(
      (n) => [...document.querySelectorAll('[data-message][data-dir="in"] [data-body]')].filter((e) => /^burst \d{3}/.test(e.textContent ?? '')).length >= n,
      COUNT,
      { timeout: 180_000 },
    );
    const got = (await inbound.allTextContents()).map((s) => s.slice(0, 9));
    const want = Array.from({ length: COUNT }, (_, i) => text(i));
    assert(JSON.stringify(got) === JSON.stringify(want), `bob shows the ${COUNT} messages in order (got ${got.slice(0, 5).join(', ')}…)`);
    const outSel = '[data-message][data-dir="out"]';
    await A.waitForFunction(
      ([sel, n]) =>
        [...document.querySelectorAll(sel)].filter(
          (e) =>
            /^burst \d{3}/.test(e.querySelector('[data-body]')?.textContent ?? '') && ['sent', 'delivered'].includes(e.getAttribute('data-state') ?? ''),
        ).length >= n,
      /** @type {[string, number]} */ ([outSel, COUNT]),
      { timeout: 60_000 },
    );
    assert((await A.locator(`${outSel}[data-state="failed"]`).count()) === 0, 'nothing left "Not sent" at alice');
    log(`alice: ${COUNT} messages typed in ${(typed / 1000).toFixed(1)} s; bob has all, in order, after ${((Date.now() - t0) / 1000).toFixed(1)} s; none "Not sent"`);
  },
};
