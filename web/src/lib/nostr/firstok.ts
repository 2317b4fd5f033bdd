// The race of one event's publishes across relays (SPEC §12): which relay
// the message was "sent via".

/** Thrown by publish() when no relay accepted the event. */
export class PublishError extends Error {
  constructor(public readonly reasons: string[]) {
    super('No relay accepted the message.');
    this.name = 'PublishError';
  }
}

/** How long (ms) the peer's relay is waited for before another relay's OK wins (SPEC §12). */
export const PREFERRED_WAIT_MS = 1_500;

/**
 * The relay of the first attempt to succeed; with `awaitFirst` (the peer's
 * relay is relays[0]) that one's answer is awaited first and wins if it is OK,
 * but for `preferredWaitMs` at most: a relay that swallows events (no answer
 * until nostr-tools' 4.4 s publish timeout) must not hold up "sent" (review
 * r11 #18).
 */
export function firstOk(
  relays: string[],
  attempts: Promise<void>[],
  awaitFirst: boolean,
  onOk: (relay: string) => void,
  preferredWaitMs = PREFERRED_WAIT_MS,
): Promise<{ relay: string }> {
  return new Promise((resolve, reject) => {
    const outcome: (boolean | undefined)[] = attempts.map(() => undefined);
    const reasons: string[] = new Array(attempts.length);
    let done = false;
    const timer = awaitFirst
      ? setTimeout(() => {
          awaitFirst = false;
          settle();
        }, preferredWaitMs)
      : undefined;
    const settle = () => {
      if (done) return;
      for (let i = 0; i < outcome.length; i++) {
        // Earlier ones (the preferred relay) are awaited first.
        if (awaitFirst && i === 0 && outcome[0] === undefined) return;
        if (outcome[i]) {
          done = true;
          clearTimeout(timer);
          resolve({ relay: relays[i] });
          return;
        }
      }
      if (outcome.every((o) => o === false)) {
        done = true;
        clearTimeout(timer);
        reject(new PublishError(reasons));
      }
    };
    attempts.forEach((p, i) =>
      p.then(
        () => {
          onOk(relays[i]);
          outcome[i] = true;
          settle();
        },
        (e: unknown) => {
          reasons[i] = `${relays[i]}: ${e instanceof Error ? e.message : String(e)}`;
          outcome[i] = false;
          settle();
        },
      ),
    );
  });
}
