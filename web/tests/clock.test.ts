import { afterEach, describe, expect, it, vi } from 'vitest';
import * as api from '../src/lib/api';
import { ServerClock } from '../src/lib/time';

afterEach(() => vi.unstubAllGlobals());

const HOUR = 3600_000;

describe('ServerClock', () => {
  it('follows the server Date header only when the device is more than a minute off', () => {
    let local = Date.parse('2026-05-25T10:00:00Z');
    const clock = new ServerClock(() => local);
    expect(clock.now().toISOString()).toBe('2026-05-25T10:00:00.000Z');

    // The device is an hour slow; the request took 1 s (the header is truncated to the second).
    clock.observe('Mon, 25 May 2026 11:00:00 GMT', local, local + 1_000);
    expect(clock.offsetMs).toBe(HOUR);
    local += 10_000;
    expect(clock.now().toISOString()).toBe('2026-05-25T11:00:10.000Z');

    // 30 s off is within the noise band (and the server's ±300 s): own clock.
    clock.observe('Mon, 25 May 2026 10:00:40 GMT', local, local);
    expect(clock.offsetMs).toBe(0);

    // Missing or garbled headers change nothing.
    clock.observe('Mon, 25 May 2026 11:00:10 GMT', local, local + 1_000);
    clock.observe(null, local);
    clock.observe('yesterday-ish', local);
    expect(clock.offsetMs).toBe(HOUR);
  });

  it('is fed by the Date header of API responses, errors included', async () => {
    const serverTime = () => new Date(Date.now() + 2 * HOUR);
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response(JSON.stringify({ error: 'stale_auth', message: '' }), {
            status: 401,
            headers: { 'Content-Type': 'application/json', Date: serverTime().toUTCString() },
          }),
      ),
    );
    await expect(api.pollInbox('alice', 0, '1:sig')).rejects.toMatchObject({ status: 401, code: 'stale_auth' });
    expect(Math.abs(api.serverNow().getTime() - serverTime().getTime())).toBeLessThan(2_000);

    // A cached response's Date is old news.
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('{}', { status: 200, headers: { Date: new Date(0).toUTCString(), Age: '100' } })),
    );
    await api.lookupHandle('alice');
    expect(Math.abs(api.serverNow().getTime() - serverTime().getTime())).toBeLessThan(2_000);
  });
});
