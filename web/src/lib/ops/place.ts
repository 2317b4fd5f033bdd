// Where the message action menu goes (review r13 #2): against the viewport,
// not the ⋯ button, so on a phone a menu beside a wide bubble is never cut
// off. The menu is `position: fixed` at the returned point.

/** A rectangle in viewport pixels (a DOMRect's fields). */
export interface Rect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Space kept between the menu and the viewport's edges, in px. */
export const EDGE = 8;
/** Space between the button and the menu, in px. */
const GAP = 4;

/**
 * The menu's top-left corner (px, viewport) for a `width`×`height` menu
 * opened from `anchor`: above it when it fits (else below, else on the
 * side with more room), aligned to the anchor's right edge for own
 * messages (`end`) or its left edge (`start`); then clamped so the whole
 * box lies within `view` less EDGE (a menu larger than the view starts at
 * EDGE).
 */
export function placeMenu(anchor: Rect, width: number, height: number, view: { width: number; height: number }, align: 'start' | 'end'): { left: number; top: number } {
  const clamp = (v: number, max: number) => Math.max(EDGE, Math.min(v, max));
  const above = anchor.top - GAP - height;
  const below = anchor.bottom + GAP;
  const fitsAbove = above >= EDGE;
  const fitsBelow = below + height <= view.height - EDGE;
  const top = fitsAbove ? above : fitsBelow ? below : anchor.top > view.height - anchor.bottom ? above : below;
  const left = align === 'end' ? anchor.right - width : anchor.left;
  return { left: clamp(left, view.width - width - EDGE), top: clamp(top, view.height - height - EDGE) };
}
