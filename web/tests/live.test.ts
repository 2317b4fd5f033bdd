// The live connection's words: list footer, thread header on phones, and the
// sentence an inbox error leaves.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/lib/api';
import { CLOCK_PROBLEM, liveStatusText, threadLiveText } from '../src/lib/chat.svelte';
import { liveProblemFor } from '../src/lib/live';

describe('live status text (list footer; thread header on phones)', () => {
  it('the footer names every state', () => {
    expect(liveStatusText('live', null)).toBe('live');
    expect(liveStatusText('connecting', null)).toBe('connecting…');
    expect(liveStatusText('reconnecting', null)).toBe('reconnecting…');
    expect(liveStatusText('paused', null)).toBe('paused (live in another tab)');
    expect(liveStatusText('auth_failed', null)).toBe(CLOCK_PROBLEM);
    expect(liveStatusText('auth_failed', 'That signature isn’t valid.')).toBe('That signature isn’t valid.');
  });

  it('the thread header says nothing while live, and the same words otherwise', () => {
    expect(threadLiveText('live', null)).toBeNull();
    for (const s of ['connecting', 'reconnecting', 'paused', 'auth_failed'] as const) {
      expect(threadLiveText(s, null)).toBe(liveStatusText(s, null));
    }
  });
});

describe('live problem sentence', () => {
  it('only a 401 says why live delivery is refused; a stale signature means the clock', () => {
    expect(liveProblemFor(new ApiError(401, 'stale_auth', 'timestamp outside the allowed window'))).toBe(CLOCK_PROBLEM);
    const refused = new ApiError(401, 'bad_signature', '');
    expect(liveProblemFor(refused)).toBe(refused.message);
    expect(refused.message).not.toBe(CLOCK_PROBLEM);
    expect(liveProblemFor(new ApiError(0, 'network', 'No connection.'))).toBeUndefined();
    expect(liveProblemFor(new ApiError(503, 'internal', ''))).toBeUndefined();
    expect(liveProblemFor(new Error('boom'))).toBeUndefined();
  });
});
