// X-Kez-Auth signed strings (SPEC §7.2).
import { signString } from './identity';
import { unixSeconds } from './time';

export function pollSignedString(handle: string, since: number, ts: number): string {
  return `GET\n/v1/inbox/${handle}\nsince=${Math.max(0, Math.trunc(since))}\n${ts}`;
}

export function streamSignedString(handle: string, ts: number): string {
  return `GET\n/v1/inbox/${handle}/stream\n${ts}`;
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
