// The transport choice and relay lists (SPEC §12): pure decisions of
// Settings → Delivery and the thread, no network. Transports (transports.ts)
// moves the envelopes.
import type { RelayProblem, RelayState } from './nostr/transport';
import { relayLabel, normalize } from './nostr/bookkeeping';

/** Which way messages and acks travel (SPEC §12): the home server, nostr relays, or both. */
export type TransportChoice = 'server' | 'nostr' | 'both';
export const TRANSPORTS: readonly TransportChoice[] = ['server', 'nostr', 'both'];

/** A relay URL the client accepts: ws:// or wss://, a host, no credentials. */
export function isRelayUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'wss:' || u.protocol === 'ws:') && !!u.hostname && !u.username && !u.password && !u.hash;
  } catch {
    return false;
  }
}

/** The transport an identity starts with: `both` when its server advertises relays, else `server`. */
export function defaultTransport(advertised: readonly string[]): TransportChoice {
  return advertised.length ? 'both' : 'server';
}

/** The first of `tasks` to succeed; if all fail, the error of the first (the server's, when it ran). */
export function firstSuccess<T>(tasks: Promise<T>[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const errors: unknown[] = [];
    let failed = 0;
    let done = false;
    tasks.forEach((t, i) =>
      t.then(
        (v) => {
          if (!done) {
            done = true;
            resolve(v);
          }
        },
        (e: unknown) => {
          errors[i] = e;
          if (++failed === tasks.length && !done) {
            done = true;
            reject(errors[0]);
          } else console.debug('one transport failed:', e);
        },
      ),
    );
  });
}

/** What the relay popover says of one relay: a problem (SPEC §12 hygiene) outranks the connection state. */
export function relayStatusText(state: RelayState | undefined, problem: RelayProblem | undefined): string {
  if (problem === 'auth_required') return 'auth required';
  if (problem === 'too_large') return 'message too large';
  if (state === 'connected') return 'connected';
  if (state === 'disconnected') return 'error: not connected';
  return 'connecting';
}

/**
 * The deduplicated relay list of a configuration (duplicates by nostr-tools'
 * normal form: `wss://x` and `wss://x/` are one relay, the first spelling
 * kept); throws on a URL that is not a relay's, and on a `ws://` relay the
 * server does not advertise: the page's CSP opens plain `ws:` only for
 * those (SPEC §12 "Content-Security-Policy"), so it could never connect.
 */
export function checkedRelays(transport: TransportChoice, relays: readonly string[], advertised: readonly string[] = []): string[] {
  if (!TRANSPORTS.includes(transport)) throw new Error('unknown transport');
  const bad = relays.find((r) => !isRelayUrl(r));
  if (bad !== undefined) throw new Error(`Not a relay address (ws:// or wss://): ${bad}`);
  const plain = relays.find((r) => r.toLowerCase().startsWith('ws:') && !sameRelay(advertised, r));
  if (plain !== undefined) throw new Error(`${plain}: plain ws:// works only for your server’s own relays (the page may not open others). Use wss://.`);
  const seen = new Set<string>();
  return relays.filter((r) => !seen.has(normalize(r)) && !!seen.add(normalize(r)));
}

/** Whether two relay lists name the same relays, in any order or spelling (normal forms). */
export function sameRelaySet(a: readonly string[], b: readonly string[]): boolean {
  const key = (l: readonly string[]) => [...new Set(l.map(normalize))].sort().join(' ');
  return key(a) === key(b);
}

/** Whether `relay` is one of `list`, comparing nostr-tools' normal forms (SPEC §12). */
export function sameRelay(list: readonly string[], relay: string): boolean {
  const n = normalize(relay);
  return list.some((r) => normalize(r) === n);
}

/**
 * The thread's note for a peer on another server when messages go over
 * nostr (review r11 #6): a client publishes to its own relays only and the
 * peer's app reads its server's, which this page cannot learn (no kind 10002
 * lookup; another server's GET /v1/server is outside the CSP), so delivery
 * depends on sharing a relay. null when it does not apply.
 */
export function crossServerNote(peerFqhn: string | null | undefined, myServer: string, transport: TransportChoice, relays: readonly string[]): string | null {
  const at = peerFqhn?.lastIndexOf('@') ?? -1;
  if (!peerFqhn || at < 0 || transport === 'server') return null;
  const server = peerFqhn.slice(at + 1).toLowerCase();
  if (server === myServer.toLowerCase()) return null;
  const handle = peerFqhn.slice(0, at);
  const hosts = relays.map(relayLabel).join(', ') || 'none';
  const tail = transport === 'nostr' ? ' If your messages stay “sent”, add a relay you share in Settings → Delivery.' : '';
  return `${handle} is on ${server}. Over nostr your messages reach ${handle} only if their app reads one of your relays (${hosts}); their server’s relays are not known here.${tail}`;
}
