// The KEZ event kinds (SPEC §12), apart from events.ts so that code choosing
// a kind doesn't load nostr-tools (which comes with the transport, kit.ts).
import type { MessageKind } from '../envelope';
import { EPHEMERAL_EVENT_KIND } from '../livebody';

/** A sealed message that may wake the recipient (the server's listener pushes for it), SPEC §12. */
export const KIND_MESSAGE = 4243;
/** A silent sealed message (`ack`, `chunk`, `need`): never pushes, like `notify: false` (SPEC §12, §13). */
export const KIND_SILENT = 4244;
/** The kind acks travel in (they are silent). */
export const KIND_ACK = KIND_SILENT;
/** Read receipts and typing (SPEC §8.6): an ephemeral kind, relays store none. */
export const KIND_EPHEMERAL = EPHEMERAL_EVENT_KIND;

/**
 * The event kind a sealed message of `kind` is published as (SPEC §12
 * "Kinds"): 4243 for what may notify (`text`, `file`, `reply`), 4244 for the silent
 * ones, so a file's chunks do not make the server's listener push once each.
 */
export function eventKindFor(kind: MessageKind): number {
  if (kind === 'read' || kind === 'typing') return KIND_EPHEMERAL;
  return kind === 'text' || kind === 'file' || kind === 'reply' ? KIND_MESSAGE : KIND_SILENT;
}
