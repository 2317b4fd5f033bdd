// The thread follows new messages only while the reader is at the bottom (scrollfollow.ts).
import { describe, expect, it, vi } from 'vitest';
import { followGrowth, isAtBottom, onThreadGrowth, pillLabel } from '../src/lib/scrollfollow';

describe('isAtBottom', () => {
  it('is true at the end and within the slack, false higher up', () => {
    expect(isAtBottom({ scrollTop: 600, scrollHeight: 1000, clientHeight: 400 })).toBe(true);
    expect(isAtBottom({ scrollTop: 560, scrollHeight: 1000, clientHeight: 400 })).toBe(true);
    expect(isAtBottom({ scrollTop: 500, scrollHeight: 1000, clientHeight: 400 })).toBe(false);
    expect(isAtBottom({ scrollTop: 0, scrollHeight: 300, clientHeight: 400 })).toBe(true); // shorter than the view
  });
});

describe('onThreadGrowth', () => {
  const g = (before: number, after: number, wasAtBottom: boolean, newestIsOwn = false) => onThreadGrowth({ before, after, wasAtBottom, newestIsOwn });
  it('opens at the bottom', () => {
    expect(g(0, 30, false)).toEqual({ action: 'bottom', added: 30 });
  });
  it('follows while at the bottom', () => {
    expect(g(30, 31, true)).toEqual({ action: 'bottom', added: 1 });
  });
  it('keeps the position and counts while reading older messages', () => {
    expect(g(30, 31, false)).toEqual({ action: 'pill', added: 1 });
    expect(g(31, 33, false)).toEqual({ action: 'pill', added: 2 });
  });
  it('always shows what the user just sent', () => {
    expect(g(30, 31, false, true)).toEqual({ action: 'bottom', added: 1 });
  });
  it('does nothing when nothing was added', () => {
    expect(g(30, 30, false)).toEqual({ action: 'stay', added: 0 });
    expect(g(30, 29, true)).toEqual({ action: 'stay', added: 0 });
  });
});

describe('pillLabel', () => {
  it('says how many', () => {
    expect(pillLabel(1)).toBe('1 new message');
    expect(pillLabel(4)).toBe('4 new messages');
    expect(pillLabel(120)).toBe('99+ new messages');
  });
});

describe('followGrowth', () => {
  it('keeps a reader at the bottom there when the list grows without a new message (an image loading), not one reading higher up', () => {
    const observers: { fire: () => void; disconnected: boolean }[] = [];
    class FakeResizeObserver {
      #o: { fire: () => void; disconnected: boolean };
      constructor(cb: () => void) {
        this.#o = { fire: cb, disconnected: false };
        observers.push(this.#o);
      }
      observe() {}
      disconnect() {
        this.#o.disconnected = true;
      }
    }
    vi.stubGlobal('ResizeObserver', FakeResizeObserver);
    let following = true;
    const toBottom = vi.fn();
    const stop = followGrowth({} as Element, () => following, toBottom);
    observers[0].fire();
    expect(toBottom).toHaveBeenCalledTimes(1);
    following = false;
    observers[0].fire();
    expect(toBottom).toHaveBeenCalledTimes(1);
    stop();
    expect(observers[0].disconnected).toBe(true);
    vi.unstubAllGlobals();
  });
});
