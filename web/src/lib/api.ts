// HTTP client for the home server (same origin). Every server error body is
// `{"error": code, "message": text}`; ApiError carries the code and a plain
// sentence for the UI (see friendly()).
import type { RegistrationEnvelope } from './registration';
import type { EnvelopeV2 } from './envelope';
import { ServerClock } from './time';

export interface LookupRecord {
  handle: string;
  fqhn: string;
  primary: string;
  sigchain_url?: string;
  registered_at: string;
}

export interface InboxItem {
  seq: number;
  id: string;
  envelope: unknown;
  received_at: string;
}

export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    public readonly serverMessage: string,
    public readonly retryAfter?: number,
  ) {
    super(friendly(code, status));
    this.name = 'ApiError';
  }
}

const GENERIC_BUG = 'Something went wrong preparing your request. Please reload the page and try again.';

const MESSAGES: Record<string, string> = {
  network: 'Can’t reach the server. Check your connection and try again.',
  // registration (SPEC §4)
  handle_taken: 'Someone already has that handle. Try another one.',
  primary_taken: 'This identity already has a handle on this server.',
  reserved_handle: 'That handle is reserved. Please pick another one.',
  invalid_handle: 'Handles are 3–32 characters: lower-case letters, digits, “_” and “-”, starting with a letter or digit.',
  stale_timestamp: 'Your device clock is more than 5 minutes off. Set the correct time and try again.',
  invalid_timestamp: GENERIC_BUG,
  wrong_server: 'This server’s name has changed. Reload the page and try again.',
  invalid_signature: 'The server couldn’t verify your signature. Reload the page and try again.',
  key_mismatch: GENERIC_BUG,
  invalid_key: 'That identity key isn’t valid.',
  unsupported_alg: GENERIC_BUG,
  unsupported_version: 'This app is out of date with the server. Reload the page to update it.',
  wrong_payload_type: GENERIC_BUG,
  wrong_envelope_tag: GENERIC_BUG,
  invalid_body: GENERIC_BUG,
  unsafe_number: GENERIC_BUG,
  invalid_json: GENERIC_BUG,
  unsupported_media_type: GENERIC_BUG,
  payload_too_large: 'That’s too large to send.',
  rate_limited: 'Too many attempts in a short time. Wait a minute and try again.',
  // lookup / messages (SPEC §5, §7)
  not_found: 'Nobody is registered with that handle on this server.',
  unknown_recipient: 'That person isn’t registered on this server any more.',
  foreign_recipient: 'Chatting with people on other servers isn’t supported yet.',
  invalid_message_id: GENERIC_BUG,
  mailbox_full: 'Their inbox is full right now. Try again later.',
  storage_full: 'The server is out of space right now. Try again later.',
  database_unavailable: 'The server can’t reach its database right now. Try again in a moment.',
  // inbox auth (SPEC §7.2)
  missing_auth: GENERIC_BUG,
  malformed_auth: GENERIC_BUG,
  stale_auth: 'Your device clock is more than 5 minutes off. Set the correct time to receive messages.',
  bad_signature: 'The server didn’t accept this device’s signature for your inbox.',
  internal: 'The server had a problem. Try again in a moment.',
  // push subscriptions (SPEC §10)
  invalid_endpoint: 'The server didn’t accept this browser’s push address.',
  invalid_keys: 'The server didn’t accept this browser’s push keys.',
  invalid_query: GENERIC_BUG,
};

/** A plain sentence for an error code. */
export function friendly(code: string, status = 0): string {
  if (MESSAGES[code]) return MESSAGES[code];
  if (status >= 500) return MESSAGES.internal;
  return `The server refused the request (${code}). Please try again.`;
}

const TIMEOUT_MS = 20_000;

/** Device time corrected by the server's `Date` headers (see ServerClock). */
export const serverClock = new ServerClock();

/** Now, by the server's clock as far as we know it: for auth `ts` and `sent_at`. */
export const serverNow = (): Date => serverClock.now();

