// Closed hints stay closed, per identity (dismissed.ts).
import { describe, expect, it } from 'vitest';
import { dismissedKey, isDismissed, setDismissed, type FlagStorage } from '../src/lib/dismissed';

function mapStorage(): FlagStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}

describe('dismissed hints', () => {
  it('remembers per identity, and can be undone', () => {
    const s = mapStorage();
    expect(isDismissed('your-kez', 'ed25519:a', s)).toBe(false);
    setDismissed('your-kez', 'ed25519:a', true, s);
    expect(isDismissed('your-kez', 'ed25519:a', s)).toBe(true);
    expect(isDismissed('your-kez', 'ed25519:b', s)).toBe(false);
    expect([...s.map.keys()]).toEqual([dismissedKey('your-kez', 'ed25519:a')]);
    setDismissed('your-kez', 'ed25519:a', false, s);
    expect(isDismissed('your-kez', 'ed25519:a', s)).toBe(false);
  });

  it('storage that throws or is missing: shown again, no exception', () => {
    const broken: FlagStorage = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    expect(() => setDismissed('your-kez', 'p', true, broken)).not.toThrow();
    expect(isDismissed('your-kez', 'p', broken)).toBe(false);
    expect(isDismissed('your-kez', 'p', null)).toBe(false);
  });
});
