// Handle registration envelope (SPEC §3, §4).
import { primaryFromSeed, signJcs } from './identity';
import { rfc3339 } from './time';

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
