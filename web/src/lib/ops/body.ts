// Message operations (SPEC §8.5): the `body` string of a sealed message of
// kind `reply`, `reaction`, `edit` or `delete` is the JCS (§2) of exactly one
// of these objects. Building and parsing them; a body that is not exactly
// one of these shapes makes the message `malformed_message`. Same rules as
// kez-core `ops.rs`, proven by tests/vectors/ops.json.
import { MESSAGE_ID_RE, utf8ToBytes } from '../bytes';
import { jcs } from '../jcs';
import { hasSpoofChar } from '../spoof';

export const REPLY_TYPE = 'kez-reply-v1';
export const REACTION_TYPE = 'kez-reaction-v1';
export const EDIT_TYPE = 'kez-edit-v1';
export const DELETE_TYPE = 'kez-delete-v1';
/** Longest reply or edit text, in UTF-8 bytes. */
export const MAX_OP_TEXT_BYTES = 65_536;
/** Longest reaction emoji, in UTF-8 bytes (one emoji, ZWJ sequences included). */
export const MAX_EMOJI_BYTES = 32;

export type OpKind = 'reply' | 'reaction' | 'edit' | 'delete';
export const OP_KINDS: readonly OpKind[] = ['reply', 'reaction', 'edit', 'delete'];

export type Op =
  | { kind: 'reply'; reply_to: string; text: string }
  | { kind: 'reaction'; target: string; emoji: string }
  | { kind: 'edit'; target: string; text: string }
  | { kind: 'delete'; target: string };

/** Whether `kind` is one of the SPEC §8.5 kinds. */
export function isOpKind(kind: string): kind is OpKind {
  return (OP_KINDS as readonly string[]).includes(kind);
}

/** Silent kinds (SPEC §8.5): notify false, nostr kind 4244, never acknowledged. `reply` travels like `text`. */
export function isSilentOp(kind: string): boolean {
  return kind === 'reaction' || kind === 'edit' || kind === 'delete';
}

const noSurrogate = (s: string) => !/\p{Surrogate}/u.test(s);

/** A reply or edit text: 1 to MAX_OP_TEXT_BYTES UTF-8 bytes, no lone surrogate. */
export function validOpText(t: unknown): t is string {
  return typeof t === 'string' && t.length > 0 && noSurrogate(t) && utf8ToBytes(t).length <= MAX_OP_TEXT_BYTES;
}

/** A reaction: empty, or ≤ MAX_EMOJI_BYTES without control, white space or bidi/invisible characters. */
export function validEmoji(e: unknown): e is string {
  if (typeof e !== 'string' || !noSurrogate(e)) return false;
  return utf8ToBytes(e).length <= MAX_EMOJI_BYTES && !/[\p{Cc}\s]/u.test(e) && !hasSpoofChar(e);
}

const isId = (v: unknown): v is string => typeof v === 'string' && MESSAGE_ID_RE.test(v);

/** The exact JCS-sorted field list of each kind's body. */
const FIELDS: Record<OpKind, string> = {
  reply: 'reply_to,text,type',
  reaction: 'emoji,target,type',
  edit: 'target,text,type',
  delete: 'target,type',
};
const TYPES: Record<OpKind, string> = { reply: REPLY_TYPE, reaction: REACTION_TYPE, edit: EDIT_TYPE, delete: DELETE_TYPE };

/** The SPEC §8.5 checks of an op body of `kind`; null means `malformed_message`. */
export function parseOpBody(kind: string, body: string): Op | null {
  if (!isOpKind(kind)) return null;
  let v: unknown;
  try {
    v = JSON.parse(body);
    if (jcs(v) !== body) return null;
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).sort().join(',') !== FIELDS[kind] || o.type !== TYPES[kind]) return null;
  switch (kind) {
    case 'reply':
      return isId(o.reply_to) && validOpText(o.text) ? { kind, reply_to: o.reply_to, text: o.text } : null;
    case 'reaction':
      return isId(o.target) && validEmoji(o.emoji) ? { kind, target: o.target, emoji: o.emoji } : null;
    case 'edit':
      return isId(o.target) && validOpText(o.text) ? { kind, target: o.target, text: o.text } : null;
    case 'delete':
      return isId(o.target) ? { kind, target: o.target } : null;
  }
}

/** The JCS body of `op` (what a sealed message of `op.kind` carries). */
export function opBody(op: Op): string {
  const { kind, ...fields } = op;
  return jcs({ type: TYPES[kind], ...fields });
}

/** The message `op` acts on (a reply's quoted one). */
export function opTarget(op: Op): string {
  return op.kind === 'reply' ? op.reply_to : op.target;
}
