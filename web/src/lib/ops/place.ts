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

/** The visible part of the page in viewport px: `top`/`left` are where it starts in the layout viewport. */
export interface View {
  width: number;
  height: number;
  top?: number;
  left?: number;
}

/**
 * The box a menu must fit in: the visual viewport when the browser has one
 * (an on-screen keyboard shrinks only that one on Android Chrome 108+ and
 * iOS, and a pinch-zoom moves it: its offsetTop/offsetLeft), else the window.
 */
export function visibleView(w: Pick<Window, 'innerWidth' | 'innerHeight'> & { visualViewport?: Pick<VisualViewport, 'width' | 'height' | 'offsetTop' | 'offsetLeft'> | null }): View {
  const vv = w.visualViewport;
  return vv ? { width: vv.width, height: vv.height, top: vv.offsetTop, left: vv.offsetLeft } : { width: w.innerWidth, height: w.innerHeight };
}

/**
 * The menu's top-left corner (px, viewport) for a `width`×`height` menu
 * opened from `anchor`: above it when it fits (else below, else on the
 * side with more room), aligned to the anchor's right edge for own
 * messages (`end`) or its left edge (`start`); then clamped so the whole
 * box lies within `view` less EDGE (a menu larger than the view starts at
 * EDGE from its top or left).
 */
export function placeMenu(anchor: Rect, width: number, height: number, view: View, align: 'start' | 'end'): { left: number; top: number } {
  const vTop = view.top ?? 0;
  const vLeft = view.left ?? 0;
  const vBottom = vTop + view.height;
  const clamp = (v: number, min: number, max: number) => Math.max(min, Math.min(v, max));
  const above = anchor.top - GAP - height;
  const below = anchor.bottom + GAP;
  const fitsAbove = above >= vTop + EDGE;
  const fitsBelow = below + height <= vBottom - EDGE;
  const top = fitsAbove ? above : fitsBelow ? below : anchor.top - vTop > vBottom - anchor.bottom ? above : below;
  const left = align === 'end' ? anchor.right - width : anchor.left;
  return {
    left: clamp(left, vLeft + EDGE, vLeft + view.width - width - EDGE),
    top: clamp(top, vTop + EDGE, vBottom - height - EDGE),
  };
}
