import { describe, expect, it, vi } from 'vitest';
import { TabLock, tabLockName, type LockManagerLike } from '../src/lib/tablock';
import { FakeLockManager } from './helpers';

const NAME = tabLockName('ed25519:' + 'ab'.repeat(32));
const tick = () => new Promise((r) => setTimeout(r, 0));

/** A tab: its TabLock and a record of what it was told. */
function tab(locks: LockManagerLike | null, onLost: () => Promise<void> | void = () => undefined, closeWaitMs?: number) {
  const lost = vi.fn(onLost);
  return { lock: new TabLock({ locks, name: NAME, onLost: lost, closeWaitMs }), lost };
}

describe('FakeLockManager', () => {
  it('has the Web Locks semantics the tab lock relies on', async () => {
    const locks = new FakeLockManager();
    let releaseA!: () => void;
    const a = locks.request('x', {}, () => new Promise<void>((r) => (releaseA = r)));
    await tick();
    expect(locks.holds('x')).toBe(true);
    // ifAvailable: refused with null, not queued
    expect(await locks.request('x', { ifAvailable: true }, (l) => l)).toBeNull();
    // a plain request waits; an aborted one gives up with AbortError
    const abort = new AbortController();
    const gaveUp = locks.request('x', { signal: abort.signal }, () => 'never');
    abort.abort();
    await expect(gaveUp).rejects.toThrow(/aborted/);
    // steal: the holder's request rejects, the stealer runs at once
    const stolen = expect(a).rejects.toMatchObject({ name: 'AbortError' });
    expect(await locks.request('x', { steal: true }, (l) => l?.name)).toBe('x');
    await stolen;
    releaseA(); // the stolen holder finishing later changes nothing
    expect(locks.holds('x')).toBe(false);
  });
});

describe('TabLock', () => {
  it('lets one tab be active; a second one is refused without disturbing it', async () => {
    const locks = new FakeLockManager();
    const a = tab(locks);
    const b = tab(locks);
    expect(await a.lock.acquire()).toBe(true);
    expect(a.lock.held).toBe(true);
    expect(await a.lock.acquire()).toBe(true); // idempotent
    expect(await b.lock.acquire()).toBe(false);
    expect(b.lock.held).toBe(false);
    expect(a.lock.held).toBe(true);
    expect(a.lost).not.toHaveBeenCalled();
    expect(locks.holds(NAME)).toBe(true);
    expect(locks.holds(`${NAME}:open`)).toBe(true);
  });

  it('"Use here" steals: the active tab is told, and the stealer waits until it has closed', async () => {
    const locks = new FakeLockManager();
    let finishClosing!: () => void;
    const order: string[] = [];
    const a = tab(locks, async () => {
      order.push('a: lost');
      await new Promise<void>((r) => (finishClosing = r));
      order.push('a: closed');
    });
    const b = tab(locks);
    await a.lock.acquire();
    expect(await b.lock.acquire()).toBe(false);

    const stealing = b.lock.steal().then((ok) => order.push(`b: active ${ok}`));
    await tick();
    expect(a.lost).toHaveBeenCalledTimes(1);
    expect(a.lock.held).toBe(false);
    expect(order).toEqual(['a: lost']); // b is still waiting for a's writes to finish
    finishClosing();
    await stealing;
    expect(order).toEqual(['a: lost', 'a: closed', 'b: active true']);
    expect(b.lock.held).toBe(true);

    // and back: a takes over again the same way
    expect(await a.lock.acquire()).toBe(false);
    await a.lock.steal();
    expect(b.lost).toHaveBeenCalledTimes(1);
    expect(a.lock.held).toBe(true);
    expect(b.lock.held).toBe(false);
  });

  it('does not wait forever for a displaced tab that never finishes closing', async () => {
    const locks = new FakeLockManager();
    const a = tab(locks, () => new Promise<void>(() => undefined)); // frozen
    const b = tab(locks, undefined, 20);
    await a.lock.acquire();
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => undefined);
    expect(await b.lock.steal()).toBe(true);
    expect(b.lock.held).toBe(true);
    expect(debug).toHaveBeenCalledWith(expect.stringMatching(/not waiting any longer/), expect.anything());
    debug.mockRestore();
  });

  it('after the active tab releases (lock, tab closed), another becomes active only when it asks', async () => {
    const locks = new FakeLockManager();
    const a = tab(locks);
    const b = tab(locks);
    await a.lock.acquire();
    expect(await b.lock.acquire()).toBe(false);
    a.lock.release();
    await tick();
    expect(locks.holds(NAME)).toBe(false);
    expect(b.lock.held).toBe(false); // no automatic takeover
    expect(await b.lock.acquire()).toBe(true);
    expect(a.lost).not.toHaveBeenCalled();
  });

  it('a release or steal during an acquire in progress leaves the right tab active', async () => {
    const locks = new FakeLockManager();
    const closing: (() => void)[] = [];
    const a = tab(locks, () => new Promise<void>((r) => closing.push(r)));
    const b = tab(locks);
    const c = tab(locks);
    await a.lock.acquire();
    const bSteal = b.lock.steal(); // waits for a to close
    await tick();
    const cSteal = c.lock.steal(); // b loses before it even opened
    await tick();
    expect(b.lost).toHaveBeenCalledTimes(1);
    closing.forEach((r) => r());
    expect(await bSteal).toBe(false);
    expect(await cSteal).toBe(true);
    expect(c.lock.held).toBe(true);
    expect(b.lock.held).toBe(false);
  });

  it('falls back to "every tab is active" without Web Locks, or when they refuse', async () => {
    const a = tab(null);
    const b = tab(null);
    expect(await a.lock.acquire()).toBe(true);
    expect(await b.lock.acquire()).toBe(true);
    expect(await b.lock.steal()).toBe(true);
    expect(a.lost).not.toHaveBeenCalled();

    const refusing: LockManagerLike = {
      request: () => Promise.reject(new DOMException('opaque origin', 'SecurityError')),
    };
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => undefined);
    const c = tab(refusing);
    expect(await c.lock.acquire()).toBe(true);
    expect(c.lock.held).toBe(true);
    debug.mockRestore();
  });
});
