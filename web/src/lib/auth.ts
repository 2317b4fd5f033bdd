// X-Kez-Auth signed strings (SPEC §7.2, §10.2), version 2: they name the server.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from './bytes';
import { signString } from './identity';
import { unixSeconds } from './time';

/**
 * First line of every signed request string (SPEC §7.2). The second line is
 * the server's name (`payload.server` at registration), so a credential made
 * for one server never verifies on another.
 */
export const REQUEST_TAG = 'kez.chat.req.v2';

/** `kez.chat.req.v2\n<server>\n<fields…>\n<ts>`, the shape every signed string shares. */
function requestString(server: string, fields: string[], ts: number): string {
  return [REQUEST_TAG, server, ...fields, String(ts)].join('\n');
}

export function pollSignedString(server: string, handle: string, since: number, ts: number): string {
  return requestString(server, ['GET', `/v1/inbox/${handle}`, `since=${Math.max(0, Math.trunc(since))}`], ts);
}

export function streamSignedString(server: string, handle: string, ts: number): string {
  return requestString(server, ['GET', `/v1/inbox/${handle}/stream`], ts);
}

export function releaseSignedString(server: string, handle: string, through: number, ts: number): string {
  return requestString(server, ['DELETE', `/v1/inbox/${handle}`, `through=${Math.max(0, Math.trunc(through))}`], ts);
}

/** `<ts>:<sig>` for releasing `DELETE /v1/inbox/{handle}?through=n` on `server` (SPEC §7.5). */
export function releaseAuth(seed: Uint8Array, server: string, handle: string, through: number, now = new Date()): string {
  const ts = unixSeconds(now);
  return `${ts}:${signString(seed, releaseSignedString(server, handle, through, ts))}`;
}

/** `<ts>:<sig>` for polling `GET /v1/inbox/{handle}?since=n` on `server`. */
export function pollAuth(seed: Uint8Array, server: string, handle: string, since: number, now = new Date()): string {
  const ts = unixSeconds(now);
  return `${ts}:${signString(seed, pollSignedString(server, handle, since, ts))}`;
}

/** `<ts>:<sig>` for the SSE stream (`?auth=`) on `server`. */
export function streamAuth(seed: Uint8Array, server: string, handle: string, now = new Date()): string {
  const ts = unixSeconds(now);
  return `${ts}:${signString(seed, streamSignedString(server, handle, ts))}`;
}

// ---- Web Push subscriptions (SPEC §10) -------------------------------------
// The endpoint URL is bound by its SHA-256 (lowercase hex of its UTF-8), so the
// signed string stays short whatever the push service's URL looks like.

/** Lowercase hex SHA-256 of the endpoint's UTF-8. */
export function endpointHash(endpoint: string): string {
  return bytesToHex(sha256(utf8ToBytes(endpoint)));
}

/** Signed string of `POST /v1/push/subscriptions`. */
export function pushSubscribeSignedString(server: string, handle: string, endpoint: string, ts: number): string {
  return requestString(server, ['POST', '/v1/push/subscriptions', handle, endpointHash(endpoint)], ts);
}

/** Signed string of `DELETE /v1/push/subscriptions`. */
export function pushUnsubscribeSignedString(server: string, handle: string, endpoint: string, ts: number): string {
  return requestString(server, ['DELETE', '/v1/push/subscriptions', handle, endpointHash(endpoint)], ts);
}

/** Signed string of `GET /v1/push/subscriptions/<handle>?endpoint=…` (self-heal check). */
export function pushCheckSignedString(server: string, handle: string, endpoint: string, ts: number): string {
  return requestString(server, ['GET', `/v1/push/subscriptions/${handle}`, endpointHash(endpoint)], ts);
}

export type PushAuthKind = 'subscribe' | 'unsubscribe' | 'check';

const PUSH_STRINGS: Record<PushAuthKind, (server: string, handle: string, endpoint: string, ts: number) => string> = {
  subscribe: pushSubscribeSignedString,
  unsubscribe: pushUnsubscribeSignedString,
  check: pushCheckSignedString,
};

/** `<ts>:<sig>` (X-Kez-Auth) for one of the push subscription requests on `server`. */
export function pushAuth(
  sign: (text: string) => string,
  kind: PushAuthKind,
  server: string,
  handle: string,
  endpoint: string,
  now = new Date(),
): string {
  const ts = unixSeconds(now);
  return `${ts}:${sign(PUSH_STRINGS[kind](server, handle, endpoint, ts))}`;
}
