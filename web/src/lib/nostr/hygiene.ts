// Relay hygiene (SPEC §12 "Relay hygiene"): the pure decisions. NIP-42 AUTH
// on the reading connection and the NIP-65 relay list / kind 0 are signed by
// the identity's derived nostr key (keys.ts), never by a one-time key; NIP-11 limits decide which
// relays may take an event; the peer's last relay is tried first.
import { finalizeEvent, type Event, type EventTemplate, type VerifiedEvent } from 'nostr-tools/pure';
import { makeAuthEvent } from 'nostr-tools/nip42';
import { utf8ToBytes } from '../bytes';
import { jcs } from '../jcs';
import { addr } from './keys';
import { normalize } from './bookkeeping';

/** NIP-65 relay list. */
export const KIND_RELAY_LIST = 10002;
/** NIP-01 user metadata. */
export const KIND_METADATA = 0;
/** NIP-42 client authentication. */
export const KIND_AUTH = 22242;
/** A NIP-11 document larger than this (bytes) is ignored, like one that could not be fetched. */
export const MAX_INFO_BYTES = 65_536;

/** A NIP-42 signer for nostr-tools: the template signed by `secretKey` (the derived key). */
export function authSigner(secretKey: Uint8Array): (t: EventTemplate) => Promise<VerifiedEvent> {
  return (t) => Promise.resolve(finalizeEvent(t, secretKey));
}

/** The kind 22242 AUTH event answering `challenge` from `relay`, signed by the derived key (NIP-42). */
export function buildAuthEvent(relay: string, challenge: string, secretKey: Uint8Array, createdAt?: number): Event {
  const t = makeAuthEvent(relay, challenge);
  return plain(finalizeEvent(createdAt === undefined ? t : { ...t, created_at: createdAt }, secretKey));
}

/**
 * The NIP-11 document's URL for a relay URL: ws → http, wss → https, same
 * host, port and path (the document is served on the relay's own URI).
 * null for anything else.
 */
export function relayInfoUrl(relay: string): string | null {
  try {
    const u = new URL(relay);
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') return null;
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
    return u.toString();
  } catch {
    return null;
  }
}

/** `limitation.max_message_length` of a NIP-11 document: a positive safe integer, else null (no known limit). */
export function maxMessageLength(doc: unknown): number | null {
  const lim = (doc as { limitation?: { max_message_length?: unknown } } | null)?.limitation;
  const n = lim && typeof lim === 'object' ? lim.max_message_length : undefined;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Bytes of `["EVENT",<event>]` as sent (UTF-8), what NIP-11's max_message_length measures. */
export function eventMessageBytes(event: Event): number {
  return utf8ToBytes(JSON.stringify(['EVENT', plain(event)])).length;
}

/**
 * Which relays may take `event`: those with no known limit (the relay's own
 * answer decides) or a limit at least the message's length; the rest are
 * `tooLarge` and never get it. Order kept.
 */
export function relaysFor(event: Event, relays: readonly string[], limits: ReadonlyMap<string, number>): { fit: string[]; tooLarge: string[] } {
  const size = eventMessageBytes(event);
  const fit: string[] = [];
  const tooLarge: string[] = [];
  for (const r of relays) {
    const limit = limits.get(r) ?? limits.get(normalize(r));
    (limit !== undefined && size > limit ? tooLarge : fit).push(r);
  }
  return { fit, tooLarge };
}

/** `relays` with `preferred` (the relay the peer's last event came from) first, when it is one of them. */
export function preferFirst(relays: readonly string[], preferred: string | null | undefined): string[] {
  if (!preferred || !relays.includes(preferred)) return [...relays];
  return [preferred, ...relays.filter((r) => r !== preferred)];
}

/** A NIP-65 relay list (kind 10002): one `["r", url]` per relay (read and write), empty content. */
export function buildRelayListEvent(relays: readonly string[], secretKey: Uint8Array, createdAt: number): Event {
  const tags = [...new Set(relays)].map((r) => ['r', r]);
  return plain(finalizeEvent({ kind: KIND_RELAY_LIST, created_at: createdAt, tags, content: '' }, secretKey));
}

/**
 * The profile kind 0 (SPEC §14.6): `content` = the JCS text of `content`,
 * tagged `["q", addr(primary)]` so readers find it by addr. Public on the
 * relays: it maps the addr to the handle (§12 "What it hides").
 */
export function buildMetadataEvent(content: Record<string, unknown>, primary: string, secretKey: Uint8Array, createdAt: number): Event {
  return plain(finalizeEvent({ kind: KIND_METADATA, created_at: createdAt, tags: [['q', addr(primary)]], content: jcs(content) }, secretKey));
}

/**
 * The minimal kind 0 of first unlock (SPEC §12): content `{}`, no tags. It
 * names no handle and carries no `q` tag, so it ties the derived key to
 * nothing (review r11 #2: `{"name":"<handle@server>"}` tagged with the addr
 * let anyone map an addr to its handle from the relays). Only a profile the
 * user sets publishes the §14.6 kind 0, which does reveal it.
 */
export function buildMinimalMetadataEvent(secretKey: Uint8Array, createdAt: number): Event {
  return plain(finalizeEvent({ kind: KIND_METADATA, created_at: createdAt, tags: [], content: '{}' }, secretKey));
}

/** The relay set an announcement was made for, as one string (sorted, deduplicated). */
export function relaySetKey(relays: readonly string[]): string {
  return [...new Set(relays)].sort().join(' ');
}

function plain(e: Event): Event {
  const { id, pubkey, created_at, kind, tags, content, sig } = e;
  return { id, pubkey, created_at, kind, tags, content, sig };
}
