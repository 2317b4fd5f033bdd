// Web Push, the stateful side: the Settings toggle, the Messages nudge and
// the self-heal run on every boot/unlock. Pure decisions live in push.ts, the
// browser glue (service worker registration) in pushplatform.ts.
import * as realApi from './api';
import { ApiError } from './api';
import { pushAuth } from './auth';
import { fromB64url } from './bytes';
import type { KV } from './kv';
import {
  healAction,
  nudgeKind,
  PermissionNotGrantedError,
  pushErrorText,
  sameServerKey,
  unavailableReason,
  withTimeout,
  type PushPref,
  type PushSupport,
} from './push';
import type { PushPlatform } from './pushplatform';

/** Who push is for; `sign` signs an X-Kez-Auth string with the identity's seed. */
export interface PushIdentity {
  handle: string;
  /** The home server's name, signed into every X-Kez-Auth string (SPEC §10.2). */
  server: string;
  primary: string;
  sign: (text: string) => string;
}

export type PushApi = Pick<typeof realApi, 'vapidPublicKey' | 'pushSubscribe' | 'pushUnsubscribe' | 'pushCheck'>;

interface Stored {
  pref: PushPref;
  /** The VAPID key and endpoint last sent to the server. */
  key?: string;
  endpoint?: string;
}

/**
 * KV key (one per browser, not per identity): whose handle this browser's push
 * subscription was last registered for. A browser has one subscription but
 * registers it per handle, so this is how a new identity here notices that the
 * subscription still wakes someone else (see #handover).
 */
export const PUSH_OWNER_KEY = 'push-owner';

interface Owner {
  primary: string;
  handle: string;
}

/** Timeout for `pushManager.subscribe` (it may hang when the push service is unreachable). */
export const SUBSCRIBE_TIMEOUT_MS = 20_000;

export class PushController {
  support = $state<PushSupport>('unsupported');
  permission = $state<NotificationPermission>('default');
  pref = $state<PushPref | null>(null);
  nudged = $state(true);
  /** The browser has a subscription the server holds (as far as we know). */
  subscribed = $state(false);
  /** The first self-heal pass is done (the toggle shows real state). */
  ready = $state(false);
  busy = $state(false);
  /** A sentence for the Settings toggle. */
  error = $state('');
  /** A sentence for the nudge banner. */
  nudgeError = $state('');

  nudge = $derived(nudgeKind({ support: this.support, permission: this.permission, pref: this.pref, nudged: this.nudged }));
  unavailable = $derived(unavailableReason(this.support, this.permission));

  #id: PushIdentity | null = null;
  #stored: Stored | null = null;
  #key: string | null = null;
  #gen = 0;
  /** The primary #handover has checked in this attach (it runs once per identity). */
  #handedOver: string | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #kv: KV;
  readonly #platform: PushPlatform;
  readonly #api: PushApi;

  readonly #subscribeTimeoutMs: number;

  constructor(kv: KV, platform: PushPlatform, api: PushApi = realApi, opts: { subscribeTimeoutMs?: number } = {}) {
    this.#kv = kv;
    this.#platform = platform;
    this.#api = api;
    this.#subscribeTimeoutMs = opts.subscribeTimeoutMs ?? SUBSCRIBE_TIMEOUT_MS;
  }

