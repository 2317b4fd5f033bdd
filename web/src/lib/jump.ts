// Open a thread at one message (a search result, issue 13): wait for its
// bubble to be on screen, scroll it to the middle and flash it. Works on the
// DOM Thread.svelte renders (`[data-message][data-id]`), so the thread needs
// no search-specific state.

/** How long to wait for the bubble to appear (the thread loads from IndexedDB). */
export const JUMP_WAIT_MS = 5000;
/** How long the bubble stays highlighted. */
export const FLASH_MS = 2000;

const frame = () => new Promise<number>((r) => requestAnimationFrame(r));

/** The bubble of message `id` in the open thread, if rendered. */
export function bubble(id: string, root: ParentNode = document): HTMLElement | null {
  return root.querySelector<HTMLElement>(`[data-testid="messages"] [data-message][data-id="${CSS.escape(id)}"]`);
}

/** Scroll to message `id` once it shows and flash it (`data-flash` while lit). False if it never showed. */
export async function jumpTo(id: string): Promise<boolean> {
  const until = performance.now() + JUMP_WAIT_MS;
  let el = bubble(id);
  while (!el && performance.now() < until) {
    await frame();
    el = bubble(id);
  }
  if (!el) return false;
  // The thread scrolls to the bottom after its first render: go after it.
  await frame();
  await frame();
  el = bubble(id) ?? el;
  el.scrollIntoView({ block: 'center' });
  el.setAttribute('data-flash', '');
  const lit = el;
  setTimeout(() => lit.removeAttribute('data-flash'), FLASH_MS);
  return true;
}
