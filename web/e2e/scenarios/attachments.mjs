// Files (SPEC §13). On the main server (transport `server`): alice sends bob
// a generated ~2 MB PNG through the paperclip; her posts are held after the
// pointer and a few chunks, bob sees "Receiving N/M…", reloads, still sees
// N/M (the sealed buffer survived), the hold is lifted and the image arrives
// with the SHA-256 alice announced, and alice's copy turns delivered. An
// 11 MB file is refused with a sentence and nothing is sent; a JPEG with an
// EXIF block arrives inline without it, also with no extension and no type
// (cleaned by its first bytes); an HTML file
// dropped on the thread goes inline and is only a download for bob. Neither
// the SQLite file nor bob's IndexedDB holds the image's bytes (raw or
// b64url). Then, on a second server
// with a local relay (skipped without NOSTR_RELAY_BIN), two users on
// transport `nostr` send the same image: one kind 4243 (the pointer), the
// chunks as silent 4244, one push by the server's listener; then nadia's
// profile travels by the relay's kind 0 alone and oscar sees her face.
import { readFileSync, existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { assert, colorScheme, conversation, log, shot, signUp, DOMAIN } from '../helpers.mjs';
import { metric, query, relayBin, withRelayServer } from '../nostr-server.mjs';
import { chooseNostr } from './nostr.mjs';
import { makePicture, meanDiff, pixelsOf } from './profile.mjs';

/** Posts that go through before the hold: the pointer and this many chunks minus one. */
const HOLD_AFTER = 8;

/** CRC-32 (PNG chunks). @param {Buffer} buf */
function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** @param {string} type @param {Buffer} data */
function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** An RGB PNG of random noise (incompressible: ~3·w·h bytes, also after the canvas re-encodes it). @param {number} w @param {number} h */
export function noisePng(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < h; y++) rows.push(Buffer.from([0]), randomBytes(w * 3));
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.concat(rows))), pngChunk('IEND', Buffer.alloc(0))]);
}

/** The bytes behind the newest incoming image, and the SHA-256 its bubble announces. @param {import('playwright-core').Page} page */
async function receivedImage(page) {
  const bubble = page.locator('[data-message][data-dir="in"] [data-file][data-file-state="ready"]').last();
  await bubble.getByTestId('file-image').waitFor();
  const sha = await bubble.getAttribute('data-sha256');
  // Saved the way a user saves it (the page's CSP keeps fetch() off blob: URLs).
  const [download] = await Promise.all([page.waitForEvent('download'), bubble.getByTestId('file-download').click()]);
  const path = await download.path();
  assert(path, 'the download finished');
  const bytes = readFileSync(path);
  const hex = createHash('sha256').update(bytes).digest('hex');
  assert(hex === sha, `the received image's SHA-256 ${hex} is the announced ${sha}`);
  return { sha, bytes };
}

/** Neither runs of `bytes` nor their b64url (as inside a chunk body) are in the SQLite file. @param {string} dbPath @param {Buffer} bytes */
function checkDbHasNoFile(dbPath, bytes) {
  const needles = [];
  // Offsets 3-aligned from a chunk's start (81,920 bytes), so the b64url of the run is what a chunk body would hold.
  for (const off of [3000, 81920 + 3000, 2 * 81920 + 30000]) {
    if (off + 48 > bytes.length) continue;
    const run = bytes.subarray(off, off + 48);
    needles.push(run, Buffer.from(run.toString('base64url')));
  }
  assert(needles.length >= 4, 'the file is long enough to sample');
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const f = dbPath + suffix;
    if (!existsSync(f)) continue;
    const db = readFileSync(f);
    for (const n of needles) assert(!db.includes(n), `${f} contains image bytes in clear`);
  }
}

/**
 * A JPEG drawn by the browser, with an APP1 "Exif" segment holding `marker`
 * spliced in after SOI (a stand-in for a phone's location tags).
 * @param {import('playwright-core').Page} page @param {string} marker
 */
async function jpegWithExif(page, marker) {
  const b64 = await page.evaluate(async () => {
    const c = new OffscreenCanvas(64, 48);
    const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext('2d'));
    g.fillStyle = '#c33';
    g.fillRect(0, 0, 64, 48);
    const u = new Uint8Array(await (await c.convertToBlob({ type: 'image/jpeg' })).arrayBuffer());
    let s = '';
    for (const v of u) s += String.fromCharCode(v);
    return btoa(s);
  });
  const jpeg = Buffer.from(b64, 'base64');
  const payload = Buffer.concat([Buffer.from('Exif\0\0MM\0*\0\0\0\x08\0\0', 'latin1'), Buffer.from(marker)]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(payload.length + 2);
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe1]), len, payload, jpeg.subarray(2)]);
}

