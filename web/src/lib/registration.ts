// Handle registration envelope (SPEC §3, §4).
import { isValidPrimary, primaryFromSeed, signJcs, verifyJcs } from './identity';
import { parseRfc3339, rfc3339 } from './time';

export const RESERVED_HANDLES: ReadonlySet<string> = new Set(
  `abuse about account accounts admin administrator api app help hostmaster
info kez mail mailer-daemon moderator noc nobody noreply no-reply null
owner postmaster privacy root security server settings signup status
support sysadmin system test undefined webmaster www`.split(/\s+/),
);

const HANDLE_RE = /^[a-z0-9][a-z0-9_-]{2,31}$/;

export function isValidHandleSyntax(handle: string): boolean {
  return HANDLE_RE.test(handle);
}

/** A friendly sentence explaining why `handle` can't be registered, or null. */
export function handleProblem(handle: string): string | null {
  if (handle.length === 0) return 'Pick a handle.';
  if (/[A-Z]/.test(handle)) return `Handles are lower case — try “${handle.toLowerCase()}”.`;
  if (handle.length < 3) return 'Handles are at least 3 characters long.';
  if (handle.length > 32) return 'Handles are at most 32 characters long.';
  if (!/^[a-z0-9]/.test(handle)) return 'Start your handle with a letter or a digit.';
  if (!HANDLE_RE.test(handle)) return 'Use only lower-case letters, digits, “_” and “-”.';
  if (RESERVED_HANDLES.has(handle)) return 'That handle is reserved. Please pick another one.';
  return null;
}

export interface RegistrationPayload {
  type: 'kez.chat.handle_registration';
  version: 1;
  handle: string;
  primary: string;
  server: string;
  created_at: string;
}

export interface RegistrationEnvelope {
  kez: 'handle_registration';
  payload: RegistrationPayload;
  signature: { alg: 'ed25519-sha512-jcs'; key: string; sig: string };
}

export function buildRegistration(
  seed: Uint8Array,
  handle: string,
  server: string,
  now: Date = new Date(),
): RegistrationEnvelope {
  const primary = primaryFromSeed(seed);
  const payload: RegistrationPayload = {
    type: 'kez.chat.handle_registration',
    version: 1,
    handle,
    primary,
    server,
    created_at: rfc3339(now),
  };
  return {
    kez: 'handle_registration',
    payload,
    signature: { alg: 'ed25519-sha512-jcs', key: primary, sig: signJcs(seed, payload) },
  };
}

/**
 * The SPEC §4 checks 1–7 a server applies to a parsed registration envelope
 * (not the transport checks of step 0 nor the database ones). Returns "ok" or
 * the error code. Used by the tests against tests/vectors/registration.json.
 */
export function checkRegistration(env: RegistrationEnvelope, server: string, now: Date): string {
  const p = env.payload;
  if (env.kez !== 'handle_registration') return 'wrong_envelope_tag';
  if (p.type !== 'kez.chat.handle_registration') return 'wrong_payload_type';
  if (p.version !== 1) return 'unsupported_version';
  if (env.signature.key !== p.primary) return 'key_mismatch';
  if (env.signature.alg !== 'ed25519-sha512-jcs') return 'unsupported_alg';
  if (!isValidPrimary(p.primary)) return 'invalid_key';
  if (!/^[0-9a-f]{128}$/.test(env.signature.sig) || !verifyJcs(env.signature.sig, p, p.primary)) return 'invalid_signature';
  if (p.server !== server) return 'wrong_server';
  if (!isValidHandleSyntax(p.handle)) return 'invalid_handle';
  if (RESERVED_HANDLES.has(p.handle)) return 'reserved_handle';
  const t = parseRfc3339(p.created_at);
  if (Number.isNaN(t)) return 'invalid_timestamp';
  if (Math.abs(t - now.getTime()) > 5 * 60 * 1000) return 'stale_timestamp';
  return 'ok';
}
