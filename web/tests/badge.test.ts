import { describe, expect, it, vi } from 'vitest';
import { AppBadge, appBadgeCount, type BadgeNavigator, type BadgeSource } from '../src/lib/badge';

function fakeNav(o: { reject?: boolean } = {}) {
  const calls: string[] = [];
  const nav: BadgeNavigator = {
    setAppBadge: vi.fn(async (n?: number) => {
      calls.push(`set ${n}`);
      if (o.reject) throw Object.assign(new Error('raw'), { name: 'NotAllowedError' });
    }),
    clearAppBadge: vi.fn(async () => {
      calls.push('clear');
      if (o.reject) throw Object.assign(new Error('raw'), { name: 'NotAllowedError' });
    }),
  };
  return { nav, calls };
}

describe('AppBadge (the unread count on the app icon)', () => {
  it('sets the total, clears at 0, and calls only on a change', () => {
    const { nav, calls } = fakeNav();
    const b = new AppBadge(nav);
    b.set(0); // first call: clears whatever an earlier session left
    b.set(3);
    b.set(3);
    b.set(120); // the OS formats big numbers itself
    b.set(0);
    b.set(0);
    expect(calls).toEqual(['clear', 'set 3', 'set 120', 'clear']);
  });

  it('does nothing without the Badging API', () => {
    expect(() => new AppBadge({}).set(2)).not.toThrow();
    expect(() => new AppBadge(undefined).set(2)).not.toThrow();
    expect(() => new AppBadge({ setAppBadge: async () => undefined }).set(2)).not.toThrow();
  });

  it('a refusal is swallowed (no unhandled rejection, no console error)', async () => {
    const { nav, calls } = fakeNav({ reject: true });
    const onUnhandled = vi.fn();
    process.on('unhandledRejection', onUnhandled);
    try {
      const b = new AppBadge(nav);
      b.set(1);
      b.set(0);
      const sync = new AppBadge({
        setAppBadge: () => {
          throw new Error('sync');
        },
        clearAppBadge: async () => undefined,
      });
      expect(() => sync.set(4)).not.toThrow();
      await new Promise((r) => setTimeout(r, 10));
      expect(calls).toEqual(['set 1', 'clear']);
      expect(onUnhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('appBadgeCount (which tab decides)', () => {
  const chat = { totalUnread: 5 };
  const s = (o: Partial<BadgeSource>): BadgeSource => ({ status: 'unlocked', elsewhere: false, chat, ...o });
  it('the active tab shows its unread total', () => {
    expect(appBadgeCount(s({}))).toBe(5);
    expect(appBadgeCount(s({ chat: { totalUnread: 0 } }))).toBe(0);
  });
  it('locked (or no identity): cleared', () => {
    expect(appBadgeCount(s({ status: 'locked', chat: null }))).toBe(0);
    expect(appBadgeCount(s({ status: 'new', chat: null }))).toBe(0);
  });
  it('loading, a tab waiting for "Use here", or a store not loaded yet: left to whoever set it', () => {
    expect(appBadgeCount(s({ status: 'loading', chat: null }))).toBeNull();
    expect(appBadgeCount(s({ elsewhere: true, chat: null }))).toBeNull();
    expect(appBadgeCount(s({ chat: null }))).toBeNull();
  });
});
