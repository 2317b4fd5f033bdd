// Chat both ways with receipts: alice messages bob (Enter sends); bob sees it live, decrypted, under alice's
// handle with an unread pill; he replies (Shift+Enter makes a newline);
// alice sees the reply and both messages turn "delivered".
import { assert, conversation, log, shot, DOMAIN, TEXT1, TEXT2 } from '../helpers.mjs';

const SENT_OR_DELIVERED = '[data-message][data-dir="out"][data-state="sent"], [data-message][data-dir="out"][data-state="delivered"]';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'chat both ways with receipts',
  async run(t) {
    const A = t.alice.page;
    const B = t.bob.page;
    // Alice starts a chat with bob (her own handle is the note to self: convo.mjs).
    await A.locator('#start-chat').fill(`bob@${DOMAIN}`);
    await A.getByRole('button', { name: 'Chat', exact: true }).click();
    await A.getByTestId('thread-title').getByText(`bob@${DOMAIN}`).waitFor();

    // Send with Enter; Shift+Enter makes a newline.
    const composerA = A.locator('#composer');
    await composerA.fill(TEXT1);
    await composerA.press('Enter');
    const firstA = A.locator('[data-message][data-dir="out"]').first();
    await firstA.locator('[data-body]').getByText(TEXT1).waitFor();
    await A.locator(SENT_OR_DELIVERED).first().waitFor();
    log('alice: message sent');

    // Bob sees it live, under alice's handle, with an unread pill.
    const convB = conversation(B, 'alice');
    await convB.waitFor();
    await convB.getByTestId('unread').getByText('1').waitFor();
    await convB.getByText(TEXT1.slice(0, 20)).waitFor();
    await convB.click();
    await B.locator('[data-message][data-dir="in"] [data-body]').getByText(TEXT1).waitFor();
    assert((await convB.getByTestId('unread').count()) === 0, 'unread pill cleared on open');
    log('bob: received and decrypted');

    // Bob replies (multi-line via Shift+Enter).
    const composerB = B.locator('#composer');
    await composerB.click();
    await composerB.pressSequentially('Hi Alice!');
    await composerB.press('Shift+Enter');
    await composerB.pressSequentially(TEXT2.replace('Hi Alice! ', ''));
    await composerB.press('Enter');
    const expectedReply = 'Hi Alice!\n' + TEXT2.replace('Hi Alice! ', '');
    await B.locator(SENT_OR_DELIVERED).first().waitFor();

    // Alice sees the reply live and her first message becomes "delivered".
    await A.locator('[data-message][data-dir="in"] [data-body]').filter({ hasText: 'loud and clear' }).waitFor();
    const replyText = await A.locator('[data-message][data-dir="in"] [data-body]').first().evaluate((el) => el.firstChild?.textContent ?? '');
    assert(replyText === expectedReply, `reply text with newline, got ${JSON.stringify(replyText)}`);
    await A.locator('[data-message][data-dir="out"][data-state="delivered"]').first().waitFor();
    log('alice: reply received, first message delivered');
    // Bob's reply gets delivered too (alice has the thread open → immediate ack).
    await B.locator('[data-message][data-dir="out"][data-state="delivered"]').first().waitFor();

    await shot(A, 'alice.png');
    await shot(B, 'bob.png');
  },
};