/** Bob's IndexedDB holds the file only sealed: no sampled run of it, raw or b64url. @param {import('playwright-core').Page} page @param {Buffer} bytes */
async function checkIdbHasNoFile(page, bytes) {
  const runs = [3000, 81920 + 3000].map((off) => bytes.subarray(off, off + 48));
  const needles = runs.flatMap((r) => [r.toString('latin1'), r.toString('base64url')]);
  const found = await page.evaluate(
    (needles) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('kez-chat');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('kv').objectStore('kv').getAll();
          all.onerror = () => reject(all.error);
          all.onsuccess = () => {
            // Byte arrays as latin1 (raw runs), everything else as JSON text (b64url runs).
            const blobs = /** @type {string[]} */ ([]);
            const json = JSON.stringify(all.result, (_k, v) => {
              if (!(v instanceof Uint8Array)) return v;
              blobs.push(Array.from(v, (c) => String.fromCharCode(c)).join(''));
              return null;
            });
            open.result.close();
            resolve(needles.filter((n) => json.includes(n) || blobs.some((b) => b.includes(n))).length);
          };
        };
      }),
    needles,
  );
  assert(found === 0, `bob's IndexedDB holds ${found} sampled run(s) of the image in clear`);
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'attachments: 2 MB image with a reload mid-transfer, 11 MB refused, nothing in clear, over nostr',
  async run(t) {
    const A = t.alice.page;
    const B = t.bob.page;
    const png = noisePng(800, 800);
    log(`image: ${(png.length / 1e6).toFixed(2)} MB`);
    await conversation(A, 'bob').click();
    await conversation(B, 'alice').click();

    // Hold alice's posts after the pointer and a few chunks, until bob has reloaded.
    let posts = 0;
    /** @type {() => void} */
    let release = () => {};
    const released = new Promise((r) => (release = () => r(undefined)));
    // Chunks go to `/v1/messages?notify=false` (SPEC §7.1, §7.5).
    const MESSAGES = /\/v1\/messages(\?|$)/;
    await A.route(MESSAGES, async (route) => {
      // Counting the posts to bob: the pointer's self-copy to alice's own mailbox (SPEC §8.3) passes.
      const toSelf = route.request().postDataJSON()?.to === 'alice';
      if (!toSelf && ++posts > HOLD_AFTER) await released;
      await route.continue().catch(() => {});
    });
    await A.getByTestId('file-input').setInputFiles({ name: 'noise.png', mimeType: 'image/png', buffer: png });
    const outFile = A.locator('[data-message][data-dir="out"] [data-file]').last();
    await outFile.getByTestId('file-image').waitFor();
    await outFile.getByTestId('file-progress').getByText(/Sending \d+\/\d+…/).waitFor();
    const got = HOLD_AFTER - 1;
    await B.locator('[data-message][data-dir="in"] [data-testid="file-progress"]').getByText(new RegExp(`Receiving ${got}/\\d+…`)).waitFor();
    await shot(B, 'attachment-receiving.png');
    await shot(A, 'attachment-sending.png');
    log(`bob: receiving, ${got} chunks in; reloading`);
    await B.reload();
    await B.locator('[data-message][data-dir="in"] [data-testid="file-progress"]').getByText(new RegExp(`Receiving ${got}/\\d+…`)).waitFor();
    log('bob: after the reload the buffered chunks are still there');
    release();
    const { sha, bytes } = await receivedImage(B);
    assert(sha === (await outFile.getAttribute('data-sha256')), 'bob has the file alice sent');
    await A.locator('[data-message][data-dir="out"][data-state="delivered"] [data-file]').last().waitFor();
    await A.unroute(MESSAGES);
    log(`bob: image complete after the reload (${bytes.length} bytes), alice: delivered`);
    await B.getByTestId('file-image').last().click();
    await B.getByTestId('file-full').waitFor();
    await shot(B, 'attachment-full.png');
    await B.getByTestId('file-full').click();

    // 11 MB: refused with a sentence, nothing sent.
    const before = await A.locator('[data-message][data-dir="out"]').count();
    await A.getByTestId('file-input').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(11 * 1024 * 1024, 1) });
    await A.getByTestId('file-error').getByText(/Files up to 10 MB can be sent/).waitFor();
    assert((await A.locator('[data-message][data-dir="out"]').count()) === before, 'no message for the refused file');
    log('alice: an 11 MB file is refused before anything is sent');

    // A small JPEG carrying an EXIF block: the canvas re-encode drops it, and it goes inline.
    const marker = 'KEZ-GPS-51.5007N-0.1246W';
    const jpeg = await jpegWithExif(A, marker);
    assert(jpeg.includes(Buffer.from(marker)), 'the test JPEG carries the marker');
    await A.getByTestId('file-input').setInputFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await B.locator('[data-message][data-dir="in"] [data-file][data-name="photo.jpg"][data-file-state="ready"]').waitFor();
    const photo = await receivedImage(B);
    assert(!photo.bytes.includes(Buffer.from(marker)), 'the EXIF block was stripped before sending');
    log(`a JPEG with EXIF arrives inline (${photo.bytes.length} bytes) without it`);

    // The same JPEG with no extension and no type (review r12 #7): cleaned by its first bytes all the same.
    await A.getByTestId('file-input').setInputFiles({ name: 'IMG_0002', mimeType: '', buffer: jpeg });
    await B.locator('[data-message][data-dir="in"] [data-file][data-name="IMG_0002"][data-file-state="ready"]').waitFor();
    const bare = await receivedImage(B);
    assert(!bare.bytes.includes(Buffer.from(marker)), 'the EXIF block of a typeless JPEG was stripped before sending');
    log('a JPEG without extension or type arrives without its EXIF too');

    // Pictures above the newest messages load after the thread scrolled to its end:
    // reopened, the thread still shows its end once they have (new-user trial, session 8).
    for (const text of ['after the pictures, one', 'after the pictures, two']) {
      await A.locator('#composer').fill(text);
      await A.locator('#composer').press('Enter');
      await B.locator('[data-message][data-dir="in"]').getByText(text).waitFor();
    }
    await B.reload();
    await B.locator('[data-message][data-dir="in"]').getByText('after the pictures, two').waitFor();
    await B.locator('[data-message] [data-file][data-name="IMG_0002"] [data-testid="file-image"]').waitFor();
    await B.waitForFunction(() => [...document.querySelectorAll('[data-testid="file-image"]')].every((i) => /** @type {HTMLImageElement} */ (i).complete));
    await B.waitForTimeout(300);
    const gap = await B.getByTestId('messages').evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    assert(gap <= 48, `reopened with pictures, the thread shows its end (${gap} px below)`);
    log(`reopened with pictures: at the end once they loaded (${gap} px)`);

    // Dropped on the thread: a small HTML file goes inline and is only ever a download on bob's side.
    const html = '<!doctype html><h1>never rendered</h1><script>alert(1)</script>';
    const drop = await A.evaluateHandle((text) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], 'hello.html', { type: 'text/html' }));
      return dt;
    }, html);
    await A.getByTestId('messages').dispatchEvent('drop', { dataTransfer: drop });
    const htmlIn = B.locator('[data-message][data-dir="in"] [data-file][data-name="hello.html"]');
    await htmlIn.getByTestId('file-download').waitFor();
    assert((await htmlIn.locator('img, iframe, object, embed').count()) === 0, 'an HTML file is never rendered');
    const [dl] = await Promise.all([B.waitForEvent('download'), htmlIn.getByTestId('file-download').click()]);
    const saved = await dl.path();
    assert(saved && readFileSync(saved, 'utf8') === html, 'the dropped file downloads byte for byte');
    await A.locator('[data-message][data-dir="out"][data-state="delivered"] [data-file][data-name="hello.html"]').waitFor();
    log('a dropped HTML file: inline message, a download on the other side, delivered');

    checkDbHasNoFile(t.dbPath, bytes);
    log('server database: none of the image bytes in clear');
    await checkIdbHasNoFile(B, bytes);
    log('bob’s IndexedDB: the image only sealed');
    await shot(A, 'attachment-alice.png');
    await shot(B, 'attachment-bob.png');
    await overNostr(t, png);
  },
};

