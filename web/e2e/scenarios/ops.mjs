// Message operations (SPEC §8.5), on alice and bob's conversation (from
// `chat`; after `keys` alice also has a "bob" with another key, left
// alone): bob writes, alice replies to his message (bob sees the quote from his own
// copy), reacts to it, edits one of hers and deletes another for everyone
// (after a confirm); bob's window shows each, and bob's reaction (given
// with the keyboard only) reaches alice. The SQLite file never holds the
// edited or deleted text in clear, and neither does bob's IndexedDB.
import { readFileSync, existsSync } from 'node:fs';
import { assert, conversation, log, shot } from '../helpers.mjs';

const KEEP = 'Ops: a message to edit';
const EDITED = 'Ops: edited secret 🧪 text';
const GONE = 'Ops: a message to delete 🗑';
const REPLY = 'Ops: a reply 🦊';
const BOBS = 'Ops: bob says hi';

/** @param {import('playwright-core').Page} page @param {'in' | 'out'} dir @param {string} text */
const bubble = (page, dir, text) => page.locator(`[data-message][data-dir="${dir}"]`).filter({ hasText: text });

/** Open `msg`'s action menu with the mouse (hover shows the ⋯ button). @param {import('playwright-core').Locator} msg */
async function menu(msg) {
  await msg.hover();
  await msg.getByTestId('message-actions').click();
  return msg.getByTestId('message-menu');
}

