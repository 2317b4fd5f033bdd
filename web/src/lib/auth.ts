// X-Kez-Auth signed strings (SPEC §7.2).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from './bytes';
import { signString } from './identity';
import { unixSeconds } from './time';

export function pollSignedString(handle: string, since: number, ts: number): string {
  return `GET\n/v1/inbox/${handle}\nsince=${Math.max(0, Math.trunc(since))}\n${ts}`;
}

export function streamSignedString(handle: string, ts: number): string {
  return `GET\n/v1/inbox/${handle}/stream\n${ts}`;
}

export function releaseSignedString(handle: string, through: number, ts: number): string {
  return `DELETE\n/v1/inbox/${handle}\nthrough=${Math.max(0, Math.trunc(through))}\n${ts}`;
}

/** `<ts>:<sig>` for releasing `DELETE /v1/inbox/{handle}?through=n` (SPEC §7.5). */
export function releaseAuth(seed: Uint8Array, handle: string, through: number, now = new Date()): string {
  const ts = unixSeconds(now);
  return `${ts}:${signString(seed, releaseSignedString(handle, through, ts))}`;
}

/** `<ts>:<sig>` for polling `GET /v1/inbox/{handle}?since=n`. */
export function pollAuth(seed: Uint8Array, handle: string, since: number, now = new Date()): string {
  const ts = unixSeconds(now);
  return `${ts}:${signString(seed, pollSignedString(handle, since, ts))}`;
}

/** `<ts>:<sig>` for the SSE stream (`?auth=`). */
export function streamAuth(seed: Uint8Array, handle: string, now = new Date()): string {
  const ts = unixSeconds(now);
  return `${ts}:${signString(seed, streamSignedString(handle, ts))}`;
}

// ---- Web Push subscriptions (SPEC §10) -------------------------------------
// The endpoint URL is bound by its SHA-256 (lowercase hex of its UTF-8), so the
// signed string stays short whatever the push service's URL looks like.

/** Lowercase hex SHA-256 of the endpoint's UTF-8. */
export function endpointHash(endpoint: string): string {
  return bytesToHex(sha256(utf8ToBytes(endpoint)));
}

/** Signed string of `POST /v1/push/subscriptions`. */
export function pushSubscribeSignedString(handle: string, endpoint: string, ts: number): string {
  return `POST\n/v1/push/subscriptions\n${handle}\n${endpointHash(endpoint)}\n${ts}`;
}

/** Signed string of `DELETE /v1/push/subscriptions`. */
export function pushUnsubscribeSignedString(handle: string, endpoint: string, ts: number): string {
  return `DELETE\n/v1/push/subscriptions\n${handle}\n${endpointHash(endpoint)}\n${ts}`;
}

/** Signed string of `GET /v1/push/subscriptions/<handle>?endpoint=…` (self-heal check). */
export function pushCheckSignedString(handle: string, endpoint: string, ts: number): string {
  return `GET\n/v1/push/subscriptions/${handle}\n${endpointHash(endpoint)}\n${ts}`;
}

export type PushAuthKind = 'subscribe' | 'unsubscribe' | 'check';

const PUSH_STRINGS: Record<PushAuthKind, (handle: string, endpoint: string, ts: number) => string> = {
  subscribe: pushSubscribeSignedString,
  unsubscribe: pushUnsubscribeSignedString,
  check: pushCheckSignedString,
};

/** `<ts>:<sig>` (X-Kez-Auth) for one of the push subscription requests. */
export function pushAuth(
  sign: (text: string) => string,
  kind: PushAuthKind,
  handle: string,
  endpoint: string,
  now = new Date(),
): string {
  const ts = unixSeconds(now);
  return `${ts}:${sign(PUSH_STRINGS[kind](handle, endpoint, ts))}`;
}