/** The same image between two users on transport `nostr`, through a local relay. @param {import('../helpers.mjs').Run} t @param {Buffer} png */
async function overNostr(t, png) {
  const bin = relayBin('nostr part');
  if (!bin) return;
  // Chunk events are ~150 KB: the relay's default max_event_size (4096) would refuse them.
  await withRelayServer(bin, { extra: 'max_event_size: 262144\n' }, (env) => fileOverNostr(t, env, png));
}

/** The nostr part's steps on the second server and its relay. @param {import('../helpers.mjs').Run} t @param {import('../nostr-server.mjs').RelayServer} env @param {Buffer} png */
async function fileOverNostr(t, env, png) {
  const { server, metrics, contexts } = env;
  const base = await server.base;
  /** @param {string} who */
  const open = async (who) => {
    const ctx = await t.browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(base + '/');
    await signUp(page, who, `${who} file passphrase 1`);
    await chooseNostr(page);
    return page;
  };
  const N = await open('nadia');
  const O = await open('oscar');
  await N.locator('#start-chat').fill(`oscar@${DOMAIN}`);
  await N.getByRole('button', { name: 'Chat', exact: true }).click();
  await N.getByTestId('thread-title').getByText(`oscar@${DOMAIN}`).waitFor();
  await N.getByTestId('file-input').setInputFiles({ name: 'noise.png', mimeType: 'image/png', buffer: png });
  const outFile = N.locator('[data-message][data-dir="out"] [data-file]').last();
  await outFile.getByTestId('file-image').waitFor();
  await O.locator(`[data-testid="conversation"][data-peer="nadia@${DOMAIN}"]`).click();
  const { sha } = await receivedImage(O);
  assert(sha === (await outFile.getAttribute('data-sha256')), 'oscar has the file nadia sent');
  await N.locator('[data-message][data-dir="out"][data-state="delivered"] [data-file]').last().waitFor();
  log('over nostr: the image arrived whole and shows delivered');
  // Only the pointer may push (SPEC §12 "Kinds"): one kind 4243 on the relay, the chunks
  // as silent 4244, and the server's listener pushed for exactly one event.
  const messages = await query(env.relay.url, { kinds: [4243] });
  const silent = await query(env.relay.url, { kinds: [4244] });
  assert(messages.length === 1, `one kind 4243 (the pointer), got ${messages.length}`);
  assert(silent.length >= Math.ceil(png.length / 81920), `the chunks as kind 4244: ${silent.length}`);
  for (let i = 0; i < 100 && (await metric(metrics, 'kez_nostr_events_accepted')) === 0; i++) await new Promise((r) => setTimeout(r, 100));
  const pushed = await metric(metrics, 'kez_nostr_events_accepted');
  assert(pushed === 1, `the nostr listener pushed for one event (the pointer), not per chunk: ${pushed}`);
  log(`over nostr: 1 kind 4243, ${silent.length} silent 4244, one push`);
  await profileOverNostr(base, env.relay.url, N, O);
  await shot(O, 'attachment-nostr.png');
}