/** @param {import('playwright-core').Page} page @param {string} text */
async function send(page, text) {
  await page.locator('#composer').fill(text);
  await page.locator('#composer').press('Enter');
  await page.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: text }).waitFor();
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'reply, react, edit and delete',
  async run(t) {
    const A = t.alice.page;
    const B = t.bob.page;
    await conversation(B, 'alice').first().click();
    await send(B, BOBS);
    // The conversation bob's message arrived in (after `keys` there is a second "bob", with another key).
    await conversation(A, 'bob').filter({ hasText: BOBS }).click();
    await send(A, KEEP);
    await send(A, GONE);
    await bubble(B, 'in', GONE).waitFor();

    // Reply to bob's message: the banner, then the quote on both sides.
    const theirs = bubble(A, 'in', BOBS).first();
    await (await menu(theirs)).getByTestId('action-reply').click();
    await A.getByTestId('composer-banner').getByText(BOBS).waitFor();
    await send(A, REPLY);
    assert((await A.getByTestId('composer-banner').count()) === 0, 'the reply banner goes once sent');
    const replyB = bubble(B, 'in', REPLY);
    await replyB.getByTestId('reply-quote').getByText(BOBS).waitFor();
    log('alice replied; bob sees the quote from his own copy');

    // React to bob's message.
    await (await menu(theirs)).getByTestId('react-👍').click();
    await bubble(B, 'out', BOBS).first().locator('[data-testid="reaction"][data-emoji="👍"]').getByText('1').waitFor();
    log('alice reacted 👍; bob sees the chip');

    // Edit her own message: the composer holds its text, Enter sends the edit.
    await (await menu(bubble(A, 'out', KEEP))).getByTestId('action-edit').click();
    assert((await A.locator('#composer').inputValue()) === KEEP, 'the composer holds the text to edit');
    await A.locator('#composer').fill(EDITED);
    await A.locator('#composer').press('Enter');
    const editedB = bubble(B, 'in', EDITED);
    await editedB.getByTestId('edited').waitFor();
    assert((await bubble(B, 'in', KEEP).count()) === 0, 'the old text is gone on bob’s side');

    // Delete for everyone, after the confirm.
    A.once('dialog', (d) => void d.accept());
    await (await menu(bubble(A, 'out', GONE))).getByTestId('action-delete').click();
    await B.locator('[data-message][data-dir="in"][data-deleted]').getByText('This message was deleted').waitFor();
    assert((await B.getByText(GONE).count()) === 0, 'the deleted text is gone from bob’s window');
    await A.locator('[data-message][data-dir="out"][data-deleted]').waitFor();
    log('alice edited and deleted; bob sees "edited" and "This message was deleted"');
    await shot(B, 'ops-bob.png');

    // Bob reacts with the keyboard only: focus ⋯, Enter opens the menu on 👍, → moves to ❤️.
    await replyB.getByTestId('message-actions').focus();
    await B.keyboard.press('Enter');
    await replyB.getByTestId('react-👍').and(B.locator(':focus')).waitFor();
    await B.keyboard.press('ArrowRight');
    await B.keyboard.press('Enter');
    await bubble(A, 'out', REPLY).locator('[data-testid="reaction"][data-emoji="❤️"]').waitFor();
    log('bob reacted ❤️ with the keyboard; alice sees it');
    await shot(A, 'ops-alice.png');

    // The picker (TODO #165), on a 360 px phone: "+" opens it in the menu, the search finds 🔥, ↓ then Enter picks it.
    const wide = B.viewportSize();
    await B.setViewportSize({ width: 360, height: 740 });
    await (await menu(replyB)).getByTestId('react-more').click();
    const picker = replyB.getByTestId('emoji-picker');
    await picker.getByTestId('emoji-search').fill('fire');
    await picker.getByTestId('pick-🔥').waitFor();
    const box = await replyB.getByTestId('message-menu').boundingBox();
    assert(box && box.x >= 0 && box.x + box.width <= 360 && box.y >= 0 && box.y + box.height <= 740, `the picker lies inside a 360×740 viewport, got ${JSON.stringify(box)}`);
    await shot(B, 'ops-picker.png');
    await B.keyboard.press('ArrowDown');
    await picker.getByTestId('pick-🔥').and(B.locator(':focus')).waitFor();
    await B.keyboard.press('Enter');
    await bubble(A, 'out', REPLY).locator('[data-testid="reaction"][data-emoji="🔥"]').waitFor();
    assert((await bubble(A, 'out', REPLY).locator('[data-testid="reaction"][data-emoji="❤️"]').count()) === 0, 'the 🔥 replaced bob’s ❤️');
    if (wide) await B.setViewportSize(wide);
    // Used once, 🔥 leads the quick row; Escape leaves the picker for the menu, then closes the menu.
    const again = await menu(replyB);
    await again.getByTestId('react-🔥').first().waitFor();
    assert((await again.getByTestId('react-🔥').getAttribute('aria-checked')) === 'true', 'the quick row marks the 🔥 bob gave');
    await again.getByTestId('react-more').click();
    await picker.getByTestId('recent-🔥').waitFor();
    await picker.getByTestId('pick-😀').waitFor();
    await shot(B, 'ops-picker-recent.png');
    // Escape in a search with text clears it; the next one goes back to the menu, the third closes it.
    await picker.getByTestId('emoji-search').fill('cat');
    await B.keyboard.press('Escape');
    await picker.getByTestId('recent-🔥').waitFor();
    assert((await picker.getByTestId('emoji-search').inputValue()) === '', 'the first Escape clears the search');
    await B.keyboard.press('Escape');
    await again.getByTestId('react-more').and(B.locator(':focus')).waitFor();
    await B.keyboard.press('Escape');
    await again.waitFor({ state: 'detached' });
    // Picking the one given takes it back.
    await (await menu(replyB)).getByTestId('react-more').click();
    await picker.getByTestId('recent-🔥').click();
    await bubble(A, 'out', REPLY).locator('[data-testid="reaction"]').first().waitFor({ state: 'detached' });
    log('bob reacted 🔥 through the picker’s search (fits 360 px), 🔥 leads his quick row, picking it again took it back');

    for (const n of [EDITED, GONE, KEEP]) dbHasNo(t.dbPath, n);
    const dump = await idbDump(B);
    for (const n of ['Ops: edited secret', 'Ops: a message to delete', 'Ops: a reply']) assert(!dump.includes(n), `bob's IndexedDB holds "${n}" in clear`);
    log('the SQLite file and bob’s IndexedDB hold none of the texts in clear');
  },
};

/** @param {string} dbPath @param {string} needle */
function dbHasNo(dbPath, needle) {
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const f = dbPath + suffix;
    if (existsSync(f)) assert(!readFileSync(f).includes(Buffer.from(needle, 'utf8')), `${f} contains "${needle}"`);
  }
}

/** Every record of the page's `kez-chat` IndexedDB as text (byte arrays as latin1). @param {import('playwright-core').Page} page */
function idbDump(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('kez-chat');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('kv').objectStore('kv').getAll();
          all.onerror = () => reject(all.error);
          all.onsuccess = () => {
            const bytes = (/** @type {Uint8Array} */ u) => new TextDecoder('latin1').decode(u);
            open.result.close();
            resolve(JSON.stringify(all.result, (_k, v) => (v instanceof Uint8Array ? bytes(v) : v)));
          };
        };
      }),
  );
}
