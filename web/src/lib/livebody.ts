// Bodies of the ephemeral sealed kinds (SPEC §8.6): `typing` carries the
// exact JCS of {"state","type"}, `read` the ids like an ack body.

/** The `type` of a typing body. */
export const TYPING_TYPE = 'kez-typing-v1';
/** nostr kind of ephemeral sealed messages (NIP-01 20000-29999: relays keep none). */
export const EPHEMERAL_EVENT_KIND = 24244;

/** What a typing message says. */
export type TypingState = 'active' | 'paused';

/** The exact body of a typing message (keys sorted as JCS sorts them). */
export function typingBody(state: TypingState): string {
  return `{"state":"${state}","type":"${TYPING_TYPE}"}`;
}

/** The state a typing body names, or null when it is not byte for byte one of the two bodies. */
export function parseTyping(body: string): TypingState | null {
  if (body === typingBody('active')) return 'active';
  if (body === typingBody('paused')) return 'paused';
  return null;
}