async function request<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  let res: Response;
  const sentAt = Date.now();
  try {
    res = await fetch(path, {
      ...init,
      headers: { Accept: 'application/json', ...(init.headers ?? {}) },
      // A hung request must not stall the inbox queue forever.
      signal: init.signal ?? AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new ApiError(0, 'network', 'network error');
  }
  // Error responses count too: a 401 stale_auth is exactly when it matters.
  // A cached copy (`Age`) carries an old Date.
  if (!res.headers.has('Age')) serverClock.observe(res.headers.get('Date'), sentAt, Date.now());
  let body: unknown = null;
  const text = await res.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const b = (body ?? {}) as { error?: unknown; message?: unknown };
    const code = typeof b.error === 'string' ? b.error : res.status >= 500 ? 'internal' : `http_${res.status}`;
    const ra = Number(res.headers.get('Retry-After'));
    throw new ApiError(res.status, code, typeof b.message === 'string' ? b.message : '', Number.isFinite(ra) ? ra : undefined);
  }
  return { status: res.status, body: body as T };
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});

export interface ServerInfo {
  server: string;
  /** false when the server couldn't be reached and `server` is only a guess. */
  reachable: boolean;
}

/**
 * The home server's domain (what goes into `payload.server`). Read from
 * `GET /v1/healthz`'s `server` field; falls back to the page's host name.
 */
export async function serverInfo(): Promise<ServerInfo> {
  try {
    const { body } = await request<{ server?: unknown }>('/v1/healthz');
    if (body && typeof body.server === 'string' && body.server) return { server: body.server, reachable: true };
  } catch {
    /* fall through */
  }
  return { server: location.hostname, reachable: false };
}

/** The discovery document (SPEC §12 `GET /v1/server`): which transports and relays the server offers. */
export interface Discovery {
  transports: string[];
  nostr_relays: string[];
}

/** `GET /v1/server`; throws ApiError when the server can't be reached or answers nonsense. */
export async function discovery(): Promise<Discovery> {
  // Short: the chat waits for it at start, and a hung server must not hold that up.
  const { body } = await request<{ transports?: unknown; nostr_relays?: unknown }>('/v1/server', { signal: AbortSignal.timeout(3_000) });
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null);
  const transports = strings(body?.transports);
  const relays = strings(body?.nostr_relays);
  if (!transports || !relays) throw new ApiError(0, 'invalid_response', 'not a discovery document');
  return { transports, nostr_relays: relays };
}

export async function register(env: RegistrationEnvelope): Promise<LookupRecord> {
  return (await request<LookupRecord>('/v1/register', json(env))).body;
}

export async function lookupHandle(handle: string): Promise<LookupRecord> {
  return (await request<LookupRecord>(`/v1/u/${encodeURIComponent(handle)}`)).body;
}

export async function lookupPrimary(primary: string): Promise<LookupRecord> {
  return (await request<LookupRecord>(`/v1/by-primary/${encodeURIComponent(primary)}`)).body;
}

/**
 * Post a sealed message. `notify: false` skips the recipient's Web Push
 * (SPEC §7.1): delivery receipts use it so reading never buzzes a phone.
 * It also goes in the query (`?notify=false`), which the server reads
 * before the body to take the token from the silent posts' own per-IP
 * bucket (SPEC §7.5), so receipts and file chunks never use up the texts'.
 */
export async function postMessage(
  to: string,
  id: string,
  envelope: EnvelopeV2,
  opts: { notify?: boolean; keepalive?: boolean } = {},
): Promise<{ status: number; seq: number; received_at: string }> {
  const payload = opts.notify === false ? { to, id, envelope, notify: false } : { to, id, envelope };
  const path = opts.notify === false ? '/v1/messages?notify=false' : '/v1/messages';
  // keepalive: the post outlives a page being closed (the body must stay under 64 KiB: only the small own `read`, SPEC §8.6).
  const init = opts.keepalive ? { ...json(payload), keepalive: true } : json(payload);
  const { status, body } = await request<{ seq: number; received_at: string }>(path, init);
  return { status, ...body };
}

