// Checks of the nostr scenario (review r11 #10, #17) that read the server's
// request log or measure the page.
import { assert } from './helpers.mjs';

/**
 * How many POST /v1/messages requests the server answered, whatever the
 * status, from its request log (the route template, as src/lib.rs logs it):
 * a refused POST would not move kez_messages_stored_total (review r11 #17).
 * @param {{ output: () => string }} server
 */
export function messagePosts(server) {
  return server.output().split('\n').filter((l) => l.includes('method=POST route=/v1/messages ') && l.includes('finished processing request')).length;
}

/**
 * The last outgoing bubble's time / "via" / status line stays inside the
 * bubble whatever the text's length (review r11 #10: when the text filled the
 * line it floated out below, white on the light background). The text node is
 * set to 1..120 words in place and measured, then restored.
 * @param {import('playwright-core').Page} page
 */
export async function metaInsideBubble(page) {
  const bad = await page
    .locator('[data-message][data-dir="out"]')
    .last()
    .evaluate((li) => {
      const bubble = /** @type {HTMLElement} */ (li.firstElementChild);
      const body = /** @type {HTMLElement} */ (li.querySelector('[data-body]'));
      const meta = /** @type {HTMLElement} */ (body.querySelector('span'));
      const text = [...body.childNodes].find((n) => n.nodeType === Node.TEXT_NODE && n.textContent);
      if (!text) return ['no text node'];
      const orig = text.textContent;
      const out = [];
      for (let n = 1; n <= 120; n++) {
        text.textContent = Array.from({ length: n }, (_, i) => (i % 3 ? 'word' : 'relay')).join(' ');
        const b = bubble.getBoundingClientRect();
        const m = meta.getBoundingClientRect();
        if (m.bottom > b.bottom + 0.5 || m.right > b.right + 0.5 || m.left < b.left - 0.5) out.push(n);
      }
      text.textContent = orig;
      return out;
    });
  assert(bad.length === 0, `meta line outside the bubble at ${JSON.stringify(bad)} words`);
}
