// Web Push: PushController against a fake browser + fake server (SPEC §10);
// the pure decisions and signed strings are in push.test.ts.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/lib/api';
import { toB64url } from '../src/lib/bytes';
import { memoryKV } from '../src/lib/kv';
import { PUSH_OWNER_KEY, PushController, type PushApi } from '../src/lib/push.svelte';
import { CAROL, fakeWorld, ID, ID_PRIMARY, NEW_KEY, SERVER_KEY } from './push-fixture';

describe('PushController', () => {
  it('auto-enables on first unlock when permission is already granted', async () => {
    const w = fakeWorld({ permission: 'granted' });
    const kv = memoryKV();
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    expect(c.subscribed).toBe(true);
    expect(c.pref).toBe('on');
    expect(c.nudge).toBe('none');
    expect(w.server.subs.get('https://push.example.net/sub/1')).toBe('alice');
    expect(w.state.requests).toBe(0); // never prompts on its own
    expect(kv.map.get(`push:${ID_PRIMARY}`)).toMatchObject({ pref: 'on', key: SERVER_KEY, endpoint: 'https://push.example.net/sub/1' });
  });

  it('permission default: no prompt, no subscription, the nudge asks once', async () => {
    const w = fakeWorld();
    const kv = memoryKV();
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    expect(w.pm.subscribeCalls).toBe(0);
    expect(w.state.requests).toBe(0);
    expect(c.nudge).toBe('ask');
    await c.dismissNudge();
    expect(c.nudge).toBe('none');
    // Remembered: a new boot doesn't ask again.
    const c2 = new PushController(kv, w.platform, w.api);
    await c2.attach(ID);
    expect(c2.nudge).toBe('none');
    expect(c2.pref).toBeNull();
  });

  it('nudge "Turn on": prompts, subscribes, and is not shown again', async () => {
    const w = fakeWorld();
    const kv = memoryKV();
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    expect(await c.enable(true)).toBe(true);
    expect(w.state.requests).toBe(1);
    expect(c.subscribed).toBe(true);
    expect(c.nudge).toBe('none');
    expect(kv.map.get(`push-nudged:${ID_PRIMARY}`)).toBe(true);
  });

  it('nudge "Turn on" refused by the user: sentence, off, asked once', async () => {
    const w = fakeWorld({ answer: 'denied' });
    const kv = memoryKV();
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    expect(await c.enable(true)).toBe(false);
    expect(c.nudgeError).toMatch(/blocked/);
    expect(c.error).toBe('');
    expect(c.pref).toBe('off');
    expect(c.permission).toBe('denied');
    expect(c.unavailable).toMatch(/blocked/);
    expect(w.pm.subscribeCalls).toBe(0);
    const c2 = new PushController(kv, w.platform, w.api);
    await c2.attach(ID);
    expect(c2.nudge).toBe('none');
  });

  it('self-heal: the server forgot the subscription → re-POST the same endpoint', async () => {
    const w = fakeWorld({ permission: 'granted' });
    const kv = memoryKV();
    await new PushController(kv, w.platform, w.api).attach(ID);
    w.server.subs.clear(); // e.g. evicted
    w.server.calls.length = 0;
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    expect(w.server.calls).toEqual(['key', 'GET https://push.example.net/sub/1', 'POST https://push.example.net/sub/1']);
    expect(w.pm.subscribeCalls).toBe(1); // not resubscribed
    expect(c.subscribed).toBe(true);
  });

  it('self-heal: the server still has it → only the check', async () => {
    const w = fakeWorld({ permission: 'granted' });
    const kv = memoryKV();
    await new PushController(kv, w.platform, w.api).attach(ID);
    w.server.calls.length = 0;
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    expect(w.server.calls).toEqual(['key', 'GET https://push.example.net/sub/1']);
    expect(c.subscribed).toBe(true);
  });

  it('self-heal: the VAPID key changed → resubscribe, withdraw the old endpoint', async () => {
    const w = fakeWorld({ permission: 'granted' });
    const kv = memoryKV();
    await new PushController(kv, w.platform, w.api).attach(ID);
    w.server.key = NEW_KEY;
    w.server.calls.length = 0;
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    expect(w.server.calls).toEqual(['key', 'DELETE https://push.example.net/sub/1', 'POST https://push.example.net/sub/2']);
    expect(toB64url(w.pm.sub!.key)).toBe(NEW_KEY);
    expect([...w.server.subs.keys()]).toEqual(['https://push.example.net/sub/2']);
    expect(c.subscribed).toBe(true);
  });

  it('self-heal: the browser lost its subscription → a new one', async () => {
    const w = fakeWorld({ permission: 'granted' });
    const kv = memoryKV();
    await new PushController(kv, w.platform, w.api).attach(ID);
    w.pm.sub = null;
    w.server.calls.length = 0;
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    expect(w.server.calls).toEqual(['key', 'POST https://push.example.net/sub/2', 'DELETE https://push.example.net/sub/1']);
    expect(c.subscribed).toBe(true);
  });

  it('toggle off: DELETE, browser unsubscribed, stays off on the next boot', async () => {
    const w = fakeWorld({ permission: 'granted' });
    const kv = memoryKV();
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    await c.disable();
    expect(w.server.calls.at(-1)).toBe('DELETE https://push.example.net/sub/1');
    expect(w.pm.sub).toBeNull();
    expect(c.subscribed).toBe(false);
    expect(c.pref).toBe('off');
    const c2 = new PushController(kv, w.platform, w.api);
    await c2.attach(ID);
    expect(w.pm.subscribeCalls).toBe(1); // no auto re-enable
    expect(c2.subscribed).toBe(false);
    // And on again.
    expect(await c2.enable()).toBe(true);
    expect(c2.subscribed).toBe(true);
    expect(c2.pref).toBe('on');
  });

  it('push service unreachable: a sentence on the toggle, not an exception', async () => {
    const w = fakeWorld({ permission: 'granted' });
    w.pm.mode = 'AbortError';
    const c = new PushController(memoryKV(), w.platform, w.api, { subscribeTimeoutMs: 20 });
    await c.attach(ID); // auto-enable fails quietly (nothing was asked for)
    expect(c.error).toBe('');
    expect(c.ready).toBe(true);
    expect(await c.enable()).toBe(false);
    expect(c.error).toMatch(/couldn’t reach its push service/);
    w.pm.mode = 'hang';
    expect(await c.enable()).toBe(false);
    expect(c.error).toMatch(/couldn’t reach its push service/);
    expect(c.busy).toBe(false);
    expect(c.subscribed).toBe(false);
  });

  it('a server without push endpoints disables the toggle', async () => {
    const w = fakeWorld({ permission: 'granted' });
    w.server.vapidStatus = 404;
    const c = new PushController(memoryKV(), w.platform, w.api);
    await c.attach(ID);
    expect(c.support).toBe('server-off');
    expect(c.unavailable).toMatch(/server/);
    expect(c.nudge).toBe('none');
  });

  it('unsupported browser: nothing is called', async () => {
    const w = fakeWorld({ permission: 'granted' });
    const c = new PushController(memoryKV(), { ...w.platform, support: () => 'unsupported' }, w.api);
    await c.attach(ID);
    expect(w.server.calls).toEqual([]);
    expect(c.unavailable).toMatch(/doesn’t support/);
    expect(await c.enable()).toBe(false);
  });

  it('detach (lock) drops results of a pass still running', async () => {
    const w = fakeWorld({ permission: 'granted' });
    const c = new PushController(memoryKV(), w.platform, w.api);
    const p = c.attach(ID);
    c.detach();
    await p;
    expect(c.subscribed).toBe(false);
    expect(c.ready).toBe(false);
  });

  // One browser, one push subscription, but registered per handle: a new
  // identity here must not leave it waking the previous one.
  it('identity replaced in this browser: the old subscription is unsubscribed, not re-registered for the new handle', async () => {
    const w = fakeWorld({ permission: 'granted' });
    w.server.users.set('carol', CAROL.primary);
    const kv = memoryKV();
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(ID);
    const old = w.pm.sub!;
    expect(kv.map.get(PUSH_OWNER_KEY)).toEqual({ primary: ID_PRIMARY, handle: 'alice' });
    c.detach(); // locked; then "Restore" with carol's phrase replaces alice here
    w.server.calls.length = 0;
    await c.attach(CAROL);
    // alice's seed is locked away, so no signed DELETE for alice: the endpoint itself is dropped
    // (the push service then answers 410 and the server forgets it, SPEC §10.4).
    expect(old.unsubscribed).toBe(true);
    expect(w.server.calls).toEqual(['key', 'POST https://push.example.net/sub/2']);
    expect(w.server.subs.get('https://push.example.net/sub/2')).toBe('carol');
    expect([...w.server.subs.entries()].filter(([, h]) => h === 'carol')).toHaveLength(1);
    expect(c.subscribed).toBe(true);
    expect(kv.map.get(PUSH_OWNER_KEY)).toEqual({ primary: CAROL.primary, handle: 'carol' });

    // Reloads as carol change nothing.
    w.server.calls.length = 0;
    await new PushController(kv, w.platform, w.api).attach(CAROL);
    expect(w.server.calls).toEqual(['key', 'GET https://push.example.net/sub/2']);

    // alice restored here again: carol's subscription goes the same way, and alice
    // (who can sign now) withdraws her own stale registration.
    const carols = w.pm.sub!;
    w.server.calls.length = 0;
    const c3 = new PushController(kv, w.platform, w.api);
    await c3.attach(ID);
    expect(carols.unsubscribed).toBe(true);
    expect(w.server.calls).toEqual(['key', 'DELETE https://push.example.net/sub/1', 'POST https://push.example.net/sub/3']);
    expect(w.server.subs.has('https://push.example.net/sub/1')).toBe(false);
    expect(w.server.subs.get('https://push.example.net/sub/3')).toBe('alice');
    expect(kv.map.get(`push:${ID_PRIMARY}`)).toMatchObject({ endpoint: 'https://push.example.net/sub/3' });
  });

  it('identity replaced, the new one has notifications off: the old subscription still goes', async () => {
    const w = fakeWorld({ permission: 'granted' });
    w.server.users.set('carol', CAROL.primary);
    const kv = memoryKV();
    await new PushController(kv, w.platform, w.api).attach(ID);
    const old = w.pm.sub!;
    await kv.set(`push:${CAROL.primary}`, { pref: 'off' });
    w.server.calls.length = 0;
    const c = new PushController(kv, w.platform, w.api);
    await c.attach(CAROL);
    expect(old.unsubscribed).toBe(true);
    expect(w.server.calls).toEqual(['key']); // handed over before the "off" pass: no DELETE of alice's endpoint as carol
    expect(w.pm.sub).toBeNull();
    expect(w.pm.subscribeCalls).toBe(1);
    expect(c.subscribed).toBe(false);
  });

  it('no owner recorded yet (set up before the check): a subscription this identity never registered is dropped', async () => {
    const w = fakeWorld({ permission: 'granted' });
    w.server.users.set('carol', CAROL.primary);
    const kv = memoryKV();
    await new PushController(kv, w.platform, w.api).attach(ID);
    const old = w.pm.sub!;
    await kv.del(PUSH_OWNER_KEY);
    await new PushController(kv, w.platform, w.api).attach(CAROL);
    expect(old.unsubscribed).toBe(true);
    expect(w.server.subs.get('https://push.example.net/sub/2')).toBe('carol');
    // …but the identity that did register it keeps it (no churn on upgrade).
    await kv.del(PUSH_OWNER_KEY);
    await kv.set(`push:${CAROL.primary}`, { pref: 'on', key: SERVER_KEY, endpoint: 'https://push.example.net/sub/2' });
    w.server.calls.length = 0;
    await new PushController(kv, w.platform, w.api).attach(CAROL);
    expect(w.pm.sub!.unsubscribed).toBe(false);
    expect(w.server.calls).toEqual(['key', 'GET https://push.example.net/sub/2']);
  });

  it('the toggle hands over too: "on" for a new identity never re-POSTs the previous one\'s endpoint', async () => {
    const w = fakeWorld({ permission: 'granted' });
    w.server.users.set('carol', CAROL.primary);
    const kv = memoryKV();
    await new PushController(kv, w.platform, w.api).attach(ID);
    const old = w.pm.sub!;
    // carol's self-heal pass fails before it reaches the browser (server unreachable)…
    let offline = true;
    const api: PushApi = {
      ...w.api,
      vapidPublicKey: () => (offline ? Promise.reject(new ApiError(0, 'network', '')) : w.api.vapidPublicKey()),
    };
    const c = new PushController(kv, w.platform, api);
    await c.attach(CAROL);
    expect(old.unsubscribed).toBe(false);
    // …then the toggle is switched on once the server is back.
    offline = false;
    w.server.calls.length = 0;
    expect(await c.enable()).toBe(true);
    expect(old.unsubscribed).toBe(true);
    expect(w.server.calls).toEqual(['key', 'POST https://push.example.net/sub/2']);
    expect(w.server.subs.get('https://push.example.net/sub/2')).toBe('carol');
  });
});
