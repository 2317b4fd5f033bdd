// The signed profile document (SPEC §14): display name, picture and key
// wraps, signed like a registration (§2 `ed25519-sha512-jcs`, §4 envelope)
// so a reader can trust a copy from any server or relay once it verifies
// against the primary it already knows.
import { isValidHandleSyntax } from '../registration';
import { isValidPrimary, primaryFromSeed, signJcs, verifyJcs } from '../identity';
import { isStrictUtcSeconds } from '../envelope';
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
 * removed, trimmed (White_Space and U+FEFF: what String.trim removes), at
 * most 64 code points; '' → null.
 */
export function cleanDisplayName(name: string | null | undefined): string | null {
  const t = (name ?? '').replace(/\p{Cc}/gu, '').trim();
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

function isWrap(w: unknown): w is KeyWrap {
  return (
    isObj(w) &&
    exactKeys(w, ['epk', 'nonce', 'ct']) &&
    typeof w.epk === 'string' &&
    /^[0-9a-f]{64}$/.test(w.epk) &&
    typeof w.nonce === 'string' &&
    /^[0-9a-f]{24}$/.test(w.nonce) &&
    typeof w.ct === 'string' &&
    /^[A-Za-z0-9_-]{64}$/.test(w.ct)
  );
}

function payloadProblem(p: Record<string, unknown>): string | null {
  if (!exactKeys(p, PAYLOAD_KEYS)) return 'invalid_body';
  if (p.type !== 'kez.chat.profile') return 'wrong_payload_type';
  if (p.version !== 1) return 'unsupported_version';
  if (typeof p.handle !== 'string' || !isValidHandleSyntax(p.handle)) return 'invalid_handle';
  if (typeof p.server !== 'string' || !p.server) return 'invalid_body';
  if (typeof p.updated_at !== 'string' || !isStrictUtcSeconds(p.updated_at)) return 'invalid_timestamp';
  const dn = p.display_name;
  if (dn !== null && (typeof dn !== 'string' || !dn || cleanDisplayName(dn) !== dn)) return 'invalid_display_name';
  const pic = p.picture;
  if (pic !== null && (typeof pic !== 'string' || !pictureBytesOk(pic))) return 'invalid_picture';
  const keys = p.visual_keys;
  if (!Array.isArray(keys) || keys.length > MAX_WRAPS || !keys.every(isWrap)) return 'invalid_visual_keys';
  // Keys if and only if the picture is scrambled.
  if ((typeof pic === 'string' && parsePicture(pic)?.salt ? 1 : 0) !== (keys.length ? 1 : 0)) return 'invalid_visual_keys';
  return null;
}

/**
 * Check a parsed profile document: exact shape, the §14.5 tags and rules,
 * and a strict signature by `expectedPrimary` (the key the reader already
 * knows; a document signed by anyone else is worthless), and, when given,
 * the handle and server asked for (SPEC §14.4 reader checks). Returns the
 * payload, or throws an Error whose message is the code.
 */
export function verifyProfile(doc: unknown, expectedPrimary: string, expected?: { handle: string; server: string }): ProfilePayload {
  if (!isObj(doc) || !exactKeys(doc, ['kez', 'payload', 'signature'])) throw new Error('invalid_body');
  const { payload, signature } = doc;
  if (doc.kez !== 'profile') throw new Error('wrong_envelope_tag');
  if (!isObj(payload) || !isObj(signature) || !exactKeys(signature, ['alg', 'key', 'sig'])) throw new Error('invalid_body');
  const problem = payloadProblem(payload);
  if (problem) throw new Error(problem);
  if (signature.key !== payload.primary) throw new Error('key_mismatch');
  if (signature.alg !== 'ed25519-sha512-jcs') throw new Error('unsupported_alg');
  if (typeof payload.primary !== 'string' || !isValidPrimary(payload.primary)) throw new Error('invalid_key');
  if (payload.primary !== expectedPrimary) throw new Error('wrong_primary');
  if (typeof signature.sig !== 'string' || !verifyJcs(signature.sig, payload, payload.primary)) throw new Error('invalid_signature');
  if (expected && (payload.handle !== expected.handle || payload.server !== expected.server)) throw new Error('wrong_handle');
  return payload as unknown as ProfilePayload;
}
