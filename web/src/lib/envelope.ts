// Envelope v2 (SPEC §8): a signed, JCS-encoded sealed message encrypted to the
// recipient's Ed25519 key converted to X25519, with an ephemeral sender key.
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { gcm } from '@noble/ciphers/aes.js';
import {
  bytesToHex,
  concatBytes,
  fromB64url,
  fromHex,
  MESSAGE_ID_RE,
  randomBytes,
  toB64url,
  utf8Decode,
  utf8ToBytes,
} from './bytes';
import { isValidPrimary, parsePrimary, primaryFromSeed, signJcs, signString, verifyJcs, verifyString } from './identity';
import { jcs } from './jcs';
import { parseRfc3339 } from './time';
import { isValidBody } from './attachments/body';
import { parseSentBody } from './history/selfcopy';
import { parseOpBody } from './ops/body';
import { parseTyping } from './livebody';
import { parseSyncBody } from './syncbody';

export const ENVELOPE_INFO = 'kez.chat.envelope.v2';
export const ACK_CONTEXT = 'kez.chat.ack.v1';
export const MAX_AGE_MS = 7 * 24 * 3600 * 1000;
export const MAX_SKEW_MS = 5 * 60 * 1000;

/**
 * `file`, `chunk` and `need` carry attachments (SPEC §13): their body is the
 * JCS of a fixed shape. `sent` is a self-copy of a message the identity sent
 * (SPEC §8.3, history/selfcopy.ts). `reply`, `reaction`, `edit` and `delete`
 * act on earlier messages (SPEC §8.5, ops/body.ts); `read` and `typing` are
 * ephemeral signals (SPEC §8.6, presence.ts), never stored; `sync` is the
 * identity's block and mute snapshot to itself (SPEC §8.7, syncbody.ts).
 */
export type MessageKind = 'text' | 'ack' | 'file' | 'chunk' | 'need' | 'sent' | 'reply' | 'reaction' | 'edit' | 'delete' | 'read' | 'typing' | 'sync';
const KINDS: readonly string[] = ['text', 'ack', 'file', 'chunk', 'need', 'sent', 'reply', 'reaction', 'edit', 'delete', 'read', 'typing', 'sync'];

export interface SealedMessage {
  type: 'kez.chat.message';
  version: 2;
  kind: MessageKind;
  id: string;
  from: string;
  from_handle: string;
  to: string;
  sent_at: string;
  body: string;
  ack_sig?: string;
  sig: string;
}

export interface EnvelopeV2 {
  v: 2;
  epk: string;
  nonce: string;
  ct: string;
}

/** Reasons `openEnvelope` rejects; the same strings appear in tests/vectors/envelope-v2.json. */
export type OpenError =
  | 'not_v2'
  | 'malformed_envelope'
  | 'decrypt_failed'
  | 'malformed_message'
  | 'wrong_recipient'
  | 'bad_signature'
  | 'bad_ack_signature'
  | 'stale_sent_at'
  | 'future_sent_at'
  | 'replay';

export class EnvelopeError extends Error {
  constructor(public readonly code: OpenError) {
    super(code);
    this.name = 'EnvelopeError';
  }
}

/** Most message ids one ack may confirm (SPEC §8). */
export const MAX_ACK_IDS = 100;

/** The string `ack_sig` covers: the context, a newline, then the ack's body. */
export function ackSignedString(body: string): string {
  return `${ACK_CONTEXT}\n${body}`;
}

/** An ack's body for these ids: comma-separated, in the given order. */
export function ackBody(ids: readonly string[]): string {
  return ids.join(',');
}

/**
 * The ids an ack body confirms, or null unless it holds 1 to MAX_ACK_IDS
 * distinct message ids separated by single commas.
 */
export function ackIds(body: string): string[] | null {
  const ids = body.split(',');
  if (ids.length > MAX_ACK_IDS || !ids.every((x) => MESSAGE_ID_RE.test(x))) return null;
  return new Set(ids).size === ids.length ? ids : null;
}

export function envelopeAad(epkHex: string, recipientPrimary: string): Uint8Array {
  return utf8ToBytes(`${ENVELOPE_INFO}\n${epkHex}\n${recipientPrimary}`);
}

export function deriveKey(shared: Uint8Array, epk: Uint8Array, rxPub: Uint8Array): Uint8Array {
  if (shared.every((b) => b === 0)) throw new Error('all-zero shared secret');
  return hkdf(sha256, shared, concatBytes(epk, rxPub), utf8ToBytes(ENVELOPE_INFO), 32);
}

/** The recipient's X25519 public key from its primary (RFC 7748 §4.1 map). */
export function x25519PublicFromPrimary(primary: string): Uint8Array {
  return ed25519.utils.toMontgomery(parsePrimary(primary));
}

