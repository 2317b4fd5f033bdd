// @vitest-environment happy-dom
// The picker's keyboard and live region (EmojiPicker.svelte, TODO #165 review 5, 6).
import { flushSync, mount, tick, unmount } from 'svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import EmojiPicker from '../src/components/EmojiPicker.svelte';
import { loadEmoji } from '../src/lib/ops/emoji';

const key = (el: Element, k: string) => el.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true }));

describe('EmojiPicker', () => {
  let app: Record<string, unknown> | null = null;
  afterEach(() => {
    if (app) unmount(app);
    app = null;
    document.body.innerHTML = '';
  });

  async function open(mine = '') {
    await loadEmoji();
    const onback = vi.fn();
    const onpick = vi.fn();
    app = mount(EmojiPicker, { target: document.body, props: { mine, recent: [], onpick, onback } });
    for (let i = 0; i < 5; i++) await tick();
    flushSync();
    const search = document.querySelector<HTMLInputElement>('[data-testid="emoji-search"]')!;
    const type = async (v: string) => {
      search.value = v;
      search.dispatchEvent(new Event('input', { bubbles: true }));
      flushSync();
      await tick();
    };
    return { onback, onpick, search, type };
  }

  it('Escape in a non-empty search clears it; a second Escape goes back', async () => {
    const { onback, search, type } = await open();
    await type('fire');
    expect(document.querySelector('[data-testid="pick-🔥"]')).not.toBeNull();
    key(search, 'Escape');
    flushSync();
    expect(search.value).toBe('');
    expect(onback).not.toHaveBeenCalled();
    key(search, 'Escape');
    expect(onback).toHaveBeenCalledOnce();
  });

  it('"No emoji found." is in a polite live region outside the listbox', async () => {
    const { type } = await open();
    await type('zzzzqqq');
    const none = document.querySelector('[data-testid="emoji-none"]')!;
    expect(none.textContent).toBe('No emoji found.');
    expect(none.getAttribute('aria-live')).toBe('polite');
    expect(none.closest('[role="listbox"]')).toBeNull();
  });

  it('the own reaction is selected in either form (👍 with VS16)', async () => {
    const { type } = await open('👍\uFE0F');
    await type('thumbs up');
    const cell = document.querySelector('[data-testid="pick-👍"]')!;
    expect(cell.getAttribute('aria-selected')).toBe('true');
    expect(cell.getAttribute('aria-label')).toBe('Remove reaction thumbs up');
  });

  it('the group tabs move with Left/Right only, and two pickers never share an id', async () => {
    await open();
    const tabs = () => [...document.querySelectorAll<HTMLElement>('[role="tab"]')];
    tabs()[0]!.focus();
    key(tabs()[0]!, 'ArrowDown');
    expect(document.activeElement).toBe(tabs()[0]);
    key(tabs()[0]!, 'ArrowRight');
    expect(document.activeElement).toBe(tabs()[1]);
    const grid = document.querySelector('[data-testid="emoji-grid"]')!;
    expect(tabs()[0]!.getAttribute('aria-controls')).toBe(grid.id);
    const second = mount(EmojiPicker, { target: document.body, props: { mine: '', recent: [], onpick: vi.fn(), onback: vi.fn() } });
    flushSync();
    const ids = [...document.querySelectorAll('[data-testid="emoji-grid"]')].map((g) => g.id);
    unmount(second);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  it('arrow keys move by a row of 8 in the grid; a new search puts the cursor back on the first cell', async () => {
    const { search, type } = await open();
    await type('face');
    key(search, 'ArrowDown');
    const cells = () => [...document.querySelectorAll<HTMLElement>('[data-testid="emoji-grid"] [data-cell]')];
    expect(document.activeElement).toBe(cells()[0]);
    key(cells()[0]!, 'ArrowDown');
    expect(document.activeElement).toBe(cells()[8]);
    flushSync();
    expect(cells()[8]!.tabIndex).toBe(0);
    key(cells()[8]!, 'ArrowUp');
    expect(document.activeElement).toBe(cells()[0]);
    key(cells()[0]!, 'ArrowUp');
    expect(document.activeElement).toBe(search);
    cells()[9]!.focus();
    flushSync();
    expect(cells()[9]!.tabIndex).toBe(0);
    await type('cat');
    flushSync();
    expect(cells()[0]!.tabIndex).toBe(0);
    expect(cells().filter((c) => c.tabIndex === 0)).toHaveLength(1);
  });
});
