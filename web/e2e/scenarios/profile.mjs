// Profile pictures (SPEC §14): alice picks a picture (generated in the page)
// and a display name in Settings; bob, a contact, sees her face in the thread
// header (pixels close to her local picture) and can zoom it; carol, a third
// browser that never talked to her, fetches the same profile and sees noise
// (pixels far from it), and still does after writing to alice first and
// alice republishing (a stranger's message earns no key); once alice answers
// her, carol sees the face. A fresh browser restored from alice's phrase
// reads her own picture back through its self-wrap, and its republish keeps
// bob's wrap (bob still sees her face); the SQLite file holds the
// scrambled PNG (positive control) but neither her local JPEG nor a plain one.
// Alice ends in the thread she started in.
import { existsSync, readFileSync } from 'node:fs';
import { assert, conversation, log, openWindow, shot, signUp, DOMAIN } from '../helpers.mjs';

/** Mean absolute difference per channel (0–255) between two equal-length RGB arrays. */
export function meanDiff(/** @type {number[]} */ a, /** @type {number[]} */ b) {
  assert(a.length === b.length && a.length > 0, `pixel arrays of equal length (${a.length}, ${b.length})`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d / a.length;
}

/**
 * The RGB of an <img> (by test id) drawn at 16×16: coarse enough to forgive
 * JPEG and scaling, fine enough to tell a face from noise.
 * @param {import('playwright-core').Page} page @param {string} testid
 */
export async function pixelsOf(page, testid) {
  const img = page.locator(`img[data-testid="${testid}"]`).first();
  await img.waitFor();
  return img.evaluate(async (el) => {
    const im = /** @type {HTMLImageElement} */ (el);
    await im.decode();
    const c = document.createElement('canvas');
    c.width = c.height = 16;
    const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    g.drawImage(im, 0, 0, 16, 16);
    const d = g.getImageData(0, 0, 16, 16).data;
    return Array.from(d).filter((_, i) => i % 4 !== 3);
  });
}

/** A 400×300 PNG with big shapes (a "face"), made by the page's canvas. @param {import('playwright-core').Page} page */
export async function makePicture(page) {
  const b64 = await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 400;
    c.height = 300;
    const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    g.fillStyle = '#1d4ed8';
    g.fillRect(0, 0, 400, 300);
    g.fillStyle = '#fde047';
    g.beginPath();
    g.arc(200, 150, 110, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = '#111827';
    g.fillRect(150, 110, 30, 30);
    g.fillRect(220, 110, 30, 30);
    g.fillStyle = '#dc2626';
    g.fillRect(140, 200, 120, 25);
    return c.toDataURL('image/png').split(',')[1];
  });
  return Buffer.from(b64, 'base64');
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'profile pictures: contacts see the face, strangers noise',
  async run(t) {
    const A = t.alice.page;
    const aliceWasAt = A.url();
    await A.goto(t.base + '/#/settings');
    await A.getByTestId('profile-file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: await makePicture(A) });
    await A.locator('#profile-name').fill('Alice Liddell');
    assert(await A.getByTestId('profile-visual').isChecked(), 'visual encryption is on by default');
    await A.getByTestId('profile-save').click();
    await A.getByTestId('profile-saved').waitFor();
    const local = await pixelsOf(A, 'profile-real');
    const stranger = await pixelsOf(A, 'profile-stranger');
    assert(meanDiff(local, stranger) > 40, `"what strangers see" is noise (diff ${meanDiff(local, stranger).toFixed(1)})`);
    await shot(A, 'profile-settings.png');
    const published = (await A.locator('img[data-testid="profile-stranger"]').getAttribute('src')) ?? '';
    const localUrl = (await A.locator('img[data-testid="profile-real"]').getAttribute('src')) ?? '';
    assert(published.startsWith('data:image/png;base64,'), 'the published picture is a PNG');
    assert(localUrl.startsWith('data:image/jpeg;base64,'), 'the local picture is a JPEG');
    // 8-bit RGB (colour type 2), SPEC §14.2: IHDR's byte 25.
    const png = Buffer.from(published.split(',')[1], 'base64');
    assert(png[24] === 8 && png[25] === 2, `scrambled PNG is 8-bit RGB (depth ${png[24]}, colour type ${png[25]})`);
    log('alice: picture set, "what strangers see" is noise');

    // Bob, a contact: the thread header shows her face, her display name, and zooms.
    const B = t.bob.page;
    await B.goto(t.base + '/#/chats');
    await B.locator(`[data-testid="conversation"][data-peer="alice@${DOMAIN}"]`).click();
    await B.getByTestId('thread-display-name').getByText('Alice Liddell').waitFor();
    const inList = B.locator(`[data-testid="conversation"][data-peer="alice@${DOMAIN}"]`);
    await inList.getByTestId('conversation-display-name').getByText('Alice Liddell').waitFor();
    await inList.locator('img[data-testid="conversation-avatar"]').waitFor();
    const bobSees = await pixelsOf(B, 'thread-avatar');
    const near = meanDiff(local, bobSees);
    assert(near < 12, `bob sees alice's face (diff ${near.toFixed(1)})`);
    await B.getByRole('button', { name: 'Show alice', exact: false }).click();
    await B.getByTestId('avatar-zoom').waitFor();
    await shot(B, 'profile-bob-zoom.png');
    await B.keyboard.press('Escape');
    await B.getByTestId('avatar-zoom').waitFor({ state: 'detached' });
    log(`bob: sees alice's face (mean diff ${near.toFixed(1)}) and her display name`);

    await strangerEarnsNoKey(t, local);
    await restoredReadsOwnPicture(t, local);
    checkDb(t.dbPath, published, localUrl);
    // Back where the chat scenario left her (the next scenarios type in that thread).
    await A.goto(aliceWasAt);
    await A.locator('#composer').waitFor();
  },
};

/** Alice's published `updated_at` (the home server's copy). @param {import('../helpers.mjs').Run} t */
async function publishedAt(t) {
  const res = await fetch(`${t.base}/v1/u/alice/profile`, { cache: 'no-store' });
  assert(res.ok, `alice has a profile (${res.status})`);
  return /** @type {{payload: {updated_at: string}}} */ (await res.json()).payload.updated_at;
}

/** Wait (bounded) until alice's published document is newer than `than`. @param {import('../helpers.mjs').Run} t @param {string} than */
async function republishedAfter(t, than) {
  for (let i = 0; i < 100; i++) {
    if ((await publishedAt(t)) > than) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`alice's profile was not republished after ${than}`);
}

/** Save a new display name in Settings (an explicit republish). @param {import("playwright-core").Page} page @param {string} base @param {string} name */
async function saveName(page, base, name) {
  await page.goto(base + '/#/settings');
  await page.locator('#profile-name').fill(name);
  await page.getByTestId('profile-save').click();
  await page.getByTestId('profile-saved').waitFor();
}

/** Open `peer`'s thread again from the list (a thread opening refetches the peer's profile). @param {import('playwright-core').Page} page @param {string} base @param {string} peer */
async function reopen(page, base, peer) {
  await page.goto(base + '/#/chats');
  await conversation(page, peer).click();
  await page.getByTestId('thread-title').getByText(`${peer}@${DOMAIN}`).waitFor();
}

/**
 * Carol never talked to alice: she sees the noise, and still does after
 * writing to alice first and alice republishing (SPEC §14.3: a wrap only for
 * peers alice has written to); once alice answers, carol sees the face.
 * @param {import('../helpers.mjs').Run} t @param {number[]} local
 */
async function strangerEarnsNoKey(t, local) {
  const A = t.alice.page;
  const C = await openWindow(t, 'carol');
  try {
    await signUp(C.page, 'carol', 'carol long passphrase');
    await C.page.locator('#start-chat').fill(`alice@${DOMAIN}`);
    await C.page.getByRole('button', { name: 'Chat', exact: true }).click();
    await C.page.getByTestId('thread-title').getByText(`alice@${DOMAIN}`).waitFor();
    let far = meanDiff(local, await pixelsOf(C.page, 'thread-avatar'));
    assert(far > 40, `carol sees noise (diff ${far.toFixed(1)})`);
    await shot(C.page, 'profile-carol-noise.png');
    log(`carol (a stranger): sees noise (mean diff ${far.toFixed(1)})`);

    await C.page.locator('#composer').fill('hi alice, we have not met');
    await C.page.locator('#composer').press('Enter');
    await A.goto(t.base + '/#/chats');
    await conversation(A, 'carol').waitFor();
    // Alice republishes (a new display name): still no wrap for carol.
    await saveName(A, t.base, 'Alice L.');
    await reopen(C.page, t.base, 'alice');
    await C.page.getByTestId('thread-display-name').getByText('Alice L.').waitFor();
    far = meanDiff(local, await pixelsOf(C.page, 'thread-avatar'));
    assert(far > 40, `carol, who wrote first, still sees noise after alice republished (diff ${far.toFixed(1)})`);
    log(`carol wrote first: alice republished, carol still sees noise (mean diff ${far.toFixed(1)})`);

    // Alice answers: carol is a contact, the profile is republished with her wrap.
    const before = await publishedAt(t);
    await reopen(A, t.base, 'carol');
    await A.locator('#composer').fill('hello carol');
    await A.locator('#composer').press('Enter');
    await republishedAfter(t, before);
    await reopen(C.page, t.base, 'alice');
    // Opening the thread revalidates the profile (SPEC §14.7): the new wrap
    // arrives after the header is drawn, so wait for it (bounded).
    let near = meanDiff(local, await pixelsOf(C.page, 'thread-avatar'));
    for (const until = Date.now() + 15_000; near >= 12 && Date.now() < until; ) {
      await C.page.waitForTimeout(250);
      near = meanDiff(local, await pixelsOf(C.page, 'thread-avatar'));
    }
    assert(near < 12, `carol sees alice's face once alice wrote to her (diff ${near.toFixed(1)})`);
    log(`alice answered carol: carol sees her face (mean diff ${near.toFixed(1)})`);
  } finally {
    await C.ctx.close();
  }
}

/**
 * A fresh browser restored from alice's phrase shows her own picture in
 * Settings; its republish keeps the wraps of contacts it has no history of
 * (bob still sees her face).
 * @param {import('../helpers.mjs').Run} t @param {number[]} local
 */
async function restoredReadsOwnPicture(t, local) {
  assert(t.aliceWords?.length === 24, 'register kept alice\'s 24 words');
  // Dora: alice writes to her from her first device and she never answers, so
  // a restored device has no trace of her (bob's replies come back from the inbox).
  const D = await openWindow(t, 'dora');
  const R = await openWindow(t, 'alice-restored');
  try {
    await signUp(D.page, 'dora', 'dora long passphrase');
    const A = t.alice.page;
    const before = await publishedAt(t);
    await A.goto(t.base + '/#/chats');
    await A.locator('#start-chat').fill(`dora@${DOMAIN}`);
    await A.getByRole('button', { name: 'Chat', exact: true }).click();
    await A.locator('#composer').fill('hi dora');
    await A.locator('#composer').press('Enter');
    await republishedAfter(t, before);
    log('alice wrote to dora: republished with her wrap');
    await R.page.getByRole('link', { name: 'I have a recovery phrase' }).click();
    await R.page.locator('#phrase').fill(t.aliceWords.join(' '));
    await R.page.locator('#new-passphrase').fill('alice restored passphrase');
    await R.page.locator('#confirm-passphrase').fill('alice restored passphrase');
    await R.page.getByRole('button', { name: 'Restore' }).click();
    await R.page.getByTestId('my-kez').getByText(`alice@${DOMAIN}`).waitFor();
    await R.page.goto(t.base + '/#/settings');
    const own = await pixelsOf(R.page, 'profile-real');
    const d = meanDiff(local, own);
    assert(d < 12, `the restored device shows alice's own picture (diff ${d.toFixed(1)})`);
    log(`alice restored: reads her own picture through the self-wrap (mean diff ${d.toFixed(1)})`);
    // The restored device republishes; dora (only in the old device's history) keeps her wrap.
    await saveName(R.page, t.base, 'Alice R.');
    await reopen(D.page, t.base, 'alice');
    await D.page.getByTestId('thread-display-name').getByText('Alice R.').waitFor();
    const doraSees = meanDiff(local, await pixelsOf(D.page, 'thread-avatar'));
    assert(doraSees < 12, `dora still sees alice's face after the restored device republished (diff ${doraSees.toFixed(1)})`);
    const B = t.bob.page;
    await reopen(B, t.base, 'alice');
    await B.getByTestId('thread-display-name').getByText('Alice R.').waitFor();
    const bobSees = meanDiff(local, await pixelsOf(B, 'thread-avatar'));
    assert(bobSees < 12, `bob still sees alice's face after the restored device republished (diff ${bobSees.toFixed(1)})`);
    log(`restored device republished: dora and bob still see her face (mean diff ${doraSees.toFixed(1)}, ${bobSees.toFixed(1)})`);
  } finally {
    await R.ctx.close();
    await D.ctx.close();
  }
}

/** The database holds the scrambled PNG, never the local JPEG. @param {string} dbPath @param {string} published @param {string} localUrl */
function checkDb(dbPath, published, localUrl) {
  const files = ['', '-wal'].map((s) => dbPath + s).filter((f) => existsSync(f));
  const all = Buffer.concat(files.map((f) => readFileSync(f)));
  const scrambledB64 = published.split(',')[1].slice(0, 200);
  assert(all.includes(Buffer.from(scrambledB64)), 'positive control: the scrambled PNG is in the database');
  const jpeg = Buffer.from(localUrl.split(',')[1], 'base64');
  // A run from the middle of the JPEG (past the common header) and its base64.
  assert(!all.includes(jpeg.subarray(600, 800)), 'the local JPEG bytes are not in the database');
  assert(!all.includes(Buffer.from(localUrl.split(',')[1].slice(800, 1000))), 'nor its base64');
  assert(!all.includes(Buffer.from('data:image/jpeg')), 'no plain JPEG picture published');
  log('database: scrambled PNG only, no JPEG of the face');
}