/** The X25519 secret for a seed: clamped SHA-512(seed)[0..32]. */
export function x25519SecretFromSeed(seed: Uint8Array): Uint8Array {
  return ed25519.utils.toMontgomerySecret(seed);
}

export interface MessageFields {
  kind: MessageKind;
  id: string;
  from_handle: string;
  to: string;
  sent_at: string;
  body: string;
}

/** Build and sign a sealed message. For `ack`, `body` is `ackBody(ids)` and `ack_sig` is added. */
export function signMessage(seed: Uint8Array, fields: MessageFields): SealedMessage {
  const unsigned: Omit<SealedMessage, 'sig'> = {
    type: 'kez.chat.message',
    version: 2,
    kind: fields.kind,
    id: fields.id,
    from: primaryFromSeed(seed),
    from_handle: fields.from_handle,
    to: fields.to,
    sent_at: fields.sent_at,
    body: fields.body,
  };
  if (fields.kind === 'ack') unsigned.ack_sig = signString(seed, ackSignedString(fields.body));
  return { ...unsigned, sig: signJcs(seed, unsigned) } as SealedMessage;
}

export interface SealOptions {
  /** Test hook: a fixed 32-byte ephemeral X25519 secret. */
  ephemeralSecret?: Uint8Array;
  /** Test hook: a fixed 12-byte nonce. */
  nonce?: Uint8Array;
}

/** Encrypt `message` (any JSON object; normally a SealedMessage) to `recipientPrimary`. */
export function sealEnvelope(message: object, recipientPrimary: string, opts: SealOptions = {}): EnvelopeV2 {
  return sealPlaintext(utf8ToBytes(jcs(message)), recipientPrimary, opts);
}

/** Encrypt exact plaintext bytes (honest senders seal the JCS of a message; tests seal anything). */
export function sealPlaintext(plaintext: Uint8Array, recipientPrimary: string, opts: SealOptions = {}): EnvelopeV2 {
  const rxPub = x25519PublicFromPrimary(recipientPrimary);
  const e = opts.ephemeralSecret ?? randomBytes(32);
  const nonce = opts.nonce ?? randomBytes(12);
  if (e.length !== 32 || nonce.length !== 12) throw new Error('bad ephemeral secret or nonce length');
  const epk = x25519.getPublicKey(e);
  const shared = x25519.getSharedSecret(e, rxPub);
  const key = deriveKey(shared, epk, rxPub);
  const epkHex = bytesToHex(epk);
  const ct = gcm(key, nonce, envelopeAad(epkHex, recipientPrimary)).encrypt(plaintext);
  return { v: 2, epk: epkHex, nonce: bytesToHex(nonce), ct: toB64url(ct) };
}

/** Sign and seal in one go (what the chat UI uses). */
export function seal(
  senderSeed: Uint8Array,
  fields: MessageFields,
  opts: SealOptions = {},
): { message: SealedMessage; envelope: EnvelopeV2 } {
  const message = signMessage(senderSeed, fields);
  return { message, envelope: sealEnvelope(message, fields.to, opts) };
}

export interface OpenOptions {
  /** Verification time (defaults to now). */
  now?: Date;
  /** Replay guard: return true if `id` was already accepted. */
  seen?: (id: string) => boolean;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `YYYY-MM-DDTHH:MM:SSZ` naming a real instant (no 24:00, :60 or Feb 30). */
export function isStrictUtcSeconds(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(s)) return false;
  const t = Date.parse(s);
  return !Number.isNaN(t) && new Date(t).toISOString() === `${s.slice(0, 19)}.000Z`;
}

const TEXT_FIELDS = ['type', 'version', 'kind', 'id', 'from', 'from_handle', 'to', 'sent_at', 'body', 'sig'];

/**
 * Exactly the SPEC §8 shape: no other fields, `ack_sig` only (and always) on
 * acks. A `sent` body is checked apart (parseSentBody), with this for the
 * original it carries.
 */
