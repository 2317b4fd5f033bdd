// Reload, reveal, lock, unlock: bob's persistent session survives a reload;
// Settings refuses a wrong passphrase, then reveals his 24 words (kept for
// `restore`); locked, IndexedDB holds the history only sealed (SPEC §8.2);
// after a reload a wrong passphrase is refused and the right one unlocks
// with the history there.
import { assert, conversation, log, shot, PASS, TEXT1 } from '../helpers.mjs';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'reload, reveal phrase, lock, unlock',
  async run(t) {
    const B = t.bob.page;
    // Reload bob: the persistent session restores, history is there.
    await B.reload();
    await B.locator(`[data-message][data-dir="in"] [data-body]`).getByText(TEXT1).waitFor();
    log('bob: history survives a reload (persistent session)');

    await B.goto(t.base + '/#/settings');
    const toggleB = B.getByRole('switch', { name: 'Notifications' });
    await toggleB.waitFor();
    assert(await toggleB.isDisabled(), 'push toggle disabled when notifications are blocked');
    await B.getByTestId('push-unavailable').getByText(/blocked for this site/).waitFor();
    t.bobWords = await revealPhrase(B);
    await shot(B, '5-settings.png', { fullPage: true });
    await B.getByRole('button', { name: 'Lock now' }).click();
    await B.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await expectSealedStorage(B);

    // Lock, reload, wrong passphrase refused, right one unlocks with history.
    await B.reload();
    await B.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await B.locator('#passphrase').fill('definitely not it');
    await B.getByRole('button', { name: 'Unlock' }).click();
    await B.getByText('That passphrase doesn’t unlock this identity.').waitFor();
    await shot(B, '6-unlock-wrong-passphrase.png');
    log('bob: wrong passphrase refused');
    await B.locator('#passphrase').fill(PASS.bob);
    await B.getByRole('button', { name: 'Unlock' }).click();
    await conversation(B, 'alice').click();
    await B.locator('[data-message][data-dir="in"] [data-body]').getByText(TEXT1).waitFor();
    await B.locator('[data-message][data-dir="out"] [data-body]').filter({ hasText: 'loud and clear' }).waitFor();
    await B.locator('[data-live="live"]').waitFor();
    log('bob: unlocked with the right passphrase, history intact');
  },
};

/** Settings → "Reveal recovery phrase": a wrong passphrase first, then the right one. @param {import('playwright-core').Page} B */
async function revealPhrase(B) {
  await B.getByRole('button', { name: 'Reveal recovery phrase' }).click();
  await B.locator('#reveal-passphrase').fill('wrong wrong wrong');
  await B.getByRole('button', { name: 'Show phrase' }).click();
  await B.getByText('That passphrase doesn’t unlock this identity.').waitFor();
  await B.locator('#reveal-passphrase').fill(PASS.bob);
  await B.getByRole('button', { name: 'Show phrase' }).click();
  await B.getByRole('list', { name: 'Recovery phrase' }).waitFor();
  const words = (await B.getByRole('list', { name: 'Recovery phrase' }).locator('li').allTextContents()).map((t) =>
    t.replace(/^\s*\d+/, '').trim(),
  );
  assert(words.length === 24, 'settings reveals 24 words');
  return words;
}

/** Locked: the browser's IndexedDB holds history only sealed (SPEC §8.2). @param {import('playwright-core').Page} B */
async function expectSealedStorage(B) {
  const idb = await B.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('kez-chat');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('kv').objectStore('kv').getAll();
          all.onerror = () => reject(all.error);
          all.onsuccess = () => {
            const bytes = (/** @type {Uint8Array} */ u) => Array.from(u, (c) => String.fromCharCode(c)).join('');
            const dump = JSON.stringify(all.result, (_k, v) => (v instanceof Uint8Array ? bytes(v) : v));
            const sealed = all.result.filter((v) => v && v.kez_sealed === 1).length;
            open.result.close();
            resolve({ dump, sealed });
          };
        };
      }),
  );
  assert(idb.sealed >= 3, `sealed chat records in IndexedDB (got ${idb.sealed})`);
  for (const n of ['Hello Bob', 'loud and clear']) assert(!idb.dump.includes(n), `IndexedDB holds "${n}" in clear`);
  log(`bob (locked): IndexedDB holds ${idb.sealed} sealed chat records and no message text`);
}
