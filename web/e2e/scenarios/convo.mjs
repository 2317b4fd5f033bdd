// Conversations (issue 13), on fresh identities so it holds after any other
// scenario: cora and dion chat; a link in a message is an <a> (http/https
// only); the on-device search finds an old message and opens the thread at
// it; dion blocks cora (her message never shows, she never sees
// "Delivered"), mutes her (no unread count, no title count); cora writes a
// note to self and a second device restored from her phrase shows it; a
// block made on one of cora's devices holds on the other (no receipt); her
// invite link opened in a fresh context asks, then opens a chat with her after sign-up,
// and in dion's unlocked tab at once; fern deletes the conversation and
// cora's next message starts a fresh one.
import { assert, conversation, log, openWindow, shot, signUp, DOMAIN } from '../helpers.mjs';

const OLD = 'Crème brûlée at noon? 🍮';
const LINKS = 'see https://example.org/x. and javascript:alert(1) or (https://example.org/y)';

/** Send `text` in the open thread and wait until the server took it. @param {import('playwright-core').Page} page @param {string} text */
async function send(page, text) {
  await page.locator('#composer').fill(text);
  await page.locator('#composer').press('Enter');
  const bubble = page.locator('[data-message][data-dir="out"]').filter({ hasText: text }).last();
  await bubble.locator('xpath=self::*[@data-state="sent" or @data-state="delivered"]').waitFor();
  return bubble;
}

