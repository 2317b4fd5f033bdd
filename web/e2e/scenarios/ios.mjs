// An iPhone browser tab (user agent only), user erin: push needs the Home
// Screen app there, so the banner is the "Add to Home Screen" hint and the
// Settings toggle is disabled with the same explanation.
import { assert, colorScheme, log, shot, signUp, watch } from '../helpers.mjs';

const IPHONE_SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'iPhone tab: "Add to Home Screen"',
  async run(t) {
    const E = await t.browser.newContext({ viewport: { width: 390, height: 780 }, colorScheme, userAgent: IPHONE_SAFARI });
    const erin = await E.newPage();
    erin.setDefaultTimeout(20_000);
    watch(t, erin, 'erin');
    await erin.goto(t.base + '/');
    await signUp(erin, 'erin', 'erin long enough passphrase');
    const hint = erin.locator('[data-testid="push-nudge"][data-kind="install"]');
    await hint.getByText('Add to Home Screen', { exact: false }).waitFor();
    await shot(erin, '4b-push-ios-hint.png');
    await hint.getByRole('button', { name: 'Got it' }).click();
    await hint.waitFor({ state: 'detached' });
    await erin.goto(t.base + '/#/settings');
    await erin.getByTestId('push-unavailable').getByText(/Add to Home Screen/).waitFor();
    assert(await erin.getByRole('switch', { name: 'Notifications' }).isDisabled(), 'iOS tab: toggle disabled');
    await E.close();
    log('erin (iPhone tab): "Add to Home Screen" hint, toggle disabled with the reason');
  },
};
