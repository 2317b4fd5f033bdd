// Message operations (SPEC §8.5): the `body` string of a sealed message of
// kind `reply`, `reaction`, `edit` or `delete` is the JCS (§2) of exactly one
// of these objects. Building and parsing them; a body that is not exactly
// one of these shapes makes the message `malformed_message`. Same rules as
// kez-core `ops.rs`, proven by tests/vectors/ops.json.
import { MESSAGE_ID_RE, utf8ToBytes } from '../bytes';
import { jcs } from '../jcs';

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

/**
 * Pictographic code points of a reaction (SPEC §8.5 "emoji"): a fixed list
 * of ranges, not \p{Extended_Pictographic}, so kez-core (ops.rs) and every
 * Unicode version agree. Regional indicators and skin tones are components.
 */
const PICTOGRAPHIC: readonly (readonly [number, number])[] = [
  [0xa9, 0xa9], [0xae, 0xae], [0x203c, 0x203c], [0x2049, 0x2049], [0x2122, 0x2122], [0x2139, 0x2139],
  [0x2194, 0x21aa], [0x231a, 0x23ff], [0x24c2, 0x24c2], [0x25aa, 0x25fe], [0x2600, 0x27bf], [0x2934, 0x2935],
  [0x2b05, 0x2b55], [0x3030, 0x3030], [0x303d, 0x303d], [0x3297, 0x3297], [0x3299, 0x3299],
  [0x1f000, 0x1f1e5], [0x1f200, 0x1f3fa], [0x1f400, 0x1faff],
];
/** Beside pictographs: keycap bases #*0-9, ZWJ, combining keycap, VS16, skin tones, tag characters. */
const COMPONENT: readonly (readonly [number, number])[] = [
  [0x23, 0x23], [0x2a, 0x2a], [0x30, 0x39], [0x200d, 0x200d], [0x20e3, 0x20e3], [0xfe0f, 0xfe0f], [0x1f3fb, 0x1f3ff], [0xe0020, 0xe007f],
];
const within = (c: number, ranges: readonly (readonly [number, number])[]) => ranges.some(([a, b]) => c >= a && c <= b);

/**
 * A reaction: empty, or ≤ MAX_EMOJI_BYTES of only pictographs, regional
 * indicators and emoji components, with at least one pictograph, a
 * regional-indicator pair or a keycap. Words ("LOL", "SCAM.COM") are refused:
 * receivers show the string as it is. Same rule as kez-core `valid_emoji`.
 */
export function validEmoji(e: unknown): e is string {
  if (typeof e !== 'string' || !noSurrogate(e)) return false;
  if (e === '') return true;
  if (utf8ToBytes(e).length > MAX_EMOJI_BYTES) return false;
  let [pictograph, regional, keycap] = [false, 0, false];
  for (const ch of e) {
    const c = ch.codePointAt(0)!;
    if (within(c, PICTOGRAPHIC)) pictograph = true;
    else if (c >= 0x1f1e6 && c <= 0x1f1ff) regional += 1;
    else if (!within(c, COMPONENT)) return false;
    else if (c === 0x20e3) keycap = true;
  }
  return pictograph || regional >= 2 || keycap;
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
