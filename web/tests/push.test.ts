// Web Push client side (SPEC §10): signed strings, the self-heal decision,
// the nudge-once logic, support detection and error sentences. The
// controller against a fake browser + fake server is push-controller.test.ts.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/lib/api';
import {
  endpointHash,
  pushAuth,
  pushCheckSignedString,
  pushSubscribeSignedString,
  pushUnsubscribeSignedString,
} from '../src/lib/auth';
import { bytesToHex, fromB64url, fromHex, toB64url, utf8ToBytes } from '../src/lib/bytes';
import { primaryFromSeed, signString, verifyString } from '../src/lib/identity';
import {
  detectSupport,
  healAction,
  isIOS,
  lockNotificationText,
  nudgeKind,
  PermissionNotGrantedError,
  pushErrorText,
  PushTimeoutError,
  sameServerKey,
  unavailableReason,
  type HealAction,
  type HealInput,
  type PlatformFacts,
  type PushPref,
} from '../src/lib/push';
import { loadJson, vectorPath } from './helpers';

// ---- signed strings -------------------------------------------------------------

// RFC 8032 test 1 seed; a realistic FCM endpoint; a fixed time.
const SEED = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 32);
const ENDPOINT = 'https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx';
const TS = 1779678000;
// The server the strings are signed for (as in the shared vectors).
const SRV = 'kez.lat';
const HASH = 'faf127d4176e5be2c5c46f048bfa25bde683c9f674914e02d340d25db65aafcc';

