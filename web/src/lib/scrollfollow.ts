// The thread's scroll: follow new messages while the reader is at the bottom,
// keep the position (and count what arrived, for the "new messages" pill)
// while they read older ones. Pure decisions; Thread.svelte does the DOM.

/** Within this many CSS pixels of the end counts as "at the bottom" (a bubble's margin, a rounding). */
export const BOTTOM_SLACK_PX = 48;

/** Whether a scroller (its scrollTop, scrollHeight, clientHeight) shows its end. */
export function isAtBottom(el: { scrollTop: number; scrollHeight: number; clientHeight: number }, slack = BOTTOM_SLACK_PX): boolean {
  return el.scrollHeight - el.scrollTop - el.clientHeight <= slack;
}

/** What happened to the thread's list since the last look. */
export interface ThreadGrowth {
  /** Messages before and now. */
  before: number;
  after: number;
  /** Whether the reader was at the bottom before the change. */
  wasAtBottom: boolean;
  /** Whether the newest message is the user's own (they just sent: always show it). */
  newestIsOwn: boolean;
}

/**
 * 'bottom': scroll to the end (first render, the reader was there, or they
 * sent something); 'pill': keep the position and count `added` unseen
 * messages; 'stay': nothing new (a status change, a removal).
 */
export function onThreadGrowth(g: ThreadGrowth): { action: 'bottom' | 'pill' | 'stay'; added: number } {
  const added = Math.max(0, g.after - g.before);
  if (g.before === 0 && g.after > 0) return { action: 'bottom', added };
  if (added === 0) return { action: 'stay', added };
  if (g.wasAtBottom || g.newestIsOwn) return { action: 'bottom', added };
  return { action: 'pill', added };
}

/** The pill's text: "1 new message", "3 new messages", "99+ new messages". */
export function pillLabel(unseen: number): string {
  if (unseen > 99) return '99+ new messages';
  return unseen === 1 ? '1 new message' : `${unseen} new messages`;
}

/**
 * Keeps a reader who is at the bottom there while the content grows without
 * a new message: an image (or any bubble) that finishes loading after the
 * scroll to the end would otherwise push the newest messages below the
 * fold. `following()` says whether the reader was at the bottom (as last
 * scrolled); `toBottom` scrolls. Returns the cleanup.
 */
export function followGrowth(content: Element, following: () => boolean, toBottom: () => void): () => void {
  if (typeof ResizeObserver === 'undefined') return () => {};
  const observer = new ResizeObserver(() => {
    if (following()) toBottom();
  });
  observer.observe(content);
  return () => observer.disconnect();
}
