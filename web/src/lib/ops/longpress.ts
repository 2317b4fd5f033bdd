// A long-press on a touch screen (SPEC §8.5 message menu): iOS Safari fires
// no `contextmenu` on a long-press, so the thread listens to the touch
// itself. A Svelte action: `use:longPress={() => open()}`; a move of more
// than 10 px (scrolling) or lifting the finger before LONG_PRESS_MS cancels.

/** How long a finger rests on a bubble before its menu opens (ms). */
export const LONG_PRESS_MS = 500;

export function longPress(node: HTMLElement, fire: () => void): { update(f: () => void): void; destroy(): void } {
  let onFire = fire;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let start = { x: 0, y: 0 };
  const cancel = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const down = (e: PointerEvent) => {
    if (e.pointerType !== 'touch') return;
    start = { x: e.clientX, y: e.clientY };
    cancel();
    timer = setTimeout(() => {
      timer = undefined;
      onFire();
    }, LONG_PRESS_MS);
  };
  const move = (e: PointerEvent) => {
    if (timer && Math.hypot(e.clientX - start.x, e.clientY - start.y) > 10) cancel();
  };
  node.addEventListener('pointerdown', down);
  node.addEventListener('pointermove', move);
  for (const ev of ['pointerup', 'pointercancel', 'pointerleave'] as const) node.addEventListener(ev, cancel);
  return {
    update(f) {
      onFire = f;
    },
    destroy() {
      cancel();
      node.removeEventListener('pointerdown', down);
      node.removeEventListener('pointermove', move);
      for (const ev of ['pointerup', 'pointercancel', 'pointerleave'] as const) node.removeEventListener(ev, cancel);
    },
  };
}
