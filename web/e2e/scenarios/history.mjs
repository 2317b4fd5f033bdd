// History follows the identity (SPEC §8.3, §8.4): a second device of alice,
// restored from her phrase in a fresh context, shows both sides of her
// conversation with bob (her sent messages came back as self-copies from her
// own mailbox), also the one whose self-copy could not go before her first
// device's tab was reloaded (the copy waited in the persisted send queue,
// SPEC §8.3, and went after the reload), and her reaction whose tab closed
// the instant the server accepted it (kept in `unposted_ops`, posted again at
// the reopen, its copy then). Then alice exports her history on her first device, the
// mailbox is emptied as the 48 h retention would, and a third device restored
// from the phrase gets the old messages only by importing the file.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { artifacts, assert, conversation, log, openUnlocked, openWindow, watch, DOMAIN, PASS, TEXT1, TEXT2 } from '../helpers.mjs';

const REPLY_PART = TEXT2.replace('Hi Alice! ', '');
const LATE_COPY = 'Sent just before my tab was reloaded';

/**
 * alice sends LATE_COPY while her posts to her own mailbox (the self-copy)
 * fail as offline, then her tab reloads: the copy, kept in the persisted
 * queue, goes after the reload.
 * @param {import('../helpers.mjs').Run} t
 */
