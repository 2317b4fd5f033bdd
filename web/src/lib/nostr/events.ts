// KEZ nostr events (SPEC §12): kind 4243 (may push) and 4244 (silent: acks,
// file chunks, missing-chunk requests) carrying an envelope v2, signed by a
// one-time key, and the receiver's checks. Built on nostr-tools (NIP-01 id,
// BIP-340 via @noble/curves).
import { sha256 } from '@noble/hashes/sha2.js';
import { finalizeEvent, generateSecretKey, verifyEvent, type Event } from 'nostr-tools/pure';
import { bytesToHex, utf8ToBytes } from '../bytes';
import { jcs } from '../jcs';
import { LOOKBACK_SECS } from './bookkeeping';
import { KIND_ACK, KIND_EPHEMERAL, KIND_MESSAGE, KIND_SILENT } from './kinds';

export { eventKindFor, KIND_ACK, KIND_EPHEMERAL, KIND_MESSAGE, KIND_SILENT } from './kinds';

/** Events dated more than this many seconds ahead of now are refused. */
export const MAX_FUTURE_SECS = 300;
/** Events older than this many seconds are refused (48 h); also the expiration offset. */
export { LOOKBACK_SECS };

/** Why an event was refused, in the order the checks run (SPEC §12). */
export type RejectReason = 'wrong_kind' | 'bad_route' | 'future' | 'stale' | 'bad_id' | 'bad_signature';
export type KezEventVerdict = { ok: true; addr: string } | { ok: false; reason: RejectReason };

const ADDR_RE = /^[0-9a-f]{64}$/;

/** created_at (unix s) is at most 300 s ahead of and 48 h behind now (unix s), bounds inclusive. */
export function isFresh(createdAt: number, now: number): boolean {
  return createdAt - now <= MAX_FUTURE_SECS && now - createdAt <= LOOKBACK_SECS;
}

/**
 * An ephemeral event's NIP-40 expiration (SPEC §8.6): relays that ignore the
 * ephemeral range and store it anyway (nostr-relay 1.14 does) drop it soon.
 */
export const EPHEMERAL_TTL_SECS = 60;

/**
 * The tags of a KEZ event: [["q", addr], ["expiration", "<createdAt + 172800>"]]
 * (NIP-40); `createdAt + 60` for the ephemeral kind 24244.
 */
export function kezTags(routeAddr: string, createdAt: number, ttl = LOOKBACK_SECS): string[][] {
  return [
    ['q', routeAddr],
    ['expiration', String(createdAt + ttl)],
  ];
}

/** The seven NIP-01 fields only (no symbol-keyed "verified" cache, no extras). */
function plainEvent(e: Event): Event {
  const { id, pubkey, created_at, kind, tags, content, sig } = e;
  return { id, pubkey, created_at, kind, tags, content, sig };
}

/**
 * A KEZ event of `kind` (see eventKindFor) carrying `envelope`, routed to
 * `routeAddr`, signed by `oneTimeKey` (default: a fresh random key).
 */
export function buildKezEvent(kind: number, envelope: unknown, routeAddr: string, createdAt: number, oneTimeKey?: Uint8Array): Event {
  if (kind !== KIND_MESSAGE && kind !== KIND_SILENT && kind !== KIND_EPHEMERAL) throw new Error('kind must be 4243, 4244 or 24244');
  if (!ADDR_RE.test(routeAddr)) throw new Error('addr must be 64 lowercase hex');
  if (!Number.isSafeInteger(createdAt) || createdAt < 0) throw new Error('created_at must be unix seconds');
  // Fresh per event unless a caller (tests) passes one; never the derived key.
  const sk = oneTimeKey ?? generateSecretKey();
  const ev = finalizeEvent({ kind, created_at: createdAt, tags: kezTags(routeAddr, createdAt, kind === KIND_EPHEMERAL ? EPHEMERAL_TTL_SECS : LOOKBACK_SECS), content: jcs(envelope) }, sk);
  // A plain object: finalizeEvent marks its result "verified" with a symbol.
  return plainEvent(ev);
}

/**
 * A kind 4243 message event: `content` = the JCS text of the envelope v2
 * object as posted to the server, routed to the recipient's addr, signed by
 * `oneTimeKey` (default: a fresh random key).
 */
export function buildMessageEvent(envelope: unknown, recipientAddr: string, createdAt: number, oneTimeKey?: Uint8Array): Event {
  return buildKezEvent(KIND_MESSAGE, envelope, recipientAddr, createdAt, oneTimeKey);
}

/** A kind 4244 ack event: the envelope of the §8.1 receipt, routed to the original sender's addr. */
export function buildAckEvent(envelope: unknown, senderAddr: string, createdAt: number, oneTimeKey?: Uint8Array): Event {
  return buildKezEvent(KIND_ACK, envelope, senderAddr, createdAt, oneTimeKey);
}

/** NIP-01 id: hex SHA-256 of JSON [0,pubkey,created_at,kind,tags,content] (no whitespace). */
export function eventId(e: Pick<Event, 'pubkey' | 'created_at' | 'kind' | 'tags' | 'content'>): string {
  return bytesToHex(sha256(utf8ToBytes(JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content]))));
}

/**
 * The SPEC §12 checks, in order: kind, first `q` tag (64 lowercase hex),
 * freshness at `now` (unix s), NIP-01 id, BIP-340 signature. The caller then
 * compares `addr` with the addrs it serves and drops seen event ids.
 */
export function verifyKezEvent(event: Event, now: number): KezEventVerdict {
  if (event.kind !== KIND_MESSAGE && event.kind !== KIND_ACK && event.kind !== KIND_EPHEMERAL) return { ok: false, reason: 'wrong_kind' };
  const q = Array.isArray(event.tags) ? event.tags.find((t) => Array.isArray(t) && t[0] === 'q') : undefined;
  const route = q?.[1];
  if (typeof route !== 'string' || !ADDR_RE.test(route)) return { ok: false, reason: 'bad_route' };
  if (!Number.isSafeInteger(event.created_at)) return { ok: false, reason: 'bad_id' };
  if (event.created_at - now > MAX_FUTURE_SECS) return { ok: false, reason: 'future' };
  if (now - event.created_at > LOOKBACK_SECS) return { ok: false, reason: 'stale' };
  // A plain copy, so a cached "verified" mark on the object cannot vouch for it.
  const plain = plainEvent(event);
  if (typeof plain.content !== 'string' || typeof plain.pubkey !== 'string' || eventId(plain) !== plain.id)
    return { ok: false, reason: 'bad_id' };
  if (!/^[0-9a-f]{128}$/.test(plain.sig) || !verifyEvent(plain)) return { ok: false, reason: 'bad_signature' };
  return { ok: true, addr: route };
}
