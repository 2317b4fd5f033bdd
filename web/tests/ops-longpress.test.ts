// @vitest-environment happy-dom
// The long-press that opens a bubble's menu on touch screens (ops/longpress.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LONG_PRESS_MS, longPress } from '../src/lib/ops/longpress';

const touch = (type: string, x = 0, y = 0, pointerType = 'touch') => {
  const e = new Event(type) as PointerEvent;
  Object.assign(e, { pointerType, clientX: x, clientY: y });
  return e;
};

describe('longPress', () => {
  afterEach(() => vi.useRealTimers());

  it('fires after LONG_PRESS_MS of a still finger, not on a tap, a scroll or a mouse', () => {
    vi.useFakeTimers();
    const node = document.createElement('div');
    const fire = vi.fn();
    const action = longPress(node, fire);
    node.dispatchEvent(touch('pointerdown'));
    vi.advanceTimersByTime(LONG_PRESS_MS - 1);
    node.dispatchEvent(touch('pointerup'));
    vi.advanceTimersByTime(LONG_PRESS_MS);
    expect(fire).not.toHaveBeenCalled();
    node.dispatchEvent(touch('pointerdown'));
    node.dispatchEvent(touch('pointermove', 0, 30));
    vi.advanceTimersByTime(LONG_PRESS_MS);
    expect(fire).not.toHaveBeenCalled();
    node.dispatchEvent(touch('pointerdown', 0, 0, 'mouse'));
    vi.advanceTimersByTime(LONG_PRESS_MS);
    expect(fire).not.toHaveBeenCalled();
    node.dispatchEvent(touch('pointerdown'));
    node.dispatchEvent(touch('pointermove', 3, 3));
    vi.advanceTimersByTime(LONG_PRESS_MS);
    expect(fire).toHaveBeenCalledOnce();
    action.destroy();
    node.dispatchEvent(touch('pointerdown'));
    vi.advanceTimersByTime(LONG_PRESS_MS);
    expect(fire).toHaveBeenCalledOnce();
  });
});
