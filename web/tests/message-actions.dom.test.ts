// @vitest-environment happy-dom
// The message menu's React row and placement (MessageActions.svelte, TODO #165 review 2, 4).
import { flushSync, mount, tick, unmount } from 'svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import MessageActions from '../src/components/MessageActions.svelte';
import type { ChatMessage } from '../src/lib/records';

const m = { id: 'm1', dir: 'in', body: 'hi' } as unknown as ChatMessage;

describe('MessageActions', () => {
  let app: Record<string, unknown> | null = null;
  afterEach(() => {
    if (app) unmount(app);
    app = null;
    document.body.innerHTML = '';
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  async function open(mine: string) {
    const onreact = vi.fn();
    app = mount(MessageActions, { target: document.body, props: { m, mine, open: true, onopen: () => {}, onreply: () => {}, onreact, onedit: () => {}, ondelete: () => {} } });
    for (let i = 0; i < 4; i++) await tick();
    flushSync();
    return { onreact };
  }

  it('the own 👍 sent with VS16 (another device, another client) is checked, and picking 👍 takes it back', async () => {
    const { onreact } = await open('👍\uFE0F');
    const thumbs = document.querySelector<HTMLButtonElement>('[data-testid="react-👍"]')!;
    expect(thumbs.getAttribute('aria-checked')).toBe('true');
    thumbs.click();
    expect(onreact).toHaveBeenCalledWith('');
  });

  it('placed inside the visual viewport, and again when it moves (the on-screen keyboard)', async () => {
    const vv = Object.assign(new EventTarget(), { width: 360, height: 400, offsetTop: 0, offsetLeft: 0 });
    vi.stubGlobal('visualViewport', vv);
    vi.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockReturnValue({ left: 20, right: 52, top: 600, bottom: 632, width: 32, height: 32, x: 20, y: 600, toJSON: () => ({}) });
    await open('');
    const menu = () => document.querySelector<HTMLElement>('[data-testid="message-menu"]')!;
    expect(parseFloat(menu().style.top)).toBeLessThanOrEqual(400 - 8);
    vv.offsetTop = 300;
    vv.dispatchEvent(new Event('resize'));
    flushSync();
    expect(parseFloat(menu().style.top)).toBeGreaterThan(400);
  });
});
