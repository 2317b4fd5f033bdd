// Keys: alice's "Verify" shows bob's full key in 16 blocks of 4, the same as
// his Settings (whose Lock section says nothing arrives while locked, with
// notifications blocked); when the directory (mocked with a route) gives
// "bob" another key, starting a chat shows the "key changed" warning in the
// form and the thread header, "Verify" shows the new key, and "… confirmed
// it" clears the warning.
import { assert, log, shot, DOMAIN } from '../helpers.mjs';

/** RFC 8032 test 1's public key: a key nobody registered here. */
const OTHER_KEY = 'ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'verify key, key changed',
  async run(t) {
    await verifyMatchesSettings(t);
    await keyChangeWarning(t.alice.page);
  },
};

/** @param {import('../helpers.mjs').Run} t */
async function verifyMatchesSettings(t) {
  const A = t.alice.page;
  const B3 = t.bob.page;
  await A.getByRole('button', { name: 'Verify', exact: true }).click();
  const aliceSees = ((await A.getByTestId('verify-key').textContent()) ?? '').replace(/\s+/g, ' ').trim();
  await shot(A, 'alice-verify-key.png');
  await B3.goto(t.base + '/#/settings');
  const bobHas = ((await B3.getByTestId('primary').textContent()) ?? '').replace(/\s+/g, ' ').trim();
  // Notifications are blocked for bob, so Lock says nothing will arrive while locked.
  await B3.getByTestId('lock-notifications').getByText('Notifications are off on this device', { exact: false }).waitFor();
  assert(/^ed25519:( [0-9a-f]{4}){16}$/.test(aliceSees.replace('ed25519:', 'ed25519: ')), `key in 16 blocks of 4, got ${JSON.stringify(aliceSees)}`);
  assert(aliceSees === bobHas, `alice's "Verify" matches bob's Settings (${aliceSees} vs ${bobHas})`);
  assert((await A.getByTestId('key-changed').count()) === 0, 'no key-change warning for a first contact');
  await B3.goto(t.base + '/#/chats');
  log('alice: "Verify" shows bob\'s key in blocks of 4, the same as in his Settings');
}

/**
 * A directory that suddenly gives "bob" another key (a reset, or a lying
 * server) doesn't open a second, identical-looking chat unannounced.
 * @param {import('playwright-core').Page} A
 */
async function keyChangeWarning(A) {
  await A.route('**/v1/u/bob', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ handle: 'bob', fqhn: `bob@${DOMAIN}`, primary: OTHER_KEY, registered_at: '2026-01-01T00:00:00Z' }),
    }),
  );
  await A.locator('#start-chat').fill('bob');
  await A.getByRole('button', { name: 'Chat', exact: true }).click();
  const changed = `bob@${DOMAIN}’s key changed since you last talked. Only continue if bob told you they reset their identity.`;
  await A.getByTestId('start-chat-notice').getByText(changed).waitFor();
  await A.getByTestId('key-changed').getByText(changed).waitFor();
  await A.getByRole('button', { name: 'Verify the new key' }).click();
  const shown = ((await A.getByTestId('verify-key').textContent()) ?? '').replace(/\s+/g, '');
  assert(shown === OTHER_KEY, `"Verify" shows the new key (${shown})`);
  assert((await A.getByTestId('key-changed-mark').count()) === 1, 'the new conversation is marked in the list, the old one not');
  await shot(A, 'alice-key-changed.png');
  await A.getByRole('button', { name: /confirmed it/ }).click();
  await A.getByTestId('key-changed').waitFor({ state: 'detached' });
  await A.unroute('**/v1/u/bob');
  log('alice: a different key for "bob" → "key changed" warning, full key under "Verify"');
}
