// Delivery while away: a message sent while bob's tab is closed arrives (with
// an unread pill) when he opens the app again; on a phone-sized window the
// thread shows it, and alice's copy turns "delivered".
import { conversation, log, shot, watch } from '../helpers.mjs';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'message while the tab is closed',
  async run(t) {
    const A = t.alice.page;
    const composerA = A.locator('#composer');
    await t.bob.page.close();
    await composerA.fill('while you were away');
    await composerA.press('Enter');
    await A.locator('[data-message][data-dir="out"][data-state="sent"]').filter({ hasText: 'while you were away' }).waitFor();
    const B2 = await t.bob.ctx.newPage();
    watch(t, B2, 'bob');
    t.bob.page = B2;
    await B2.goto(t.base + '/');
    await conversation(B2, 'alice').getByTestId('unread').getByText('1').waitFor();
    log('bob: offline message arrived on next open');

    // Phone-sized viewport.
    await B2.setViewportSize({ width: 390, height: 780 });
    await conversation(B2, 'alice').click();
    await B2.locator('[data-message] [data-body]').getByText('while you were away').waitFor();
    await shot(B2, 'bob-phone.png');
    await A.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: 'while you were away' }).waitFor();
    await shot(A, 'alice-final.png');
  },
};