/** Start a chat from the list's form. @param {import('playwright-core').Page} page @param {string} handle */
async function startChat(page, handle) {
  await page.locator('#start-chat').fill(handle);
  await page.getByRole('button', { name: 'Chat', exact: true }).click();
  await page.getByTestId('thread-title').getByText(`${handle}@${DOMAIN}`).waitFor();
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'conversations: links, search, block, mute, note to self, invite, delete',
  async run(t) {
    const C = await openWindow(t, 'cora');
    const D = await openWindow(t, 'dion');
    const windows = [C, D];
    {
      const coraWords = await signUp(C.page, 'cora', 'cora convo passphrase');
      await signUp(D.page, 'dion', 'dion convo passphrase');
      const A = C.page;
      const B = D.page;

      // 1. Links: http(s) only, opened in a new tab without referrer; javascript: stays text.
      await startChat(A, 'dion');
      await send(A, OLD);
      for (let i = 1; i <= 8; i++) await send(A, `filler ${i} to push the old one up`);
      await send(A, LINKS);
      await conversation(B, 'cora').click();
      const inLinks = B.locator('[data-message][data-dir="in"]').filter({ hasText: 'javascript:alert(1)' });
      await inLinks.waitFor();
      const anchors = inLinks.locator('a');
      assert((await anchors.count()) === 2, `two links in the message, got ${await anchors.count()}`);
      const a0 = anchors.first();
      assert((await a0.getAttribute('href')) === 'https://example.org/x', 'the link stops before the full stop');
      assert((await a0.getAttribute('rel')) === 'noopener noreferrer', 'rel noopener noreferrer');
      assert((await a0.getAttribute('target')) === '_blank', 'target _blank');
      assert((await anchors.nth(1).getAttribute('href')) === 'https://example.org/y', 'the link stops before the closing bracket');
      assert((await B.locator('[data-testid="messages"] a[href^="javascript" i]').count()) === 0, 'no javascript: link');
      const bodyText = await inLinks.locator('[data-body]').evaluate((el) => el.textContent ?? '');
      assert(bodyText.startsWith(LINKS), `the text is kept whole, got ${JSON.stringify(bodyText)}`);
      log('links: two https anchors (rel/target right), javascript: left as text');

      // 2. Search from the list (Ctrl+K), case- and accent-insensitive; the hit opens the thread at the message.
      await A.goto(`${t.base}/#/chats`);
      await A.getByTestId('empty-state').waitFor();
      await A.keyboard.press('Control+k');
      await A.getByTestId('search-input').pressSequentially('CREME BRULEE');
      const hit = A.getByTestId('search-hit').first();
      await hit.waitFor();
      assert((await A.getByTestId('search-hit').count()) === 1, 'one hit');
      assert((await hit.locator('mark').textContent()) === 'Crème brûlée', 'the match is marked on the original text');
      const id = await hit.getAttribute('data-id');
      await shot(A, 'convo-search.png');
      await hit.click();
      const target = A.locator(`[data-message][data-id="${id}"]`);
      await A.locator(`[data-message][data-id="${id}"][data-flash]`).waitFor();
      const inView = await target.evaluate((el) => {
        const box = el.getBoundingClientRect();
        const pane = /** @type {HTMLElement} */ (el.closest('[data-testid="messages"]')).getBoundingClientRect();
        return box.top >= pane.top && box.bottom <= pane.bottom;
      });
      assert(inView, 'the found message is scrolled into view');
      log('search: an old message found (folded), opened and highlighted');
      // On a phone the field waits behind the header's magnifier (the list starts high).
      await A.setViewportSize({ width: 390, height: 844 });
      await A.goto(`${t.base}/#/chats`);
      assert(!(await A.getByTestId('search-input').isVisible()), 'phone: the search field is tucked away');
      await A.getByTestId('search-toggle').click();
      await A.getByTestId('search-input').fill('filler 3');
      await A.getByTestId('search-hit').first().click();
      await A.getByTestId('thread-title').getByText(`dion@${DOMAIN}`).waitFor();
      await A.locator('[data-message][data-flash]').filter({ hasText: 'filler 3' }).waitFor();
      await A.setViewportSize({ width: 1100, height: 760 });
      log('search on a phone: behind the magnifier, opens the thread at the hit');

      // 3. Block: dion blocks cora; her next message never shows and is never acknowledged.
      await B.getByTestId('conversation-menu').click();
      await B.getByTestId('block-conversation').click();
      await B.getByTestId('blocked-notice').getByText('You blocked cora').waitFor();
      assert((await B.locator('#composer').count()) === 0, 'no composer while blocked');
      const blockedBubble = await send(A, 'are you blocking me?');
      // Unblock; what cora sends next arrives and is acked, the blocked one still is not.
      await B.getByTestId('blocked-notice').getByRole('button', { name: 'Unblock' }).click();
      await B.locator('#composer').waitFor();
      await send(A, 'second try');
      await B.locator('[data-message][data-dir="in"]').filter({ hasText: 'second try' }).waitFor();
      await A.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: 'second try' }).waitFor();
      assert((await B.locator('[data-message]').filter({ hasText: 'are you blocking me?' }).count()) === 0, 'the blocked message never shows');
      assert((await blockedBubble.getAttribute('data-state')) === 'sent', 'the blocked message is never delivered');
      log('block: dropped on arrival, no receipt; unblocked: delivery again');

      // 4. Mute: no unread count, no title count, a mark in the list.
      await B.getByTestId('conversation-menu').click();
      await B.getByTestId('mute-conversation').click();
      await B.goto(`${t.base}/#/chats`);
      const convB = conversation(B, 'cora');
      await convB.getByTestId('muted-mark').waitFor();
      await A.goto(`${t.base}/#/chats`);
      await conversation(A, 'dion').click();
      await send(A, 'muted ping');
      await convB.getByTestId('conversation-preview').getByText('muted ping').waitFor();
      assert((await convB.getByTestId('unread').count()) === 0, 'no unread pill when muted');
      assert((await B.title()) === 'kez-chat', `no count in the title when muted, got ${await B.title()}`);
      log('mute: no unread count or title count, marked in the list');

      // 5. Note to self, and a second device of cora (restored from her phrase) shows it.
      await A.goto(`${t.base}/#/chats`);
      await A.getByTestId('note-to-self-offer').click();
      await A.getByTestId('thread-title').getByText('Note to self').waitFor();
      const note = await send(A, 'note: buy oat milk');
      assert((await note.getAttribute('data-state')) === 'sent', 'a note is sent, never delivered');
      const C2 = await openWindow(t, 'cora-second');
      windows.push(C2);
      await C2.page.getByRole('link', { name: 'I have a recovery phrase' }).click();
      await C2.page.locator('#phrase').fill(coraWords.join(' '));
      await C2.page.locator('#new-passphrase').fill('cora second device pass');
      await C2.page.locator('#confirm-passphrase').fill('cora second device pass');
      await C2.page.getByRole('button', { name: 'Restore' }).click();
      await C2.page.getByTestId('my-kez').getByText(`cora@${DOMAIN}`).waitFor();
      const selfConv = conversation(C2.page, 'cora');
      await selfConv.getByText('Note to self').waitFor();
      await selfConv.click();
      await C2.page.getByTestId('thread-title').getByText('Note to self').waitFor();
      await C2.page.locator('[data-message][data-dir="out"]').filter({ hasText: 'note: buy oat milk' }).waitFor();
      assert((await C2.page.locator('[data-message][data-dir="in"]').count()) === 0, 'the note is filed as outgoing on the other device');
      log('note to self: sent on one device, shown as outgoing on the restored one');

      // 5b. A block follows the identity (SPEC §8.7, review r13 #1): cora blocks dion on her first
      // device; her restored second device drops his message too, so he never sees "Delivered".
      const A2 = C2.page;
      await A.goto(`${t.base}/#/chats`);
      await conversation(A, 'dion').click();
      await A.getByTestId('conversation-menu').click();
      await A.getByTestId('block-conversation').click();
      await A.getByTestId('blocked-notice').getByText('You blocked dion').waitFor();
      await A2.goto(`${t.base}/#/chats`);
      await conversation(A2, 'dion').click();
      await A2.getByTestId('blocked-notice').getByText('You blocked dion').waitFor();
      await B.goto(`${t.base}/#/chats`);
      await conversation(B, 'cora').click();
      const toBoth = await send(B, 'cora, on both your devices?');
      // Notes to self after it, each shown on the other device: both have processed dion's message by then.
      /** @type {[import('playwright-core').Page, import('playwright-core').Page, string][]} */
      const notes = [[A2, A, 'note: after dion 1'], [A, A2, 'note: after dion 2']];
      for (const [from, to, text] of notes) {
        await from.goto(`${t.base}/#/chats`);
        await conversation(from, 'cora').click();
        await send(from, text);
        await to.goto(`${t.base}/#/chats`);
        await conversation(to, 'cora').click();
        await to.locator('[data-message][data-dir="out"]').filter({ hasText: text }).waitFor();
      }
      // Unblocked on the second device: the first follows, and dion's next message is delivered.
      await A2.goto(`${t.base}/#/chats`);
      await conversation(A2, 'dion').click();
      await A2.getByTestId('blocked-notice').getByRole('button', { name: 'Unblock' }).click();
      await A.goto(`${t.base}/#/chats`);
      await conversation(A, 'dion').click();
      await A.locator('#composer').waitFor();
      await send(B, 'and now?');
      await B.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: 'and now?' }).waitFor();
      for (const P of [A, A2]) {
        await P.goto(`${t.base}/#/chats`);
        await conversation(P, 'dion').click();
        await P.locator('[data-message][data-dir="in"]').filter({ hasText: 'and now?' }).waitFor();
        assert((await P.locator('[data-message]').filter({ hasText: 'on both your devices?' }).count()) === 0, 'the blocked message shows on no device');
      }
      assert((await toBoth.getAttribute('data-state')) === 'sent', 'no device of cora acked the blocked message');
      log('block follows the identity: the second device drops and never acks; an unblock there reaches the first');

      // 6. Invite link + QR: opened in a fresh context, it opens the chat with cora after sign-up.
      await A.goto(`${t.base}/#/chats`);
      await A.getByTestId('invite-toggle').click();
      await A.getByTestId('invite-qr').waitFor();
      const link = (await A.getByTestId('invite-link').textContent())?.trim() ?? '';
      assert(link === `${t.base}/#/chat/cora`, `invite link on the app's origin, got ${link}`);
      await shot(A, 'convo-invite.png');
      const F = await openWindow(t, 'fern');
      windows.push(F);
      // A fresh load of the link (not a hash change of the open page).
      await F.page.goto('about:blank');
      await F.page.goto(link);
      await signUp(F.page, 'fern', 'fern convo passphrase');
      // It asks first (review r13 #13): "Not now" saves no conversation; the link again, then yes.
      await F.page.getByTestId('invite-confirm').getByText('Start a chat with cora?').waitFor();
      await F.page.getByTestId('invite-confirm').getByRole('button', { name: 'Not now' }).click();
      await F.page.getByTestId('invite-confirm').waitFor({ state: 'detached' });
      assert((await conversation(F.page, 'cora').count()) === 0, 'no conversation saved without a yes');
      await F.page.goto(link);
      await F.page.getByTestId('invite-accept').click();
      await F.page.getByTestId('thread-title').getByText(`cora@${DOMAIN}`).waitFor();
      // In an unlocked tab the link asks at once.
      await B.goto(`${t.base}/#/chat/fern`);
      await B.getByTestId('invite-accept').click();
      await B.getByTestId('thread-title').getByText(`fern@${DOMAIN}`).waitFor();
      // A locked tab: the link waits for the passphrase, then opens the chat (not the remembered thread).
      await B.goto(`${t.base}/#/settings`);
      await B.getByRole('button', { name: 'Lock now' }).click();
      await B.getByRole('heading', { name: 'Welcome back' }).waitFor();
      await B.goto('about:blank');
      await B.goto(link);
      await B.locator('#passphrase').fill('dion convo passphrase');
      await B.getByRole('button', { name: 'Unlock' }).click();
      await B.getByTestId('invite-accept').click();
      await B.getByTestId('thread-title').getByText(`cora@${DOMAIN}`).waitFor();
      log('invite: the link asks, then opens a chat with cora after sign-up, in an open tab, and after an unlock');

      // 7. Delete a conversation: gone with its messages; cora's next message starts a fresh one.
      await send(F.page, 'hi cora, fern here');
      await F.page.getByTestId('conversation-menu').click();
      await F.page.getByTestId('delete-conversation').click();
      await F.page.getByTestId('confirm-delete-conversation').click();
      await F.page.waitForURL((u) => u.hash === '#/chats');
      assert((await conversation(F.page, 'cora').count()) === 0, 'the conversation is gone from the list');
      await A.goto(`${t.base}/#/chats`);
      await conversation(A, 'fern').click();
      await A.locator('[data-message][data-dir="in"]').filter({ hasText: 'hi cora, fern here' }).waitFor();
      await send(A, 'fresh start');
      await conversation(F.page, 'cora').getByTestId('conversation-preview').getByText('fresh start').waitFor();
      await conversation(F.page, 'cora').click();
      await F.page.locator('[data-message][data-dir="in"]').filter({ hasText: 'fresh start' }).waitFor();
      assert((await F.page.locator('[data-message]').count()) === 1, 'only the new message in the fresh conversation');
      log('delete: the thread is gone; a new message starts afresh');
    }
    // Closed only on success: a failure leaves them for the runner's screenshots.
    for (const w of windows) await w.ctx.close();
  },
};
