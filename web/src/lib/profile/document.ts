// The signed profile document (SPEC §14): display name, picture and key
// wraps, signed like a registration (§2 `ed25519-sha512-jcs`, §4 envelope)
// so a reader can trust a copy from any server or relay once it verifies
// against the primary it already knows.
import { isValidHandleSyntax } from '../registration';
import { isValidPrimary, primaryFromSeed, signJcs, verifyJcs } from '../identity';
import { isStrictUtcSeconds, MAX_SKEW_MS } from '../envelope';
import { stripSpoofChars } from '../spoof';
import { parsePicture } from './visual';
import { MAX_WRAPS, type KeyWrap } from './wrap';

/** Most bytes of a whole profile document (the server's PUT limit). */
export const MAX_PROFILE_BYTES = 256 * 1024;
/** Most characters of a display name. */
export const MAX_DISPLAY_NAME = 64;
/** Most base64 characters of a picture data URL's payload (SPEC §14: 200 KiB). */
export const MAX_PICTURE_B64 = 200 * 1024;

export interface ProfilePayload {
  type: 'kez.chat.profile';
  version: 1;
  handle: string;
  server: string;
  primary: string;
  display_name: string | null;
  picture: string | null;
  visual_keys: KeyWrap[];
  updated_at: string;
}

export interface ProfileDocument {
  kez: 'profile';
  payload: ProfilePayload;
  signature: { alg: 'ed25519-sha512-jcs'; key: string; sig: string };
}

export type ProfileFields = Pick<ProfilePayload, 'handle' | 'server' | 'display_name' | 'picture' | 'visual_keys' | 'updated_at'>;

/**
 * A display name as published (SPEC §14.4): control characters (C0, DEL, C1)
 * and bidi/invisible characters (spoof.ts) removed, trimmed (White_Space and U+FEFF: what String.trim removes), at
 * most 64 code points; '' → null.
 */
export function cleanDisplayName(name: string | null | undefined): string | null {
  const t = stripSpoofChars((name ?? '').replace(/\p{Cc}/gu, '')).trim();
  return t ? [...t].slice(0, MAX_DISPLAY_NAME).join('').trim() : null;
}

/** Whether a picture's bytes start with the signature of its media type (SPEC §14.4). */
function pictureBytesOk(picture: string): boolean {
  const parts = parsePicture(picture);
  if (!parts) return false;
  const b64 = parts.dataUrl.slice(parts.dataUrl.indexOf(',') + 1);
  if (b64.length > MAX_PICTURE_B64) return false;
  let head: string;
  let canonical: boolean;
  try {
    const bin = atob(b64);
    head = bin.slice(0, 8);
    canonical = btoa(bin) === b64;
  } catch {
    return false;
  }
  const sig = parts.mime === 'image/png' ? '\x89PNG\r\n\x1a\n' : '\xff\xd8\xff';
  return canonical && head.startsWith(sig);
}