describe('push signed strings (SPEC §10.2)', () => {
  it('endpoint hash is lowercase hex SHA-256 of the UTF-8', () => {
    expect(endpointHash(ENDPOINT)).toBe(HASH);
    expect(endpointHash('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // Non-ASCII is hashed as UTF-8, exactly as given (no normalisation).
    expect(endpointHash('https://push.example/é')).not.toBe(endpointHash('https://push.example/e\u0301'));
  });

  it('exact bytes of the three strings', () => {
    const post = pushSubscribeSignedString(SRV, 'tudisco', ENDPOINT, TS);
    const del = pushUnsubscribeSignedString(SRV, 'tudisco', ENDPOINT, TS);
    const get = pushCheckSignedString(SRV, 'tudisco', ENDPOINT, TS);
    const head = `kez.chat.req.v2\n${SRV}\n`;
    expect(post).toBe(`${head}POST\n/v1/push/subscriptions\ntudisco\n${HASH}\n${TS}`);
    expect(del).toBe(`${head}DELETE\n/v1/push/subscriptions\ntudisco\n${HASH}\n${TS}`);
    expect(get).toBe(`${head}GET\n/v1/push/subscriptions/tudisco\n${HASH}\n${TS}`);
    // Byte level: LF separators, no trailing newline.
    const hex = (s: string) => bytesToHex(utf8ToBytes(s));
    expect(hex(get)).toBe(
      hex('kez.chat.req.v2') + '0a' + hex(SRV) + '0a' + hex('GET') + '0a' + hex('/v1/push/subscriptions/tudisco') + '0a' + hex(HASH) + '0a' + hex(String(TS)),
    );
    expect(hex(post).endsWith('0a')).toBe(false);
    expect(new Set([post, del, get]).size).toBe(3);
    // Another server, another string: no replay across servers.
    expect(pushSubscribeSignedString('other.example', 'tudisco', ENDPOINT, TS)).not.toBe(post);
  });

  it('signatures (deterministic Ed25519) and the X-Kez-Auth value', () => {
    const now = new Date(TS * 1000);
    const sign = (t: string) => signString(SEED, t);
    const header = pushAuth(sign, 'subscribe', SRV, 'tudisco', ENDPOINT, now);
    expect(header).toBe(
      `${TS}:590f250184abd1f916f1f7820d5f9872d0e3e904d120c09e25dd6df1ab568e78658b1da10d37629b8047c49304d22dffc4afda4557ea74831c09841764db5109`,
    );
    for (const kind of ['subscribe', 'unsubscribe', 'check'] as const) {
      const [ts, sig] = pushAuth(sign, kind, SRV, 'tudisco', ENDPOINT, now).split(':');
      expect(Number(ts)).toBe(TS);
      const text = { subscribe: pushSubscribeSignedString, unsubscribe: pushUnsubscribeSignedString, check: pushCheckSignedString }[
        kind
      ](SRV, 'tudisco', ENDPOINT, TS);
      expect(verifyString(sig, text, primaryFromSeed(SEED))).toBe(true);
    }
  });
});

const vectors = loadJson(vectorPath('push-signed-strings.json'));

describe.skipIf(!vectors)('tests/vectors/push-signed-strings.json', () => {
  const builders: [RegExp, (s: string, h: string, e: string, ts: number) => string][] = [
    [/^kez\.chat\.req\.v2\n[^\n]+\nPOST\n/, pushSubscribeSignedString],
    [/^kez\.chat\.req\.v2\n[^\n]+\nDELETE\n/, pushUnsubscribeSignedString],
    [/^kez\.chat\.req\.v2\n[^\n]+\nGET\n/, pushCheckSignedString],
  ];
  for (const v of vectors?.vectors ?? []) {
    it(v.name, () => {
      const seed = fromHex(v.seed_hex, 32);
      expect(primaryFromSeed(seed)).toBe(v.primary);
      expect(endpointHash(v.endpoint)).toBe(v.endpoint_sha256);
      const build = builders.find(([re]) => re.test(v.string))?.[1];
      expect(build, 'known operation').toBeDefined();
      expect(build!(v.server, v.handle, v.endpoint, v.ts)).toBe(v.string);
      expect(signString(seed, v.string)).toBe(v.signature);
      expect(`${v.ts}:${v.signature}`).toBe(v.header);
      const method = v.string.split('\n')[2];
      const kind = method === 'POST' ? 'subscribe' : method === 'DELETE' ? 'unsubscribe' : 'check';
      expect(pushAuth((t) => signString(seed, t), kind, v.server, v.handle, v.endpoint, new Date(v.ts * 1000))).toBe(v.header);
    });
  }

  it.skipIf(!vectors?.vapid)('the VAPID public key decodes to a 65-byte uncompressed point', () => {
    const key = fromB64url(vectors.vapid.public_b64url);
    expect(key.length).toBe(65);
    expect(key[0]).toBe(4);
    expect(sameServerKey(key.buffer as ArrayBuffer, vectors.vapid.public_b64url)).toBe(true);
  });
});

// ---- decisions --------------------------------------------------------------------

describe('healAction (self-heal decision)', () => {
  const base: HealInput = { permission: 'granted', pref: 'on', browserSub: true, keyMatches: true, serverSubscribed: null };
  const cases: [Partial<HealInput>, HealAction][] = [
    // browser has a subscription, key matches: ask the server, re-POST on false
    [{}, 'check'],
    [{ serverSubscribed: true }, 'nothing'],
    [{ serverSubscribed: false }, 'post'],
    // the VAPID key changed: resubscribe whatever the server says
    [{ keyMatches: false }, 'resubscribe'],
    [{ keyMatches: false, serverSubscribed: true }, 'resubscribe'],
    [{ keyMatches: false, serverSubscribed: false }, 'resubscribe'],
    // no browser subscription but wanted: make one
    [{ browserSub: false }, 'subscribe'],
    [{ browserSub: false, keyMatches: false }, 'subscribe'],
    // auto-enable: permission already granted, never decided here
    [{ pref: null, browserSub: false }, 'subscribe'],
    [{ pref: null }, 'check'],
    [{ pref: null, serverSubscribed: false }, 'post'],
    // turned off on this device
    [{ pref: 'off', browserSub: false }, 'nothing'],
    [{ pref: 'off' }, 'drop'],
    [{ pref: 'off', serverSubscribed: true }, 'drop'],
    // no permission: nothing can be done (and nothing is shown)
    [{ permission: 'default', pref: null, browserSub: false }, 'nothing'],
    [{ permission: 'default' }, 'nothing'],
    [{ permission: 'denied', serverSubscribed: false }, 'nothing'],
    [{ permission: 'denied', browserSub: false }, 'nothing'],
  ];
  for (const [over, want] of cases) {
    it(`${JSON.stringify(over)} → ${want}`, () => expect(healAction({ ...base, ...over })).toBe(want));
  }

  it('every combination gives an action; check only when the server was not asked', () => {
    for (const permission of ['granted', 'denied', 'default'] as NotificationPermission[])
      for (const pref of ['on', 'off', null] as (PushPref | null)[])
        for (const browserSub of [true, false])
          for (const keyMatches of [true, false])
            for (const serverSubscribed of [true, false, null]) {
              const a = healAction({ permission, pref, browserSub, keyMatches, serverSubscribed });
              if (a === 'check') expect(serverSubscribed).toBeNull();
              if (a === 'post' || a === 'check' || a === 'drop' || a === 'resubscribe') expect(browserSub).toBe(true);
              if (permission !== 'granted') expect(a).toBe('nothing');
            }
  });
});

describe('nudgeKind (ask once)', () => {
  it('asks only when supported, undecided, not yet asked and permission is default', () => {
    const n = (o: Partial<Parameters<typeof nudgeKind>[0]>) =>
      nudgeKind({ support: 'supported', permission: 'default', pref: null, nudged: false, ...o });
    expect(n({})).toBe('ask');
    expect(n({ nudged: true })).toBe('none');
    expect(n({ pref: 'on' })).toBe('none');
    expect(n({ pref: 'off' })).toBe('none');
    expect(n({ permission: 'granted' })).toBe('none'); // auto-enabled instead
    expect(n({ permission: 'denied' })).toBe('none');
    expect(n({ support: 'unsupported' })).toBe('none');
    expect(n({ support: 'server-off' })).toBe('none');
    expect(n({ support: 'ios-install' })).toBe('install');
    expect(n({ support: 'ios-install', nudged: true })).toBe('none');
  });
});

describe('support detection', () => {
  const UA = {
    iphone:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
    ipad: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
    mac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
    chrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  };
  const facts = (o: Partial<PlatformFacts>): PlatformFacts => ({
    userAgent: UA.chrome,
    platform: 'Linux x86_64',
    maxTouchPoints: 0,
    standalone: false,
    secure: true,
    hasServiceWorker: true,
    hasPushManager: true,
    hasNotification: true,
    ...o,
  });

  it('recognises iPhone and iPad (desktop-class UA with touch)', () => {
    expect(isIOS(facts({ userAgent: UA.iphone, platform: 'iPhone', maxTouchPoints: 5 }))).toBe(true);
    expect(isIOS(facts({ userAgent: UA.ipad, platform: 'MacIntel', maxTouchPoints: 5 }))).toBe(true);
    expect(isIOS(facts({ userAgent: UA.mac, platform: 'MacIntel', maxTouchPoints: 0 }))).toBe(false);
    expect(isIOS(facts({}))).toBe(false);
  });

  it('iOS tab → install hint; installed iOS app with the APIs → supported', () => {
    const tab = facts({ userAgent: UA.iphone, platform: 'iPhone', maxTouchPoints: 5, hasPushManager: false, hasNotification: false });
    expect(detectSupport(tab)).toBe('ios-install');
    expect(detectSupport({ ...tab, hasPushManager: true, hasNotification: true })).toBe('ios-install');
    expect(detectSupport({ ...tab, standalone: true, hasPushManager: true, hasNotification: true })).toBe('supported');
    expect(detectSupport({ ...tab, standalone: true })).toBe('unsupported'); // iOS < 16.4
  });

  it('desktop: supported only with service worker, PushManager and Notification', () => {
    expect(detectSupport(facts({}))).toBe('supported');
    expect(detectSupport(facts({ hasPushManager: false }))).toBe('unsupported');
    expect(detectSupport(facts({ hasServiceWorker: false }))).toBe('unsupported');
    expect(detectSupport(facts({ hasNotification: false }))).toBe('unsupported');
    expect(detectSupport(facts({ secure: false, hasServiceWorker: false, hasPushManager: false }))).toBe('insecure');
  });

  it('explains why the toggle is disabled', () => {
    expect(unavailableReason('supported', 'default')).toBeNull();
    expect(unavailableReason('supported', 'granted')).toBeNull();
    expect(unavailableReason('supported', 'denied')).toMatch(/blocked/);
    expect(unavailableReason('unsupported', 'default')).toMatch(/doesn’t support/);
    expect(unavailableReason('ios-install', 'default')).toMatch(/Add to Home Screen/);
    expect(unavailableReason('server-off', 'default')).toMatch(/server/);
    expect(unavailableReason('insecure', 'default')).toMatch(/https/);
  });
});

describe('key comparison and error sentences', () => {
  const key = toB64url(new Uint8Array(65).fill(4));
  const other = toB64url(new Uint8Array(65).fill(5));
  it('sameServerKey', () => {
    expect(sameServerKey(fromB64url(key).buffer as ArrayBuffer, key)).toBe(true);
    expect(sameServerKey(fromB64url(other).buffer as ArrayBuffer, key)).toBe(false);
    expect(sameServerKey(null, key, key)).toBe(true);
    expect(sameServerKey(null, key, other)).toBe(false);
    expect(sameServerKey(null, key)).toBe(true); // unknown: don't churn
    expect(sameServerKey(fromB64url(key).buffer as ArrayBuffer, 'not base64!')).toBe(false);
  });

  it('pushErrorText gives sentences, never raw exceptions', () => {
    const dom = (name: string) => Object.assign(new Error('raw'), { name });
    expect(pushErrorText(dom('AbortError'))).toMatch(/push service/);
    expect(pushErrorText(new PushTimeoutError())).toMatch(/push service/);
    expect(pushErrorText(dom('NotAllowedError'))).toMatch(/blocked/);
    expect(pushErrorText(new PermissionNotGrantedError('denied'))).toMatch(/blocked/);
    expect(pushErrorText(new PermissionNotGrantedError('default'))).toMatch(/Allow notifications/);
    expect(pushErrorText(dom('NotSupportedError'))).toMatch(/doesn’t support/);
    expect(pushErrorText(new ApiError(0, 'network', ''))).toMatch(/Can’t reach the server/);
    expect(pushErrorText(new ApiError(422, 'invalid_endpoint', ''))).toMatch(/push address/);
    for (const e of [dom('AbortError'), new Error('x'), 'str', null]) expect(pushErrorText(e)).not.toMatch(/raw|^x$/);
  });

  it('the Lock text says notifications keep coming while locked (only when they are on)', () => {
    expect(lockNotificationText(true)).toMatch(/keep coming while locked/);
    expect(lockNotificationText(true)).toMatch(/never who wrote or what/);
    expect(lockNotificationText(true)).toMatch(/Turn Notifications off/);
    expect(lockNotificationText(false)).toMatch(/off on this device/);
  });
});
