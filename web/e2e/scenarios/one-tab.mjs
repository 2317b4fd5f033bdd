// One active tab per identity (Web Locks): a second tab of bob's (same
// profile, same IndexedDB) waits with "KEZ is open in another tab"; "Use
// here" moves him there (history, live, alice's next message arrives), and
// the first tab stops and shows the same notice.
import { assert, conversation, log, shot, watch } from '../helpers.mjs';

/** @param {import('playwright-core').Page} p */
const otherTab = (p) => p.getByRole('heading', { name: 'KEZ is open in another tab' });

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'one tab at a time ("Use here")',
  async run(t) {
    const A = t.alice.page;
    const composerA = A.locator('#composer');
    const B2 = t.bob.page;
    const B3 = await t.bob.ctx.newPage();
    B3.setDefaultTimeout(20_000);
    watch(t, B3, 'bob (tab 2)');
    await B3.goto(t.base + '/');
    await otherTab(B3).waitFor();
    assert((await B3.getByTestId('my-kez').count()) === 0, 'the waiting tab shows no chats');
    assert((await B2.locator('[data-live="live"]').count()) === 1, 'the first tab stays live while the second waits');
    await shot(B3, '7-open-in-another-tab.png');
    log('bob, second tab: "KEZ is open in another tab"');
    await B3.getByRole('button', { name: 'Use here' }).click();
    await otherTab(B2).waitFor();
    assert((await B2.locator('[data-message]').count()) === 0, 'the displaced tab no longer shows the history');
    assert((await B2.getByTestId('live-status').count()) === 0, 'the displaced tab has no inbox connection');
    t.bob.page = B3;
    const convB3 = conversation(B3, 'alice');
    await convB3.waitFor();
    await B3.locator('[data-live="live"]').waitFor();
    await composerA.fill('to your other tab');
    await composerA.press('Enter');
    await convB3.getByTestId('unread').getByText('1').waitFor();
    await convB3.click();
    await B3.locator('[data-message][data-dir="in"] [data-body]').getByText('to your other tab').waitFor();
    await B3.locator('[data-message][data-dir="in"] [data-body]').getByText('while you were away').waitFor();
    await B3.locator('[data-message][data-dir="out"] [data-body]').filter({ hasText: 'loud and clear' }).waitFor();
    await A.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: 'to your other tab' }).waitFor();
    assert((await B2.locator('[data-message]').count()) === 0, 'the displaced tab stays stopped');
    log('bob: "Use here" moved him to the second tab (history there, live); the first tab stopped');
  },
};
