// Web Push test fixture: a fake browser (permission, push manager) and a
// fake home server that checks every signed push request, for the
// PushController tests.
import { expect } from 'vitest';
import { ApiError } from '../src/lib/api';
import { pushCheckSignedString, pushSubscribeSignedString, pushUnsubscribeSignedString } from '../src/lib/auth';
import { fromHex, toB64url } from '../src/lib/bytes';
import { primaryFromSeed, signString, verifyString } from '../src/lib/identity';
import type { PushApi } from '../src/lib/push.svelte';
import type { PushPlatform } from '../src/lib/pushplatform';

export const SERVER_KEY = toB64url(Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : i)));
export const NEW_KEY = toB64url(Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : 200 - i)));

class FakeSub {
  constructor(
    private mgr: FakePushManager,
    readonly endpoint: string,
    readonly key: Uint8Array,
  ) {}
  get options() {
    return { applicationServerKey: this.key.buffer as ArrayBuffer, userVisibleOnly: true };
  }
  toJSON(): PushSubscriptionJSON {
    return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: toB64url(new Uint8Array(65).fill(4)), auth: 'AAAAAAAAAAAAAAAAAAAAAA' } };
  }
  unsubscribed = false;
  async unsubscribe() {
    this.unsubscribed = true;
    if (this.mgr.sub === this) this.mgr.sub = null;
    return true;
  }
}

class FakePushManager {
  sub: FakeSub | null = null;
  n = 0;
  subscribeCalls = 0;
  /** 'ok', 'hang' (never settles), or a DOMException-like name to throw. */
  mode: 'ok' | 'hang' | string = 'ok';
  async getSubscription() {
    return this.sub as unknown as PushSubscription | null;
  }
  subscribe(opts: PushSubscriptionOptionsInit): Promise<PushSubscription> {
    this.subscribeCalls++;
    if (this.mode === 'hang') return new Promise(() => {});
    if (this.mode !== 'ok') return Promise.reject(Object.assign(new Error('Registration failed'), { name: this.mode }));
    this.sub = new FakeSub(this, `https://push.example.net/sub/${++this.n}`, new Uint8Array(opts.applicationServerKey as Uint8Array));
    return Promise.resolve(this.sub as unknown as PushSubscription);
  }
}

/** The fake server's name: every push credential must be signed for it. */
export const PUSH_SERVER = 'kez.test';

export function fakeWorld(o: { permission?: NotificationPermission; answer?: NotificationPermission } = {}) {
  const pm = new FakePushManager();
  const state = { permission: o.permission ?? 'default', requests: 0 };
  const platform: PushPlatform = {
    support: () => 'supported',
    permission: () => state.permission,
    requestPermission: async () => {
      state.requests++;
      state.permission = o.answer ?? 'granted';
      return state.permission;
    },
    registration: async () => ({ pushManager: pm as unknown as PushManager }),
  };
  // handle → primary, to check each signature against the handle's own key.
  const users = new Map([['alice', ID_PRIMARY]]);
  const server = { key: SERVER_KEY, subs: new Map<string, string>(), calls: [] as string[], vapidStatus: 200, users };
  const api: PushApi = {
    vapidPublicKey: async () => {
      server.calls.push('key');
      if (server.vapidStatus !== 200) throw new ApiError(server.vapidStatus, 'not_found', '');
      return server.key;
    },
    pushSubscribe: async (body, auth) => {
      const [ts, sig] = auth.split(':');
      expect(verifyString(sig, pushSubscribeSignedString(PUSH_SERVER, body.handle, body.endpoint, Number(ts)), users.get(body.handle)!)).toBe(true);
      server.calls.push(`POST ${body.endpoint}`);
      const existed = server.subs.has(body.endpoint);
      server.subs.set(body.endpoint, body.handle);
      return { status: existed ? 200 : 201 };
    },
    pushUnsubscribe: async (handle, endpoint, auth) => {
      const [ts, sig] = auth.split(':');
      expect(verifyString(sig, pushUnsubscribeSignedString(PUSH_SERVER, handle, endpoint, Number(ts)), users.get(handle)!)).toBe(true);
      server.calls.push(`DELETE ${endpoint}`);
      server.subs.delete(endpoint);
    },
    pushCheck: async (handle, endpoint, auth) => {
      const [ts, sig] = auth.split(':');
      expect(verifyString(sig, pushCheckSignedString(PUSH_SERVER, handle, endpoint, Number(ts)), users.get(handle)!)).toBe(true);
      server.calls.push(`GET ${endpoint}`);
      return server.subs.get(endpoint) === handle;
    },
  };
  return { pm, state, platform, server, api };
}

const ID_SEED = fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', 32);
export const ID_PRIMARY = primaryFromSeed(ID_SEED);
export const ID = { handle: 'alice', server: PUSH_SERVER, primary: ID_PRIMARY, sign: (t: string) => signString(ID_SEED, t) };
const CAROL_SEED = fromHex('c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7', 32);
export const CAROL = { handle: 'carol', server: PUSH_SERVER, primary: primaryFromSeed(CAROL_SEED), sign: (t: string) => signString(CAROL_SEED, t) };
