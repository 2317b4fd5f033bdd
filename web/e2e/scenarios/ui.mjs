// Everyday UI on a phone and a desktop (issue 13, fault 4). dana signs up on
// a phone (390×844, touch) typing "Dana" (registered as dana), starts a chat
// typing "ALICE"; her list starts in the top third once the "Your KEZ" card is
// hidden (remembered over a reload); Enter is a new line there and the button
// sends; right-to-left text is laid out right to left at alice's; reading
// older messages, a new one keeps dana's place and shows a pill that scrolls
// down; the lock screen names dana@kez.test and unlocking returns to the
// thread. Screenshots of both sizes in light and dark.
import { assert, conversation, log, shot, signUp, watch, DOMAIN } from '../helpers.mjs';

const PASS_DANA = 'dana purple tulip morning';
const RTL = 'שלום עולם, מה שלומך?';
const PHONE = { width: 390, height: 844 };

/** @param {import('playwright-core').Page} page @param {string} name */
async function shots(page, name) {
  for (const scheme of /** @type {const} */ (['light', 'dark'])) {
    await page.emulateMedia({ colorScheme: scheme });
    await shot(page, `ui-${name}-${scheme}.png`);
  }
  await page.emulateMedia({ colorScheme: null });
}

/** @param {import('playwright-core').Page} page */
function thread(page) {
  return page.getByTestId('messages');
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'phone layout, Enter, RTL, new-messages pill, lock screen, capitals',
  async run(t) {
    const A = t.alice.page;
    const ctx = await t.browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const C = await ctx.newPage();
    C.setDefaultTimeout(20_000);
    watch(t, C, 'dana');
    await C.goto(t.base + '/');
    assert(await C.evaluate(() => matchMedia('(pointer: coarse)').matches), 'the phone context has a coarse pointer');
    // "Later" at sign-up: the backup reminder shows in the list (the layout check below counts it).
    await signUp(C, 'Dana', PASS_DANA, '', false, true);
    log('dana (phone): typed "Dana", registered as dana (backup left for later)');

    // f) capitals are folded in the start-chat form too.
    await C.locator('#start-chat').fill('ALICE');
    await C.getByRole('button', { name: 'Chat', exact: true }).click();
    await C.getByTestId('thread-title').getByText(`alice@${DOMAIN}`).waitFor();
    const threadUrl = C.url();

    // b) on a touch screen Enter is a new line; the send button sends.
    const composer = C.locator('#composer');
    await composer.click();
    await composer.pressSequentially('first line on the phone');
    await composer.press('Enter');
    await composer.pressSequentially('second line');
    assert((await composer.inputValue()) === 'first line on the phone\nsecond line', 'Enter made a new line on the phone');
    assert((await C.locator('[data-message]').count()) === 0, 'Enter sent nothing on the phone');
    await C.getByRole('button', { name: 'Send' }).click();
    await C.locator('[data-message][data-dir="out"]').first().waitFor();
    // c) right to left.
    await composer.fill(RTL);
    assert((await composer.getAttribute('dir')) === 'auto', 'composer dir=auto');
    await C.getByRole('button', { name: 'Send' }).click();

    await conversation(A, 'dana').click();
    const inA = A.locator('[data-message][data-dir="in"] [data-body]');
    await inA.filter({ hasText: 'second line' }).waitFor();
    const multi = await inA.filter({ hasText: 'second line' }).evaluate((el) => el.firstChild?.textContent ?? '');
    assert(multi === 'first line on the phone\nsecond line', `phone message kept its new line, got ${JSON.stringify(multi)}`);
    const rtl = inA.filter({ hasText: 'שלום' });
    await rtl.waitFor();
    assert((await rtl.evaluate((el) => getComputedStyle(el).direction)) === 'rtl', 'Hebrew bubble laid out right to left');
    const sides = await rtl.evaluate((el) => {
      const time = /** @type {Element} */ (el.querySelector('time')).getBoundingClientRect();
      const body = el.getBoundingClientRect();
      return { time: time.left + time.width / 2, body: body.left + body.width / 2 };
    });
    assert(sides.time < sides.body, 'the time sits at the end of right-to-left text: on the left');
    const ltr = inA.filter({ hasText: 'second line' });
    assert((await ltr.evaluate((el) => getComputedStyle(el).direction)) === 'ltr', 'English bubble stays left to right');
    log('alice (desktop): the phone’s new line arrived; the Hebrew bubble is rtl');
    await shots(A, 'desktop-thread');

    // d) enough messages to scroll on the phone, then dana reads older ones.
    const composerA = A.locator('#composer');
    for (let i = 1; i <= 18; i++) {
      await composerA.fill(`filler ${i}: a line to make the thread scroll`);
      await composerA.press('Enter'); // desktop: Enter sends
    }
    const inC = C.locator('[data-message][data-dir="in"]');
    await inC.filter({ hasText: 'filler 18:' }).waitFor();
    const box = thread(C);
    await C.waitForFunction(() => {
      const el = document.querySelector('[data-testid="messages"]');
      return !!el && el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    });
    await box.evaluate((el) => el.scrollTo({ top: 100 }));
    await C.waitForFunction(() => document.querySelector('[data-testid="messages"]')?.scrollTop === 100);
    await composerA.fill('filler 19: arrives while dana reads');
    await composerA.press('Enter');
    await inC.filter({ hasText: 'filler 19:' }).waitFor({ state: 'attached' });
    const pill = C.getByTestId('new-messages');
    await pill.getByText('1 new message').waitFor();
    assert((await box.evaluate((el) => el.scrollTop)) === 100, 'reading older messages: the position is kept');
    await shots(C, 'phone-pill');
    await pill.click();
    await C.waitForFunction(() => {
      const el = document.querySelector('[data-testid="messages"]');
      return !!el && el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    });
    await pill.waitFor({ state: 'detached' });
    log('dana (phone): a new message kept her place, the pill took her down');

    // a) the list on a phone: starts in the top third once the card is hidden, and stays hidden,
    // with the backup reminder showing (a one-line strip on a phone, review r13 #6).
    await C.getByRole('link', { name: 'Back to conversations' }).click();
    const first = conversation(C, 'alice');
    await first.waitFor();
    const strip = (await C.getByTestId('backup-reminder').boundingBox())?.height ?? Infinity;
    assert(strip <= 48, `the backup reminder is one line on a phone, ${strip}px high`);
    const withCard = (await first.boundingBox())?.y ?? Infinity;
    await shots(C, 'phone-list-card');
    await C.getByTestId('kez-card-hide').click();
    await C.getByTestId('kez-card').waitFor({ state: 'detached' });
    await C.getByTestId('my-kez').getByText(`dana@${DOMAIN}`).waitFor();
    const top = (await first.boundingBox())?.y ?? Infinity;
    log(`dana (phone): first list row at ${withCard}px with the card, ${top}px without (of ${PHONE.height})`);
    assert(top <= PHONE.height / 3, `first list row in the top third, at ${top}px`);
    assert(withCard <= PHONE.height / 2, `with the card the list still starts in the top half, at ${withCard}px`);
    await C.reload();
    await first.waitFor();
    assert((await C.getByTestId('kez-card').count()) === 0, 'the hidden card stays hidden after a reload');
    await shots(C, 'phone-list');

    // e) lock from the open thread; the lock screen names dana; unlocking returns to the thread.
    await C.goto(threadUrl);
    await C.getByTestId('thread-title').waitFor();
    await C.goto(t.base + '/#/settings');
    await C.getByRole('button', { name: 'Lock now' }).click();
    await C.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await C.reload();
    await C.getByRole('heading', { name: 'Welcome back' }).waitFor();
    await C.getByText(`dana@${DOMAIN}`).waitFor();
    assert((await C.getByText(/Identity key/).count()) === 0, 'no bare key on the lock screen');
    await shots(C, 'phone-lock');
    await C.locator('#passphrase').fill(PASS_DANA);
    await C.getByRole('button', { name: 'Unlock' }).click();
    await C.getByTestId('thread-title').getByText(`alice@${DOMAIN}`).waitFor();
    assert(C.url() === threadUrl, `unlocked into the thread, at ${C.url()}`);
    log('dana (phone): lock screen named dana@kez.test; unlock returned to the thread with alice');
    await ctx.close();
    // Leave alice where the scenarios after this one expect her: in bob's thread.
    await conversation(A, 'bob').click();
    await A.getByTestId('thread-title').getByText(`bob@${DOMAIN}`).waitFor();
  },
};