export function checkMessageShape(m: unknown): m is SealedMessage {
  if (!isPlainObject(m)) return false;
  const s = (k: string) => typeof m[k] === 'string';
  if (m.type !== 'kez.chat.message' || m.version !== 2) return false;
  if (typeof m.kind !== 'string' || !KINDS.includes(m.kind)) return false;
  const fields = m.kind === 'ack' ? [...TEXT_FIELDS, 'ack_sig'] : TEXT_FIELDS;
  if (Object.keys(m).length !== fields.length || !fields.every((k) => Object.hasOwn(m, k))) return false;
  if (!fields.slice(3).every(s)) return false;
  // Lone UTF-16 surrogates (`"\ud800"`) are not text; Rust's parser refuses them.
  if (fields.slice(3).some((k) => /\p{Surrogate}/u.test(m[k] as string))) return false;
  if (!isStrictUtcSeconds(m.sent_at as string)) return false;
  if (!MESSAGE_ID_RE.test(m.id as string)) return false;
  if (!isValidPrimary(m.from as string)) return false;
  if ((m.kind === 'ack' || m.kind === 'read') && ackIds(m.body as string) === null) return false;
  if (m.kind === 'typing' && parseTyping(m.body as string) === null) return false;
  // SPEC §8.7: a snapshot the identity sends itself.
  if (m.kind === 'sync' && (m.from !== m.to || parseSyncBody(m.body as string) === null)) return false;
  if ((m.kind === 'file' || m.kind === 'chunk' || m.kind === 'need') && !isValidBody(m.kind, m.body as string)) return false;
  if ((m.kind === 'reply' || m.kind === 'reaction' || m.kind === 'edit' || m.kind === 'delete') && !parseOpBody(m.kind, m.body as string)) return false;
  return true;
}

/** Whether `m.sig` verifies strictly against `from` over the JCS of `m` without `sig` (SPEC §8). */
function signedBy(m: SealedMessage, from: string = m.from): boolean {
  const { sig, ...unsigned } = m;
  try {
    return verifyJcs(sig, unsigned, from);
  } catch {
    return false;
  }
}

/**
 * Decrypt and verify an envelope addressed to `seed`'s identity. Throws
 * EnvelopeError with the first failing check, in SPEC §8 order.
 * The caller records the id as seen after accepting the message.
 */
export function openEnvelope(seed: Uint8Array, envelope: unknown, opts: OpenOptions = {}): SealedMessage {
  if (!isPlainObject(envelope) || envelope.v !== 2) throw new EnvelopeError('not_v2');
  const { epk, nonce, ct } = envelope;
  let epkB: Uint8Array, nonceB: Uint8Array, ctB: Uint8Array;
  try {
    epkB = fromHex(epk as string, 32);
    nonceB = fromHex(nonce as string, 12);
    ctB = fromB64url(ct as string);
  } catch {
    throw new EnvelopeError('malformed_envelope');
  }
  if (ctB.length < 16) throw new EnvelopeError('malformed_envelope');

  const myPrimary = primaryFromSeed(seed);
  let plaintext: Uint8Array;
  try {
    const rxPub = x25519PublicFromPrimary(myPrimary);
    const shared = x25519.getSharedSecret(x25519SecretFromSeed(seed), epkB);
    const key = deriveKey(shared, epkB, rxPub);
    plaintext = gcm(key, nonceB, envelopeAad(epk as string, myPrimary)).decrypt(ctB);
  } catch {
    throw new EnvelopeError('decrypt_failed');
  }

  // The plaintext must be exactly the JCS of the message it holds, so no two
  // JSON parsers can read it differently (duplicate keys, 2.0, escapes,
  // whitespace): the Rust opener applies the same rule.
  let msg: unknown;
  try {
    const text = utf8Decode(plaintext);
    msg = JSON.parse(text);
    if (jcs(msg) !== text) throw new Error('not JCS');
  } catch {
    throw new EnvelopeError('malformed_message');
  }
  if (!checkMessageShape(msg)) throw new EnvelopeError('malformed_message');
  const copy = msg.kind === 'sent' ? parseSentBody(msg, checkMessageShape) : null;
  if (msg.kind === 'sent' && !copy) throw new EnvelopeError('malformed_message');
  if (msg.to !== myPrimary) throw new EnvelopeError('wrong_recipient');

  if (!signedBy(msg)) throw new EnvelopeError('bad_signature');
  // A self-copy's original must be the opener's own signed message (SPEC §8.3).
  if (copy && !signedBy(copy.message, msg.from)) throw new EnvelopeError('bad_signature');
  if (msg.kind === 'ack' && !verifyString(msg.ack_sig!, ackSignedString(msg.body), msg.from)) {
    throw new EnvelopeError('bad_ack_signature');
  }

  const sentAt = parseRfc3339(msg.sent_at);
  const now = (opts.now ?? new Date()).getTime();
  if (Number.isNaN(sentAt)) throw new EnvelopeError('malformed_message');
  if (now - sentAt > MAX_AGE_MS) throw new EnvelopeError('stale_sent_at');
  if (sentAt - now > MAX_SKEW_MS) throw new EnvelopeError('future_sent_at');

  if (opts.seen?.(msg.id)) throw new EnvelopeError('replay');
  return msg;
}