/**
 * An ephemeral post (SPEC §7.7): live streams only, never stored; 202 whether
 * or not anyone listened. Its own per-IP bucket (`?ephemeral=true`).
 */
export async function postEphemeral(to: string, id: string, envelope: EnvelopeV2): Promise<void> {
  await request<{ accepted: boolean }>('/v1/messages?ephemeral=true', json({ to, id, envelope, ephemeral: true }));
}

/** A poll answer (SPEC §7.3). */
export interface PollPage {
  messages: InboxItem[];
  next: number | null;
  /** The mailbox's highest seq ever; a cursor above it is ahead (rewind). */
  newest: number;
  /**
   * How full the mailbox is, 0..=100: the larger of its message and byte
   * quota use. Clients release what they stored only under pressure (§7.5).
   */
  used_percent: number;
}

export async function pollInbox(
  handle: string,
  since: number,
  auth: string,
): Promise<PollPage> {
  const q = since > 0 ? `?since=${since}` : '?since=0';
  return (
    await request<PollPage>(`/v1/inbox/${encodeURIComponent(handle)}${q}`, {
      headers: { 'X-Kez-Auth': auth },
    })
  ).body;
}

/** Deletes the handle's stored messages up to `through` (SPEC §7.5): its devices have them. */
export async function releaseInbox(handle: string, through: number, auth: string): Promise<{ deleted: number }> {
  const q = `?through=${Math.max(0, Math.trunc(through))}`;
  return (
    await request<{ deleted: number }>(`/v1/inbox/${encodeURIComponent(handle)}${q}`, {
      method: 'DELETE',
      headers: { 'X-Kez-Auth': auth },
    })
  ).body;
}

export function streamUrl(handle: string, auth: string, since: number): string {
  const p = new URLSearchParams({ auth });
  if (since > 0) p.set('since', String(since));
  return `/v1/inbox/${encodeURIComponent(handle)}/stream?${p}`;
}

// ---- Web Push (SPEC §10) ----------------------------------------------------

/** The subscription as the server wants it: `PushSubscription.toJSON()` plus the handle. */
export interface PushSubscriptionBody {
  handle: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  expirationTime?: number | null;
}

/** The server's VAPID public key (base64url, 65-byte uncompressed P-256 point). */
export async function vapidPublicKey(): Promise<string> {
  const { body } = await request<{ key?: unknown }>('/v1/push/vapid-public-key');
  if (!body || typeof body.key !== 'string' || !body.key) throw new ApiError(0, 'invalid_response', 'no key');
  return body.key;
}

/** 201 new / 200 refreshed. */
export async function pushSubscribe(sub: PushSubscriptionBody, auth: string): Promise<{ status: number }> {
  const init = json(sub);
  const { status } = await request<unknown>('/v1/push/subscriptions', {
    ...init,
    headers: { ...(init.headers as Record<string, string>), 'X-Kez-Auth': auth },
  });
  return { status };
}

/** 204 whether or not the server had it. */
export async function pushUnsubscribe(handle: string, endpoint: string, auth: string): Promise<void> {
  await request<unknown>('/v1/push/subscriptions', {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json', 'X-Kez-Auth': auth },
    body: JSON.stringify({ handle, endpoint }),
  });
}

/** Self-heal: does the server still hold this endpoint for the handle? */
export async function pushCheck(handle: string, endpoint: string, auth: string): Promise<boolean> {
  const q = new URLSearchParams({ endpoint });
  const { body } = await request<{ subscribed?: unknown }>(`/v1/push/subscriptions/${encodeURIComponent(handle)}?${q}`, {
    headers: { 'X-Kez-Auth': auth },
  });
  return body?.subscribed === true;
}
