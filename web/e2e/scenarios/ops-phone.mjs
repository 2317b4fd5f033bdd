// The message action menu on a phone (review r13 #2, #15), on alice and
// bob's conversation (from `chat`/`ops`): alice's window at 390×844 opens
// the menu on a long outgoing and a long incoming bubble; its box lies
// inside the viewport and Reply/Edit/Delete and every emoji are the
// element under their own centre (clickable). With a touch screen (coarse
// pointer) the ⋯ button shows without hover (its CSS rule). A reply or edit over 64 KiB is
// refused with the draft kept (#3, #4); a blocked thread offers no actions (#8);
// a reaction refused by the server shows "Not sent to bob" and Retry (#5).
import { assert, conversation, log, shot } from '../helpers.mjs';

const MESSAGES = /\/v1\/messages(\?|$)/;
const PHONE = { width: 390, height: 844 };
const LONG_OUT = 'Phone: a long message from alice that fills the bubble to the edge of the screen';
const LONG_IN = 'Phone: a long message from bob that fills the bubble to the edge of the screen too';

/** @param {import('playwright-core').Page} page @param {'in' | 'out'} dir @param {string} text */
const bubble = (page, dir, text) => page.locator(`[data-message][data-dir="${dir}"]`).filter({ hasText: text }).last();

/** @param {import('playwright-core').Page} page @param {string} text */
async function send(page, text) {
  await page.locator('#composer').fill(text);
  await page.locator('#composer').press('Enter');
  await page.locator('[data-message][data-dir="out"][data-state="delivered"]').filter({ hasText: text }).waitFor();
}

/**
 * Open the menu of `msg` by a right-click (a long-press's twin), then check its box and items.
 * @param {import('playwright-core').Page} page @param {import('playwright-core').Locator} msg @param {string[]} items
 */