/**
 * The profile over nostr only (SPEC §14.6): the client PUTs it to the home
 * server too, so that PUT is made to fail here (the home server unreachable
 * for it) and oscar gets nadia's face from the relay's kind 0 alone. The kind 0 carries the picture once (inside `kez_profile`): with a
 * second copy it would be over the relay's max_event_size.
 * @param {string} base @param {string} relayUrl @param {import('playwright-core').Page} N @param {import('playwright-core').Page} O
 */
async function profileOverNostr(base, relayUrl, N, O) {
  const convN = N.url();
  await N.goto(base + '/#/settings');
  await N.getByTestId('profile-file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: await makePicture(N) });
  await N.route('**/v1/profile', (route) => route.abort());
  await N.getByTestId('profile-save').click();
  await N.getByTestId('profile-saved').waitFor();
  await N.unroute('**/v1/profile');
  const local = await pixelsOf(N, 'profile-real');
  const atHome = await fetch(`${base}/v1/u/nadia/profile`);
  assert(atHome.status === 404, `the home server has no profile of nadia (${atHome.status}): its PUT failed`);
  const zeros = (await query(relayUrl, { kinds: [0] })).map((e) => JSON.parse(e.content)).filter((c) => c.kez_profile);
  assert(zeros.length === 1 && Object.keys(zeros[0]).sort().join() === 'display_name,kez_profile,name', `one profile kind 0, no outer picture: ${zeros.map((c) => Object.keys(c))}`);
  await O.goto(base + '/#/chats');
  await O.locator(`[data-testid="conversation"][data-peer="nadia@${DOMAIN}"]`).click();
  const d = meanDiff(local, await pixelsOf(O, 'thread-avatar'));
  assert(d < 12, `oscar sees nadia's face from the relay's kind 0 (diff ${d.toFixed(1)})`);
  log(`over nostr: oscar sees nadia's face from the relay's kind 0 (mean diff ${d.toFixed(1)})`);
  await N.goto(convN);
}
