// Passkey unlock (issue 13) with Chromium's virtual authenticator (CTAP2,
// internal, resident keys, user verification, PRF). On http://localhost (an
// IP address can't be a WebAuthn RP ID) pia signs up, writes to alice, sets
// up a passkey in Settings (user.id = her raw 32-byte public key), locks and
// unlocks with it (no passphrase typed); locked again, a reload offers the
// passkey by itself. With the authenticator gone, the passphrase still
// unlocks (the pending passkey request is dropped). Removing the passkey in
// Settings deletes the record and the lock screen's button.
import { assert, conversation, log, shot, watch, DOMAIN } from '../helpers.mjs';
import { quickSignUp, readKV } from './onboard.mjs';

const PASS = 'pia passkey fallback words';
const TEXT = 'Sent before the passkey lock';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'passkey unlock (WebAuthn PRF, virtual authenticator)',
  async run(t) {
    const origin = t.base.replace('127.0.0.1', 'localhost');
    const ctx = await t.browser.newContext({ viewport: { width: 1100, height: 760 } });
    const P = await ctx.newPage();
    P.setDefaultTimeout(20_000);
    watch(t, P, 'pia');
    const cdp = await ctx.newCDPSession(P);
    await cdp.send('WebAuthn.enable');
    /** @param {boolean} hasPrf */
    const authenticator = (hasPrf) => ({
      options: {
        protocol: /** @type {const} */ ('ctap2'),
        ctap2Version: /** @type {const} */ ('ctap2_1'),
        transport: /** @type {const} */ ('internal'),
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        hasPrf,
        automaticPresenceSimulation: true,
      },
    });
    // First an authenticator without PRF: Settings says so and stores nothing.
    const noPrf = await cdp.send('WebAuthn.addVirtualAuthenticator', authenticator(false));
    await P.goto(origin + '/');
    await quickSignUp(P, 'pia', PASS);
    await P.goto(origin + '/#/settings');
    await P.getByRole('button', { name: 'Set up passkey unlock' }).click();
    await P.getByTestId('passkey-error').getByText(/lacks the WebAuthn PRF extension.*Nothing was saved/).waitFor();
    assert((await readKV(P, 'passkey:')) === null, 'nothing stored without PRF');
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: noPrf.authenticatorId });
    log('pia: an authenticator without PRF is refused with a sentence, nothing stored');
    await P.goto(origin + '/#/chats');

    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', authenticator(true));
    await P.locator('#start-chat').fill(`alice@${DOMAIN}`);
    await P.getByRole('button', { name: 'Chat', exact: true }).click();
    await P.locator('#composer').fill(TEXT);
    await P.locator('#composer').press('Enter');
    await P.locator('[data-message][data-dir="out"][data-state="sent"], [data-message][data-dir="out"][data-state="delivered"]').first().waitFor();

    // Set up in Settings.
    await P.goto(origin + '/#/settings');
    await P.getByRole('button', { name: 'Set up passkey unlock' }).click();
    await P.getByTestId('passkey-on').waitFor();
    const rec = /** @type {any} */ (await readKV(P, 'passkey:'));
    assert(rec && rec.v === 1 && rec.credential_id && rec.salt && rec.iv && rec.ct && rec.created_at, 'passkey record stored');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert(credentials.length === 1, `one credential, got ${credentials.length}`);
    const userHandle = Buffer.from(credentials[0].userHandle ?? '', 'base64');
    const primary = rec.primary.replace(/^ed25519:/, '');
    assert(userHandle.length === 32 && userHandle.toString('hex') === primary, `user.id = the raw 32-byte key (got ${userHandle.length} bytes)`);
    assert(credentials[0].isResidentCredential, 'a discoverable (resident) credential');
    assert(credentials[0].rpId === 'localhost', `rp.id = the hostname, got ${credentials[0].rpId}`);
    log('pia: passkey set up (PRF), user.id is her 32-byte public key');

    // Lock, unlock with the passkey: no passphrase typed.
    await P.getByRole('button', { name: 'Lock now' }).click();
    await P.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await shot(P, 'shot-unlock-passkey-desktop-light.png');
    await P.getByRole('button', { name: 'Unlock with passkey' }).click();
    await conversation(P, 'alice').getByText(TEXT.slice(0, 20)).waitFor();
    assert((await P.locator('#passphrase').count()) === 0, 'unlocked');
    log('pia: locked, unlocked with the passkey, conversation there');

    // Locked and reloaded: the passkey is offered at once.
    await P.goto(origin + '/#/settings');
    await P.getByRole('button', { name: 'Lock now' }).click();
    await P.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await P.reload();
    await conversation(P, 'alice').waitFor();
    log('pia: a locked reload unlocks with the passkey by itself');

    // The authenticator gone: the passphrase still unlocks.
    await P.goto(origin + '/#/settings');
    await P.getByRole('button', { name: 'Lock now' }).click();
    await P.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
    await P.reload();
    await P.getByRole('button', { name: /Unlock with passkey|Waiting for your passkey/ }).waitFor();
    await P.locator('#passphrase').fill(PASS);
    await P.getByRole('button', { name: 'Unlock', exact: true }).click();
    await conversation(P, 'alice').getByText(TEXT.slice(0, 20)).waitFor();
    log('pia: without the authenticator, the passphrase unlocks');

    // Remove in Settings: the record and the lock screen's button go.
    await P.goto(origin + '/#/settings');
    await P.getByRole('button', { name: 'Remove passkey' }).click();
    await P.getByRole('button', { name: 'Remove', exact: true }).click();
    await P.locator('[data-testid="passkey-settings"][data-state="off"]').waitFor();
    assert((await readKV(P, 'passkey:')) === null, 'record deleted');
    await P.getByRole('button', { name: 'Lock now' }).click();
    await P.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await P.locator('#passphrase').waitFor();
    assert((await P.getByTestId('passkey-unlock').count()) === 0, 'no passkey button once removed');
    log('pia: passkey removed; the lock screen asks for the passphrase only');
    await ctx.close();
  },
};