async function copyAfterReload(t) {
  const A = t.alice.page;
  await A.goto(t.base + '/#/chats');
  // Not the stranger keys.mjs gave the handle "bob" (an empty conversation), when it ran.
  await conversation(A, 'bob').filter({ hasNotText: 'No messages yet' }).first().click();
  let refused = 0;
  const MESSAGES = /\/v1\/messages(\?|$)/;
  /** @param {import('playwright-core').Route} route */
  const refuseCopies = (route) => {
    if (route.request().postDataJSON()?.to !== 'alice') return route.continue();
    refused += 1;
    return route.abort('internetdisconnected');
  };
  await A.route(MESSAGES, refuseCopies);
  await A.locator('#composer').fill(LATE_COPY);
  await A.locator('#composer').press('Enter');
  await A.locator('[data-message][data-dir="out"][data-state="sent"]').filter({ hasText: LATE_COPY }).waitFor();
  for (let i = 0; i < 400 && refused === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert(refused > 0, 'the self-copy was tried and refused');
  await A.unroute(MESSAGES, refuseCopies);
  await A.reload();
  await A.locator('[data-message][data-dir="out"]').filter({ hasText: LATE_COPY }).waitFor();
  log(`alice: the self-copy refused ${refused}×, the tab reloaded before it went`);
}

const REACTED = '❤️';

/**
 * alice reacts to bob's reply and her tab is closed the instant the server
 * accepted the reaction (the browser never hears the 201, so no write after
 * it lands): the op was kept in `unposted_ops` (SPEC §8.2) before its post,
 * the reopened tab posts it again (200) and its self-copy goes then.
 * @param {import('../helpers.mjs').Run} t
 */
async function reactionAtAccept(t) {
  const A = t.alice.page;
  await A.goto(t.base + '/#/chats');
  await conversation(A, 'bob').filter({ hasNotText: 'No messages yet' }).first().click();
  const theirs = A.locator('[data-message][data-dir="in"]').filter({ hasText: REPLY_PART }).first();
  await theirs.hover();
  await theirs.getByTestId('message-actions').click();
  const MESSAGES = /\/v1\/messages(\?|$)/;
  let caught = false;
  /** @type {() => void} */
  let closed = () => {};
  const gone = new Promise((r) => (closed = () => r(undefined)));
  await A.route(MESSAGES, async (route) => {
    const req = route.request();
    if (caught || !req.url().includes('notify=false') || String(req.postDataJSON()?.to ?? '').startsWith('alice')) return route.continue().catch(() => {});
    caught = true;
    await route.fetch().catch(() => {}); // the server takes it
    await A.close().catch(() => {}); // and the tab is gone before it hears so
    closed();
  });
  await theirs.getByTestId('message-menu').getByTestId(`react-${REACTED}`).click();
  await gone;
  const page = await t.alice.ctx.newPage();
  watch(t, page, 'alice');
  t.alice.page = page;
  await openUnlocked(page, t.base + '/', PASS.alice, 'bob');
  // Back in the thread, where the scenarios after this one expect alice.
  await conversation(page, 'bob').filter({ hasNotText: 'No messages yet' }).first().click();
  await page.locator('#composer').waitFor();
  log(`alice: reacted ${REACTED}, the tab closed at the server's accept, reopened`);
}

/** @param {import('../helpers.mjs').Run} t @param {string} who */
async function restoreAlice(t, who) {
  assert(t.aliceWords?.length === 24, "register kept alice's 24 words");
  const W = await openWindow(t, who);
  await W.page.getByRole('link', { name: 'I have a recovery phrase' }).click();
  const note = (await W.page.getByTestId('restore-history-note').textContent())?.replace(/\s+/g, ' ');
  assert(/48 hours/.test(note ?? '') && /what you sent/.test(note ?? '') && /history file/.test(note ?? ''), 'the restore screen says what comes back');
  await W.page.locator('#phrase').fill(t.aliceWords.join(' '));
  await W.page.locator('#new-passphrase').fill('alice second device pass');
  await W.page.locator('#confirm-passphrase').fill('alice second device pass');
  await W.page.getByRole('button', { name: 'Restore' }).click();
  await W.page.getByTestId('my-kez').getByText(`alice@${DOMAIN}`).waitFor();
  return W;
}

/**
 * Both sides of the alice–bob thread on `page`: her TEXT1 outgoing, bob's
 * reply incoming. Opened from the list, or at `href` (after the keys
 * scenario alice also has a "key changed" conversation under bob's handle).
 * Returns the thread's href.
 * @param {import('playwright-core').Page} page @param {string | null} [href]
 */
async function bothSides(page, href = null) {
  if (href) await page.locator(`[data-testid="conversation"][href="${href}"]`).click();
  else await conversation(page, 'bob').first().click();
  const at = new URL(page.url()).hash;
  await page.locator('[data-message][data-dir="out"] [data-body]').getByText(TEXT1).waitFor();
  await page.locator('[data-message][data-dir="in"] [data-body]').getByText(REPLY_PART).waitFor();
  return at;
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'history follows the identity',
  async run(t) {
    // 0. A message whose self-copy could not go before the tab reloaded.
    await copyAfterReload(t);
    // 0b. A reaction whose tab closed at the server's accept (review S2).
    await reactionAtAccept(t);

    // 1. A second device: both sides from the mailbox (self-copies + bob's messages).
    const second = await restoreAlice(t, 'alice-second');
    let thread;
    try {
      thread = await bothSides(second.page);
      await second.page.locator('[data-message][data-dir="out"] [data-body]').getByText(LATE_COPY).waitFor();
      await second.page.locator('[data-message][data-dir="in"]').filter({ hasText: REPLY_PART }).locator(`[data-testid="reaction"][data-emoji="${REACTED}"]`).waitFor();
      log('alice restored on a second device: her sent messages (the one whose copy went after the reload too), bob’s replies and her reaction from the closed tab are all there');
    } finally {
      await second.ctx.close();
    }

    // 2. Export on the first device.
    const A = t.alice.page;
    const aliceWasAt = A.url();
    await A.goto(t.base + '/#/settings');
    const [download] = await Promise.all([A.waitForEvent('download'), A.getByTestId('history-export').click()]);
    const file = join(artifacts, 'alice.kezhistory');
    await download.saveAs(file);
    await A.getByTestId('history-note').waitFor();
    await A.goto(aliceWasAt);
    await A.locator('#composer').waitFor();

    // 3. 48 h later: retention has emptied alice's mailbox (done here in the database, as the sweep would).
    const sql =
      "DELETE FROM messages WHERE recipient = 'alice';" +
      "UPDATE mailboxes SET msg_count = 0, msg_bytes = 0 WHERE handle = 'alice';";
    execFileSync('sqlite3', [t.dbPath, sql]);

    // 4. A device restored now has nothing with bob until it imports the file.
    const third = await restoreAlice(t, 'alice-third');
    try {
      const P = third.page;
      await P.locator('[data-testid="live-status"][data-live="live"]').waitFor();
      assert((await conversation(P, 'bob').count()) === 0, 'with the mailbox emptied, no conversation comes back by itself');
      await P.goto(t.base + '/#/settings');
      await P.getByTestId('history-import').setInputFiles(file);
      const note = await P.getByTestId('history-note').textContent();
      assert(/messages? added/.test(note ?? '') && !/^0 /.test(note ?? ''), `import added messages (${note})`);
      await P.goto(t.base + '/#/chats');
      await bothSides(P, thread);
      log(`alice restored after retention: the exported history brings both sides back (${note})`);
    } finally {
      await third.ctx.close();
    }
  },
};
