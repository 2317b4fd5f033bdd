// Where a profile goes and comes from (SPEC §14): the home server
// (`PUT /v1/profile`, public `GET /v1/u/{handle}/profile`) and, when the
// identity's transport uses nostr, a NIP-01 kind 0 signed by the derived
// nostr key (§12) that embeds the signed document, published through the
// chat's transport (ChatStore.publishMetadata: NIP-42 AUTH, NIP-11 limits)
// and read with nostr-tools' pool by relayread.ts, loaded on first use.
import { MAX_PROFILE_BYTES, verifyProfile, type ProfileDocument, type ProfilePayload } from './document';

/** How long one profile request or relay query may take. */
export const TIMEOUT_MS = 8_000;

/** Thrown when the home server refuses a profile: `code` is its stable error code. */
export class ProfileError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
  ) {
    super(code);
    this.name = 'ProfileError';
  }
}

/** `PUT /v1/profile`; resolves with the stored `updated_at`. */
export async function putProfile(doc: ProfileDocument, fetchFn: typeof fetch = fetch): Promise<void> {
  let res: Response;
  try {
    res = await fetchFn('/v1/profile', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(doc),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new ProfileError(0, 'network');
  }
  if (!res.ok) {
    const b = (await res.json().catch(() => null)) as { error?: unknown } | null;
    throw new ProfileError(res.status, typeof b?.error === 'string' ? b.error : `http_${res.status}`);
  }
}

/**
 * `GET /v1/u/{handle}/profile` of a handle on this server, verified against
 * `primary`; null when there is none (404), it is too big, or it does not
 * verify (a server can serve anything). `fresh`: `cache: 'no-cache'`, the
 * browser revalidates its copy (`If-None-Match`, a 304 when unchanged)
 * instead of using it for up to `max-age` (SPEC §14.5, §14.7).
 */
export async function fetchServerProfile(
  handle: string,
  server: string,
  primary: string,
  fetchFn: typeof fetch = fetch,
  fresh = false,
): Promise<ProfilePayload | null> {
  let res: Response;
  try {
    const init: RequestInit = { signal: AbortSignal.timeout(TIMEOUT_MS) };
    if (fresh) init.cache = 'no-cache';
    res = await fetchFn(`/v1/u/${encodeURIComponent(handle)}/profile`, init);
  } catch {
    throw new ProfileError(0, 'network');
  }
  if (res.status === 404) return null;
  if (!res.ok) throw new ProfileError(res.status, `http_${res.status}`);
  if (Number(res.headers.get('Content-Length') ?? 0) > MAX_PROFILE_BYTES) return null;
  const text = await res.text();
  if (text.length > MAX_PROFILE_BYTES) return null;
  try {
    return verifyProfile(JSON.parse(text), primary, { handle, server });
  } catch (e) {
    console.debug('a served profile did not verify:', (e as Error).message);
    return null;
  }
}

/**
 * The kind 0 `content` object of a profile (SPEC §14.6); the transport sends
 * its JCS. No outer `picture`: the picture is inside `kez_profile` already,
 * and twice would double an event that must fit relays' max_message_length.
 */
export function metadataContent(doc: ProfileDocument): Record<string, unknown> {
  const p = doc.payload;
  return { name: `${p.handle}@${p.server}`, display_name: p.display_name, kez_profile: doc };
}

/** Who a profile must name (SPEC §14.4 reader checks); undefined when the peer's handle is not known. */
export type Expected = { handle: string; server: string } | undefined;

/** The newest verified profile of `primary` among the relays' kind 0 events, or null (relayread.ts, loaded on first use). */
export async function fetchNostrProfile(relays: string[], primary: string, expected?: Expected): Promise<ProfilePayload | null> {
  if (!relays.length) return null;
  return (await import('./relayread')).fetchNostrProfile(relays, primary, expected);
}

/** The newest of some verified payloads by `updated_at` (RFC 3339 Z sorts as text). */
export function newest(list: (ProfilePayload | null)[]): ProfilePayload | null {
  let best: ProfilePayload | null = null;
  for (const p of list) if (p && (!best || p.updated_at > best.updated_at)) best = p;
  return best;
}
