// Restore: a third, fresh browser context restores bob from the 24 words he
// revealed in Settings, finds his handle on the server and gets the stored
// messages replayed.
import { conversation, log, openWindow, DOMAIN, TEXT1 } from '../helpers.mjs';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'restore from the recovery phrase',
  async run(t) {
    const C = await openWindow(t, 'bob-restored');
    await C.page.getByRole('link', { name: 'I have a recovery phrase' }).click();
    await C.page.locator('#phrase').fill(t.bobWords.join(' '));
    await C.page.locator('#new-passphrase').fill('a new passphrase here');
    await C.page.locator('#confirm-passphrase').fill('a new passphrase here');
    await C.page.getByRole('button', { name: 'Restore' }).click();
    await C.page.getByTestId('my-kez').getByText(`bob@${DOMAIN}`).waitFor();
    await conversation(C.page, 'alice').click();
    await C.page.locator('[data-message][data-dir="in"] [data-body]').getByText(TEXT1).waitFor();
    log('bob restored from the recovery phrase in a fresh browser');
  },
};
