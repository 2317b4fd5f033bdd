// Self-copies (SPEC §8.3): a message the identity sent, sealed again to its
// own primary as `kind: "sent"`, so every device of the identity (and one
// restored from the phrase) sees both sides of a conversation. This module
// builds and reads the copy's body; envelope.ts checks it on open.
import { jcs } from '../jcs';
import type { SealedMessage } from '../envelope';

/** The `type` tag of a self-copy's body. */
export const SENT_TYPE = 'kez-sent-v1';
/** Longest `to_handle`, in UTF-8 bytes. */
export const MAX_TO_HANDLE_BYTES = 320;
/** Kinds a self-copy may carry: the visible ones and the message operations (SPEC §8.5); never acks, chunks, needs or copies. */
export const COPIED_KINDS: readonly string[] = ['text', 'file', 'reply', 'reaction', 'edit', 'delete'];

/** A self-copy's body, read. */
export interface SentBody {
  type: typeof SENT_TYPE;
  /** The peer's primary. */
  to: string;
  /** The peer's `handle@server` as the sender knew it (a hint: confirm with the directory), or null. */
  to_handle: string | null;
  /** The original sealed message, `sig` included. */
  message: SealedMessage;
}

/** The body of a self-copy of `message` (signed, as sealed to its `to`). */
export function sentBody(message: SealedMessage, toHandle: string | null): string {
  return jcs({ type: SENT_TYPE, to: message.to, to_handle: toHandle, message });
}

/** Whether a message of `kind` to `to` gets a self-copy: visible kinds, never a note to self. */
export function wantsCopy(kind: string, to: string, ownPrimary: string): boolean {
  return COPIED_KINDS.includes(kind) && to !== ownPrimary;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function handleOk(h: unknown): boolean {
  if (h === null) return true;
  return typeof h === 'string' && h.length > 0 && new TextEncoder().encode(h).length <= MAX_TO_HANDLE_BYTES && !/\p{Cc}/u.test(h);
}

/**
 * The SPEC §8.3 shape checks of a `sent` message (`outer`, already of the
 * §8 shape): null means `malformed_message`. `shapeOk` is the §8 shape check
 * applied to the original; its signature is left to the caller.
 */
export function parseSentBody(outer: SealedMessage, shapeOk: (m: unknown) => m is SealedMessage): SentBody | null {
  if (outer.kind !== 'sent' || outer.from !== outer.to) return null;
  let v: unknown;
  try {
    v = JSON.parse(outer.body);
    if (jcs(v) !== outer.body) return null;
  } catch {
    return null;
  }
  if (!isObject(v)) return null;
  const keys = Object.keys(v).sort().join(',');
  if (keys !== 'message,to,to_handle,type' || v.type !== SENT_TYPE) return null;
  if (typeof v.to !== 'string' || v.to === outer.from || !handleOk(v.to_handle)) return null;
  const m = v.message;
  if (!shapeOk(m) || !COPIED_KINDS.includes(m.kind)) return null;
  if (m.from !== outer.from || m.to !== v.to || m.id !== outer.id || m.sent_at !== outer.sent_at) return null;
  return v as unknown as SentBody;
}