/** Build and sign a profile document with `seed`'s identity. */
export function buildProfile(seed: Uint8Array, fields: ProfileFields): ProfileDocument {
  const primary = primaryFromSeed(seed);
  const payload: ProfilePayload = {
    type: 'kez.chat.profile',
    version: 1,
    handle: fields.handle,
    server: fields.server,
    primary,
    display_name: fields.display_name,
    picture: fields.picture,
    visual_keys: fields.visual_keys,
    updated_at: fields.updated_at,
  };
  return { kez: 'profile', payload, signature: { alg: 'ed25519-sha512-jcs', key: primary, sig: signJcs(seed, payload) } };
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const exactKeys = (o: Record<string, unknown>, keys: string[]) =>
  Object.keys(o).length === keys.length && keys.every((k) => Object.hasOwn(o, k));

const PAYLOAD_KEYS = ['type', 'version', 'handle', 'server', 'primary', 'display_name', 'picture', 'visual_keys', 'updated_at'];

/** A well-formed wrap (SPEC §14.3): 64 hex epk, 24 hex nonce, 64 chars of b64url ct (48 bytes). */
function isWrap(w: KeyWrap): boolean {
  return /^[0-9a-f]{64}$/.test(w.epk) && /^[0-9a-f]{24}$/.test(w.nonce) && /^[A-Za-z0-9_-]{64}$/.test(w.ct);
}

/** The JSON types of SPEC §14.5 step 0 (`invalid_body`): exact field sets, strings where strings go. */
function shapeOk(doc: unknown): doc is ProfileDocument {
  if (!isObj(doc) || !exactKeys(doc, ['kez', 'payload', 'signature'])) return false;
  const { payload: p, signature: sig } = doc;
  if (!isObj(p) || !exactKeys(p, PAYLOAD_KEYS) || !isObj(sig) || !exactKeys(sig, ['alg', 'key', 'sig'])) return false;
  const str = (v: unknown) => typeof v === 'string';
  const strOrNull = (v: unknown) => v === null || typeof v === 'string';
  const wrapShape = (w: unknown) => isObj(w) && exactKeys(w, ['ct', 'epk', 'nonce']) && str(w.ct) && str(w.epk) && str(w.nonce);
  return (
    str(doc.kez) &&
    [p.type, p.handle, p.server, p.primary, p.updated_at, sig.alg, sig.key, sig.sig].every(str) &&
    typeof p.version === 'number' &&
    strOrNull(p.display_name) &&
    strOrNull(p.picture) &&
    Array.isArray(p.visual_keys) &&
    p.visual_keys.every(wrapShape)
  );
}

/** Steps 6–10 of SPEC §14.5: handle, timestamp, display name, picture, wraps. */
function fieldProblem(p: ProfilePayload, now?: Date): string | null {
  if (!isValidHandleSyntax(p.handle)) return 'invalid_handle';
  if (!isStrictUtcSeconds(p.updated_at)) return 'invalid_timestamp';
  if (now && Math.abs(Date.parse(p.updated_at) - now.getTime()) > MAX_SKEW_MS) return 'stale_timestamp';
  const dn = p.display_name;
  if (dn !== null && (!dn || cleanDisplayName(dn) !== dn)) return 'invalid_display_name';
  if (p.picture !== null && !pictureBytesOk(p.picture)) return 'invalid_picture';
  const keys = p.visual_keys;
  if (keys.length > MAX_WRAPS || !keys.every(isWrap)) return 'invalid_visual_keys';
  // Keys if and only if the picture is scrambled.
  if (!!(p.picture && parsePicture(p.picture)?.salt) !== keys.length > 0) return 'invalid_visual_keys';
  return null;
}

/** What a reader (or the server's checks, for tests) holds a document to. */
export interface ProfileExpectations {
  /** The primary the reader already knows for the handle: anything signed by another key is worthless. */
  primary?: string;
  handle?: string;
  server?: string;
  /** Check `updated_at` within ±5 minutes of this (the server's step 7; readers pass none). */
  now?: Date;
}

/**
 * The first failing check of a parsed profile document, in SPEC §14.5 order
 * (steps 0–10, the codes of tests/vectors/media.json `profiles`), then the
 * reader's: `wrong_primary`, `wrong_handle`. null when it passes.
 */
export function profileProblem(doc: unknown, exp: ProfileExpectations = {}): string | null {
  if (!shapeOk(doc)) return 'invalid_body';
  const { payload: p, signature: sig } = doc;
  if (doc.kez !== 'profile') return 'wrong_envelope_tag';
  if (p.type !== 'kez.chat.profile') return 'wrong_payload_type';
  if (p.version !== 1) return 'unsupported_version';
  if (sig.key !== p.primary) return 'key_mismatch';
  if (sig.alg !== 'ed25519-sha512-jcs') return 'unsupported_alg';
  if (!isValidPrimary(p.primary)) return 'invalid_key';
  if (!/^[0-9a-f]{128}$/.test(sig.sig) || !verifyJcs(sig.sig, p, p.primary)) return 'invalid_signature';
  if (exp.server !== undefined && p.server !== exp.server) return 'wrong_server';
  const problem = fieldProblem(p, exp.now);
  if (problem) return problem;
  if (exp.primary !== undefined && p.primary !== exp.primary) return 'wrong_primary';
  if (exp.handle !== undefined && p.handle !== exp.handle) return 'wrong_handle';
  return null;
}

/**
 * A document a reader may trust: every §14.5 rule, signed by
 * `expectedPrimary`, and (when given) the handle and server asked for
 * (SPEC §14.4). Returns the payload; throws an Error whose message is the code.
 */
export function verifyProfile(doc: unknown, expectedPrimary: string, expected?: { handle: string; server: string }): ProfilePayload {
  const problem = profileProblem(doc, { primary: expectedPrimary, ...expected });
  if (problem) throw new Error(problem);
  return (doc as ProfileDocument).payload;
}