  /** Called once unlocked with a handle (boot or unlock): load state and self-heal. */
  attach(id: PushIdentity): Promise<void> {
    const gen = ++this.#gen;
    this.#id = id;
    this.#handedOver = null;
    this.ready = false;
    this.error = '';
    this.nudgeError = '';
    return this.#run(async () => {
      if (gen !== this.#gen) return;
      this.#stored = (await this.#kv.get<Stored>(`push:${id.primary}`)) ?? null;
      this.pref = this.#stored?.pref ?? null;
      this.nudged = (await this.#kv.get<boolean>(`push-nudged:${id.primary}`)) === true;
      this.support = this.#platform.support();
      this.permission = this.support === 'supported' ? this.#platform.permission() : 'default';
      if (this.support === 'supported') {
        try {
          await this.#heal(id, gen);
        } catch (e) {
          if (gen === this.#gen && this.pref === 'on') this.error = `Notifications may not arrive: ${pushErrorText(e)}`;
        }
      }
      if (gen === this.#gen) this.ready = true;
    });
  }

  /** Locked: forget the identity (the subscription stays; pushes say only "New message"). */
  detach(): void {
    this.#gen++;
    this.#id = null;
    this.#key = null;
    this.subscribed = false;
    this.ready = false;
  }

  /** The toggle / the nudge's "Turn on". Call from a click: it may show the permission prompt. */
  enable(fromNudge = false): Promise<boolean> {
    const id = this.#id;
    if (!id || this.support !== 'supported') return Promise.resolve(false);
    this.error = '';
    this.nudgeError = '';
    // Ask right away, inside the user gesture (before any other await).
    const current = this.#platform.permission();
    const asked = current === 'default' ? this.#platform.requestPermission() : Promise.resolve(current);
    asked.catch(() => undefined); // handled below; no "unhandled rejection" meanwhile
    const gen = this.#gen;
    return this.#run(async () => {
      try {
        const perm = await asked;
        if (gen !== this.#gen) return false;
        this.permission = perm;
        if (perm !== 'granted') throw new PermissionNotGrantedError(perm);
        await this.#subscribe(id, gen);
        await this.#setPref(id, 'on');
        if (fromNudge) await this.#markNudged(id);
        return true;
      } catch (e) {
        if (gen !== this.#gen) return false;
        this.subscribed = false;
        const text = pushErrorText(e);
        if (fromNudge) this.nudgeError = text;
        else this.error = text;
        // Asked once: the banner doesn't come back on the next visit.
        if (fromNudge) await this.#markNudged(id);
        if (e instanceof PermissionNotGrantedError && e.permission === 'denied') await this.#setPref(id, 'off');
        return false;
      }
    });
  }

  /** The toggle, off: withdraw from the server (DELETE) and unsubscribe the browser. */
  disable(): Promise<void> {
    const id = this.#id;
    if (!id) return Promise.resolve();
    this.error = '';
    const gen = this.#gen;
    return this.#run(async () => {
      try {
        const reg = await this.#platform.registration();
        const sub = await reg?.pushManager.getSubscription();
        if (sub) {
          await this.#withdraw(id, sub.endpoint);
          await sub.unsubscribe();
        }
        if (this.#stored?.endpoint && this.#stored.endpoint !== sub?.endpoint) await this.#withdraw(id, this.#stored.endpoint);
        if (gen !== this.#gen) return;
        this.subscribed = false;
        this.#stored = { pref: 'off' };
        await this.#kv.set(`push:${id.primary}`, this.#stored);
        this.pref = 'off';
      } catch (e) {
        if (gen === this.#gen) this.error = pushErrorText(e);
      }
    });
  }

  /** "Not now" on the banner: never shown again on this device. */
  async dismissNudge(): Promise<void> {
    this.nudgeError = '';
    if (this.#id) await this.#markNudged(this.#id);
    else this.nudged = true;
  }

  // ---- internals -------------------------------------------------------------

  #run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(async () => {
      this.busy = true;
      try {
        return await fn();
      } finally {
        this.busy = false;
      }
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #serverKey(): Promise<string> {
    this.#key ??= await this.#api.vapidPublicKey();
    return this.#key;
  }

  async #heal(id: PushIdentity, gen: number): Promise<void> {
    let key: string;
    try {
      key = await this.#serverKey();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) this.support = 'server-off';
      else throw e;
      return;
    }
    const reg = await this.#platform.registration();
    if (gen !== this.#gen) return;
    if (!reg) {
      this.support = 'unsupported';
      return;
    }
    await this.#handover(id, reg);
    if (gen !== this.#gen) return;
    let sub = await reg.pushManager.getSubscription();
    const input = {
      permission: this.permission,
      pref: this.pref,
      browserSub: sub !== null,
      keyMatches: sub ? sameServerKey(sub.options?.applicationServerKey, key, this.#stored?.key) : false,
      serverSubscribed: null as boolean | null,
    };
    let action = healAction(input);
    if (action === 'check' && sub) {
      input.serverSubscribed = await this.#api.pushCheck(id.handle, sub.endpoint, pushAuth(id.sign, 'check', id.server, id.handle, sub.endpoint, realApi.serverNow()));
      action = healAction(input);
    }
    if (gen !== this.#gen) return;
    switch (action) {
      case 'nothing':
        this.subscribed = sub !== null && input.serverSubscribed === true;
        // The browser rotated its endpoint: the old one is useless on the server.
        if (this.subscribed && this.#stored?.endpoint && this.#stored.endpoint !== sub!.endpoint) {
          await this.#withdraw(id, this.#stored.endpoint).catch(() => undefined);
          await this.#remember(id, key, sub!.endpoint);
        }
        return;
      case 'check': // no subscription to check (unreachable)
        return;
      case 'post':
        await this.#post(id, sub!, key);
        this.subscribed = true;
        return;
      case 'subscribe':
      case 'resubscribe':
        await this.#subscribe(id, gen);
        if (this.pref === null) await this.#setPref(id, 'on');
        return;
      case 'drop':
        await this.#withdraw(id, sub!.endpoint).catch(() => undefined);
        await sub!.unsubscribe();
        sub = null;
        this.subscribed = false;
        return;
    }
  }

  /**
   * The identity in this browser changed (restored or created over another
   * one): the browser's subscription is still registered for the previous
   * handle, which would keep getting "New message" here. Withdrawing that
   * needs a DELETE signed by the previous identity, whose seed is gone by now
   * (a restore replaces a *locked* identity; create starts from none), so the
   * browser subscription is unsubscribed instead: the push service then
   * answers 404/410 for that endpoint and the server drops the previous
   * handle's registration at its next push (SPEC §10.4). This identity gets a
   * fresh subscription (new endpoint) if it wants one. With no owner recorded
   * (a browser set up before this check), a subscription this identity never
   * registered counts as someone else's.
   */
  async #handover(id: PushIdentity, reg: Pick<ServiceWorkerRegistration, 'pushManager'>): Promise<void> {
    if (this.#handedOver === id.primary) return;
    const owner = await this.#kv.get<Owner>(PUSH_OWNER_KEY);
    const sub = await reg.pushManager.getSubscription();
    const foreign = owner ? owner.primary !== id.primary : sub !== null && !this.#stored?.endpoint;
    if (foreign) {
      if (sub) await sub.unsubscribe();
      // Our own registration from before the other identity: its endpoint is dead too, and we can sign.
      const mine = this.#stored?.endpoint;
      if (mine) {
        try {
          await this.#withdraw(id, mine); // forgets it in #stored
          await this.#kv.set(`push:${id.primary}`, this.#stored);
        } catch {
          /* kept in #stored: the next POST withdraws it */
        }
      }
    }
    await this.#kv.set(PUSH_OWNER_KEY, { primary: id.primary, handle: id.handle } satisfies Owner);
    this.#handedOver = id.primary;
  }

  /** Make sure the browser has a subscription under the server's current key, and send it. */
  async #subscribe(id: PushIdentity, gen: number): Promise<void> {
    const key = await this.#serverKey();
    const reg = await this.#platform.registration();
    if (!reg) throw Object.assign(new Error('no service worker'), { name: 'NotSupportedError' });
    await this.#handover(id, reg);
    let sub = await reg.pushManager.getSubscription();
    if (sub && !sameServerKey(sub.options?.applicationServerKey, key, this.#stored?.key)) {
      // The server's VAPID key changed: the old subscription can't be used.
      const old = sub.endpoint;
      await sub.unsubscribe();
      await this.#withdraw(id, old).catch(() => undefined);
      sub = null;
    }
    sub ??= await withTimeout(
      reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromB64url(key) as Uint8Array<ArrayBuffer> }),
      this.#subscribeTimeoutMs,
    );
    if (gen !== this.#gen) return;
    await this.#post(id, sub, key);
    this.subscribed = true;
  }

  async #post(id: PushIdentity, sub: PushSubscription, key: string): Promise<void> {
    const j = sub.toJSON();
    const endpoint = j.endpoint ?? sub.endpoint;
    const p256dh = j.keys?.p256dh;
    const auth = j.keys?.auth;
    if (!p256dh || !auth) throw Object.assign(new Error('subscription without keys'), { name: 'NotSupportedError' });
    await this.#api.pushSubscribe(
      { handle: id.handle, endpoint, keys: { p256dh, auth }, expirationTime: j.expirationTime ?? null },
      pushAuth(id.sign, 'subscribe', id.server, id.handle, endpoint, realApi.serverNow()),
    );
    if (this.#stored?.endpoint && this.#stored.endpoint !== endpoint) {
      await this.#withdraw(id, this.#stored.endpoint).catch(() => undefined);
    }
    await this.#remember(id, key, endpoint);
  }

  async #withdraw(id: PushIdentity, endpoint: string): Promise<void> {
    await this.#api.pushUnsubscribe(id.handle, endpoint, pushAuth(id.sign, 'unsubscribe', id.server, id.handle, endpoint, realApi.serverNow()));
    if (this.#stored?.endpoint === endpoint) this.#stored = { ...this.#stored, endpoint: undefined };
  }

  async #remember(id: PushIdentity, key: string, endpoint: string): Promise<void> {
    this.#stored = { pref: this.pref ?? 'on', key, endpoint };
    await this.#kv.set(`push:${id.primary}`, this.#stored);
  }

  async #setPref(id: PushIdentity, pref: PushPref): Promise<void> {
    this.pref = pref;
    this.#stored = { ...(this.#stored ?? {}), pref };
    await this.#kv.set(`push:${id.primary}`, this.#stored);
  }

  async #markNudged(id: PushIdentity): Promise<void> {
    this.nudged = true;
    await this.#kv.set(`push-nudged:${id.primary}`, true);
  }
}