async function checkMenu(page, msg, items) {
  await msg.locator('[data-body]').click({ button: 'right' });
  const menu = msg.getByTestId('message-menu');
  await menu.waitFor();
  await page.waitForFunction(() => getComputedStyle(document.querySelector('[data-testid="message-menu"]') ?? document.body).visibility === 'visible');
  const box = await menu.boundingBox();
  assert(box, 'the menu has a box');
  const inside = box.x >= 0 && box.y >= 0 && box.x + box.width <= PHONE.width && box.y + box.height <= PHONE.height;
  assert(inside, `the menu lies inside the 390×844 viewport, got x ${box.x}…${box.x + box.width}, y ${box.y}…${box.y + box.height}`);
  for (const id of [...items, 'react-👍', 'react-🙏']) {
    const el = menu.getByTestId(id);
    const hit = await el.evaluate((e) => {
      const r = e.getBoundingClientRect();
      return e.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2));
    });
    assert(hit, `${id} is clickable (the element at its centre)`);
    await el.click({ trial: true });
  }
  return menu;
}

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'message menu on a phone',
  async run(t) {
    const A = t.alice.page;
    const B = t.bob.page;
    await conversation(B, 'alice').first().click();
    await send(B, LONG_IN);
    await conversation(A, 'bob').filter({ hasText: 'Phone: a long message from bob' }).click();
    await send(A, LONG_OUT);
    const size = A.viewportSize();
    await A.setViewportSize(PHONE);
    try {
      await A.getByTestId('messages').waitFor();
      const out = bubble(A, 'out', LONG_OUT);
      let menu = await checkMenu(A, out, ['action-reply', 'action-edit', 'action-delete']);
      await shot(A, 'ops-phone-menu-out.png');
      await menu.getByTestId('action-edit').click();
      assert((await A.locator('#composer').inputValue()) === LONG_OUT, 'Edit puts the text in the composer');
      await A.locator('#composer').press('Escape');
      menu = await checkMenu(A, bubble(A, 'in', LONG_IN), ['action-reply']);
      await shot(A, 'ops-phone-menu-in.png');
      await menu.getByTestId('action-reply').click();
      await A.getByTestId('composer-banner').waitFor();
      await A.locator('#composer').press('Escape');
      // Delete asks first; dismissed, the message stays.
      A.once('dialog', (d) => void d.dismiss());
      await (await checkMenu(A, out, ['action-delete'])).getByTestId('action-delete').click();
      assert((await out.getAttribute('data-deleted')) === null, 'a dismissed delete keeps the message');
      log('phone: the menu stays inside the viewport on long bubbles both ways; Edit, Reply and Delete work');

      // A touch screen: ⋯ shows without hover. Chromium's touch emulation leaves the page with no pointer
      // type at all once turned off (later scenarios need a fine one), so the (pointer: coarse) rules that
      // apply to the button are read from the page's own style sheets instead.
      const coarse = await bubble(A, 'in', LONG_IN)
        .getByTestId('message-actions')
        .evaluate((btn) => {
          /** Style rules under a (pointer: coarse) media rule, through layers. @param {CSSRuleList} list @param {boolean} coarse @returns {CSSStyleRule[]} */
          const walk = (list, coarse) =>
            [...list].flatMap((r) => {
              if (r instanceof CSSStyleRule) return coarse ? [r] : [];
              const isCoarse = r instanceof CSSMediaRule && r.conditionText.replace(/\s/g, '') === '(pointer:coarse)';
              return 'cssRules' in r ? walk(/** @type {CSSGroupingRule} */ (r).cssRules, coarse || isCoarse) : [];
            });
          const rules = [...document.styleSheets].flatMap((s) => walk(s.cssRules, false));
          return rules.filter((r) => btn.matches(r.selectorText)).map((r) => Number(r.style.opacity));
        });
      assert(coarse.some((o) => o >= 0.5), `a (pointer: coarse) rule shows the ⋯ button, got ${JSON.stringify(coarse)}`);
      log('touch: the ⋯ button shows without hover');
    } finally {
      if (size) await A.setViewportSize(size);
    }

    // r13 #3/#4: a reply or an edit too long for the peer (over 64 KiB) is refused with a sentence; the draft stays.
    const LONG = 'long '.repeat(14_000);
    const composer = A.locator('#composer');
    const outs = await A.locator('[data-message][data-dir="out"]').count();
    await (await openMenu(bubble(A, 'in', LONG_IN))).getByTestId('action-reply').click();
    await composer.fill(LONG);
    await composer.press('Enter');
    await A.getByTestId('compose-error').getByText(/^Too long for a reply/).waitFor();
    assert((await composer.inputValue()) === LONG, 'the refused reply stays in the composer');
    assert((await A.getByTestId('composer-banner').count()) === 1, 'still replying');
    await composer.press('Escape');
    await composer.fill('');
    await (await openMenu(bubble(A, 'out', LONG_OUT))).getByTestId('action-edit').click();
    await composer.fill(LONG);
    await composer.press('Enter');
    await A.getByTestId('compose-error').getByText(/^Too long for an edit/).waitFor();
    assert((await composer.inputValue()) === LONG, 'the refused edit stays in the composer');
    await composer.press('Escape');
    assert((await A.locator('[data-message][data-dir="out"]').count()) === outs, 'nothing was posted');
    assert((await bubble(A, 'out', LONG_OUT).getByTestId('edited').count()) === 0, 'the message is not edited');
    log('a reply or edit over 64 KiB is refused with a sentence, the draft kept');

    // r13 #8: a blocked conversation offers no message actions.
    await A.getByTestId('conversation-menu').click();
    await A.getByTestId('block-conversation').click();
    await A.getByTestId('blocked-notice').waitFor();
    assert((await A.getByTestId('message-actions').count()) === 0, 'no ⋯ on any bubble while blocked');
    await bubble(A, 'in', LONG_IN).locator('[data-body]').click({ button: 'right' });
    assert((await A.getByTestId('message-menu').count()) === 0, 'no menu by right-click while blocked');
    await A.getByTestId('blocked-notice').getByRole('button', { name: 'Unblock' }).click();
    await A.getByTestId('message-actions').first().waitFor({ state: 'attached' });
    log('blocked: no message actions; unblocked: back');

    // r13 #5: a reaction whose post is finally refused (418: final, and expected by checkConsole) shows "Not sent to bob · Retry"; Retry delivers it.
    /** @param {import('playwright-core').Route} r */
    const refuse = (r) =>
      r.request().method() === 'POST'
        ? r.fulfill({ status: 418, contentType: 'application/json', body: JSON.stringify({ error: { code: 'refused', message: 'refused' } }) })
        : r.continue();
    await A.route(MESSAGES, refuse);
    const theirs = bubble(A, 'in', LONG_IN);
    try {
      await (await openMenu(theirs)).getByTestId('react-😮').click();
      await theirs.getByTestId('op-unsent').getByText('Reaction not sent to bob.').waitFor();
    } finally {
      await A.unroute(MESSAGES, refuse);
    }
    await theirs.getByTestId('op-unsent').getByRole('button', { name: 'Retry' }).click();
    await bubble(B, 'out', LONG_IN).locator('[data-testid="reaction"][data-emoji="😮"]').waitFor();
    assert((await theirs.getByTestId('op-unsent').count()) === 0, 'the note goes once sent');
    log('a refused reaction shows "Not sent to bob · Retry"; Retry delivers it');
  },
};

/** Open `msg`'s menu by a right-click. @param {import('playwright-core').Locator} msg */
async function openMenu(msg) {
  await msg.locator('[data-body]').click({ button: 'right' });
  const menu = msg.getByTestId('message-menu');
  await menu.waitFor();
  return menu;
}
